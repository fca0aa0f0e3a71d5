/* Agent internals shared between restore and verify: reading one volume of a native backup. */
#ifndef HFSYNC_AGENT_INTERN_H
#define HFSYNC_AGENT_INTERN_H

#include "hfsync/agent.h"

typedef struct VolumeJob {
    const Config *cfg;
    Storage *st;
    Manifest *manifest;      /* the manifest being restored or verified */
    const BackupMeta *meta;  /* the backup that owns the volume */
    bool own;                /* meta is the manifest's own backup: every member must be listed */
    char *const *dest_roots; /* per manifest source: staging path to extract into; NULL: verify */
    Progress *progress;
    uint64_t files, bytes;
    bool setid_warned;
} VolumeJob;

/*
 * Read volume `number` (1-based) of job->meta: verify its size and sha256, check every member
 * against the safety rules and the manifest, and for each file entry that refs this backup and
 * volume, check its size and content hash and (when extracting) write it under its destination
 * root. Members not needed are skipped, unless job->own, where an unlisted member is refused.
 */
bool volume_process(VolumeJob *job, uint32_t number, Error *err);

#endif
