/*
 * Shared by checkpoint.c (finding, parsing, writing the checkpoint) and checkpoint_members.c
 * (the per-volume members objects, and adopting volumes from them).
 */
#ifndef HFSYNC_AGENT_CHECKPOINT_INTERN_H
#define HFSYNC_AGENT_CHECKPOINT_INTERN_H

#include <cjson/cJSON.h>

#include "checkpoint.h"

#define CHECKPOINT_VERSION 2

typedef struct CkptVolume {
    VolumeInfo info;
    char *members;         /* its members object's name (beside the volume) */
    uint64_t members_size; /* stored size */
    char members_sha256[HASH_HEX_SIZE];
    const cJSON *json; /* in Checkpoint.doc */
} CkptVolume;

struct Checkpoint {
    char *path;
    char *dir; /* of path: "" or ending in '/' */
    char *name;
    int64_t started;
    bool full;
    bool encrypted;
    CryptoParams cipher;
    CkptVolume *volumes;
    size_t volume_count;
    cJSON *doc;
};

/* "<backup>.vol-NNNN.members.zst[.enc]" for volume object "<backup>.vol-NNNN.tar.zst[.enc]";
 * NULL when `volume` is not such a name. Caller frees. */
char *ckpt_members_name(const char *volume);

/* Write `members` (entries of `cur`, in manifest order) as the members object `object` of
 * backup `backup`: the manifest's JSON Lines, zstd, encrypted under `key` when given. Its stored
 * size and sha256 go to *size / sha256. */
bool ckpt_members_write(const Config *cfg, Storage *st, const CryptoKey *key, const Manifest *cur,
                        const char *backup, EntrySpool *members, const char *object,
                        char sha256[HASH_HEX_SIZE], uint64_t *size, Error *err);

#endif
