/*
 * Checkpoints of a backup in progress (docs/FORMAT.md §10): `<prefix>/<name>.checkpoint.json` on
 * the target records the backup's plan (its name, the backup it continues, when it started, its
 * key parameters) and every volume finished so far with the entries it holds. A backup killed
 * half-way leaves it behind; the next backup that makes the same plan (same parent, same kind)
 * resumes it: it keeps the name and adopts the leading volumes whose entries are all still to be
 * stored, unchanged, and writes only the rest. Resuming is an optimisation: a checkpoint that
 * cannot be read or does not fit is ignored (and removed by prune once stale).
 *
 * On file and S3 targets the checkpoint is rewritten after every volume. On the Hub each write
 * is a commit (with the volumes finished so far), so it is written at most once per
 * HFSYNC_CHECKPOINT_INTERVAL, and only while the backup runs.
 *
 * A volume's members (the entries it holds, with their content hashes) are not in the checkpoint
 * itself but in a members object beside the volume, in the manifest's format and encrypted like
 * it: the checkpoint stays small whatever the number of entries, names stay private, and each
 * object is written once.
 */
#ifndef HFSYNC_AGENT_CHECKPOINT_H
#define HFSYNC_AGENT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/config.h"
#include "hfsync/crypto.h"
#include "hfsync/manifest.h"
#include "hfsync/spool.h"
#include "hfsync/meta.h"
#include "hfsync/storage.h"

#define CHECKPOINT_SUFFIX ".checkpoint.json"

/* Entries stored by an adopted volume of a resumed backup (not written again). */
#define ENTRY_ADOPTED 16

typedef struct Checkpoint Checkpoint;

/* Which kind of backup checkpoint_find looks for. */
typedef enum CheckpointKind {
    CHECKPOINT_ANY,
    CHECKPOINT_FULL,
    CHECKPOINT_INCREMENTAL
} CheckpointKind;

/* The newest checkpoint on the target that this backup can resume: planned as a full or not
 * as `kind` says while the pointer named `latest` (a .meta.json path, NULL: no pointer) as it
 * still does — so it was never published, whether or not its .meta.json was written — started
 * less than HFSYNC_STALE_AFTER before `now`, with a key when `encrypted`. NULL when there is
 * none; reading errors are logged, never fatal. */
Checkpoint *checkpoint_find(const Config *cfg, Storage *st, const char *latest, CheckpointKind kind,
                            bool encrypted, int64_t now);
void checkpoint_free(Checkpoint *c);

const char *checkpoint_name(const Checkpoint *c);
bool checkpoint_full(const Checkpoint *c);
int64_t checkpoint_started(const Checkpoint *c);
/* The key parameters of an encrypted checkpoint, NULL when it is not encrypted. */
const CryptoParams *checkpoint_cipher(const Checkpoint *c);

/* Adopt the checkpoint's leading volumes (each present on `st` with its recorded size) whose every
 * member is, in `spool` (this backup's entries, `cur` their string tables), an entry this backup
 * stores (`full`, or marked ENTRY_CHANGED) unchanged: those entries get ref `self`, their hash
 * and volume and ENTRY_ADOPTED, and the volumes are appended to *vinfo / *vcount (names owned by
 * the caller). The members come from each volume's members object, read with `key` when the
 * backup is encrypted. Adds the files and bytes adopted to *files / *bytes and the number of
 * volumes to *adopted. An unreadable or different members object ends the adoption (logged);
 * false only when the spool fails. */
bool checkpoint_adopt(const Checkpoint *c, Storage *st, const CryptoKey *key, const Manifest *cur,
                      EntrySpool *spool, uint16_t self, bool full, VolumeInfo **vinfo,
                      size_t *vcount, uint64_t *files, uint64_t *bytes, size_t *adopted,
                      Error *err);

/* Writing the checkpoint of a running backup. */
typedef struct CheckpointWriter CheckpointWriter;

/* `resumed` (may be NULL): the checkpoint this backup resumes; its adopted volumes are copied
 * from it. `key` (NULL when not encrypted) encrypts the members objects. `interval_sec`: the
 * least time between two writes (0: after every volume). */
CheckpointWriter *checkpoint_writer_new(const Config *cfg, const char *name, const char *latest,
                                        bool full, int64_t started, const CryptoParams *cipher,
                                        const CryptoKey *key, const Checkpoint *resumed,
                                        size_t adopted, int64_t interval_sec);
void checkpoint_writer_free(CheckpointWriter *w);
/* Entry `e` (of `cur`) was stored in the open volume. Kept in a spool until the volume is
 * written into the checkpoint (memory stays bounded). */
bool checkpoint_member(CheckpointWriter *w, const ManifestEntry *e, Error *err);
/* The open volume was finished as `v`; its members wait for the next write. */
void checkpoint_volume_done(CheckpointWriter *w, const VolumeInfo *v);
/* Whether a write is due (the interval passed since the last one; always with interval 0). */
bool checkpoint_due(const CheckpointWriter *w);
/* Write the members object of each volume finished since the last write, then the checkpoint
 * at `path` (checkpoint_path) on `st`, listing every volume done so far. */
bool checkpoint_write(CheckpointWriter *w, Storage *st, const Manifest *cur, Error *err);
/* Before the first volume of a resumed backup: where volumes the checkpoint lists are about to be
 * written again, rewrite it without them. */
bool checkpoint_begin(CheckpointWriter *w, Storage *st, bool commits, const Manifest *cur,
                      Error *err);
/* checkpoint_write when it is due (or `force`). Where writes are commits (`commits`: the Hub),
 * the checkpoint is committed with the volumes staged so far and a new transaction begins. */
bool checkpoint_save(CheckpointWriter *w, Storage *st, bool commits, bool force,
                     const Manifest *cur, Error *err);
/* The backup is published (or, inside its transaction, about to be): its checkpoint, if one
 * was written or resumed, is deleted with the members objects it or the resumed one lists.
 * Best effort: prune removes left-overs. */
void checkpoint_remove(CheckpointWriter *w, Storage *st);
/* The backup ended with `vcount` volumes: volumes of the resumed checkpoint past that number
 * (written by the killed run, now referenced by nothing) are deleted. Best effort. */
void checkpoint_drop_surplus(CheckpointWriter *w, Storage *st, size_t vcount, bool encrypted);
/* The checkpoint's target-relative path; caller frees. */
char *checkpoint_path(const Config *cfg, const char *name);

/* The key of the backup being written (keyring.c). backup_key_finish: the key the KeyJob derived
 * while the sources were scanned; an incremental continues an encrypted chain under its key
 * (`reuse`), and a password that does not open it is a password change (a new chain: *why_full;
 * the checkpoint, planned otherwise, is dropped). backup_key_new: the key of a new chain the
 * strategy starts: the key of the full *ckpt resumes when the password opens it, else a new one. */
struct KeyJob;
CryptoKey *backup_key_finish(const Config *cfg, struct KeyJob *job, const BackupMeta *prev,
                             bool reuse, CryptoParams *params, const char **why_full,
                             Checkpoint **ckpt, Error *err);
CryptoKey *backup_key_new(const Config *cfg, Checkpoint **ckpt, CryptoParams *params, Error *err);

/* Test hook: HFSYNC_TEST_CRASH=<point>[:<n>] kills this process with SIGKILL when the backup
 * reaches `point` (for the n-th time): "volume" (a volume finished and checkpointed), "inside"
 * (the first file of volume n written into it), "pointer" (just before the pointer is written). */
void checkpoint_test_crash(const char *point, uint64_t n);

#endif
