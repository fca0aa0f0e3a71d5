/*
 * The original OpenClaw script's backup format (reference/seed-format.md) inside the agent:
 * reading one backup's archive (seed_archive.c), restoring a chain of them over a staging tree
 * (seed_restore.c, seed_tree.c), checking them (seed_verify.c), and writing them
 * (seed_backup.c, seed_split.c).
 *
 * A seed backup is one gzip-compressed tar whose top-level names are archive roots (one per
 * configured source), optionally `openssl enc -aes-256-cbc -salt -pbkdf2` encrypted, optionally
 * cut into raw `.part-aa`, `.part-ab`, … pieces; its .meta.json records the sha256 of the archive
 * as uploaded (after encryption, before splitting). Its chains have no manifest: a restore
 * extracts the full backup and overlays each incremental in order.
 *
 * Everything read from the target is hostile until checked, as for native backups: member
 * names, types and link targets are checked before anything is written, nothing is ever written
 * through a symlink, and the checksum decides whether a failure was damage.
 */
#ifndef HFSYNC_SEED_INTERN_H
#define HFSYNC_SEED_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.intern.h"
#include "hfsync/chain.h"
#include "hfsync/tar.h"

#define SEED_NAME_PREFIX "openclaw-backup-"
#define SEED_META_VERSION "2.1"
#define SEED_CIPHER_NAME "AES-256-CBC"
/* `split -b` names with two letters: aa … zz. */
#define SEED_MAX_PARTS (26 * 26)

/* --- reading one backup's archive (seed_archive.c) ------------------------------------------ */

typedef struct SeedArchive SeedArchive;

/*
 * Open the archive of the seed backup `meta`: its volumes joined in name order, the sha256 of
 * those bytes computed as they pass, decrypted when it is encrypted (cfg->password, then each of
 * cfg->old_passwords: the first block tells which one fits), gunzipped and parsed as tar.
 * Fails with ERR_USAGE "wrong password …" when no configured password fits and the bytes match
 * their checksum, with the checksum error when they do not, and with ERR_USAGE when the backup is
 * encrypted and no password is configured.
 */
SeedArchive *seed_archive_open(const Config *cfg, Storage *st, const BackupMeta *meta, Error *err);
/* The tar reader over the archive (owned by it; unusable after seed_archive_diagnose). */
TarReader *seed_archive_tar(SeedArchive *a);
/* After the last member: read to the very end (the cipher's padding is checked there) and
 * compare the size and sha256 with the .meta.json: ERR_CORRUPT when they differ. */
bool seed_archive_finish(SeedArchive *a, Error *err);
/* After `err` came from the data (ERR_CORRUPT, ERR_UNSAFE): read the rest, and if the archive
 * does not match its recorded checksum, report that instead, as the cause. Others unchanged. */
void seed_archive_diagnose(SeedArchive *a, Error *err);
void seed_archive_free(SeedArchive *a);

/* Check a member name from an archive: relative, no empty, "." or ".." component, no control
 * characters. ERR_UNSAFE naming it. */
bool seed_member_check(const char *name, Error *err);

/* The .meta.json of the backup called `name` on the target: hfsync's name, or the script's
 * archive name (OPENCLAW_RESTORE_ARCHIVE) with or without ".tar.gz[.enc]", a ".part-xx" suffix or
 * ".meta.json". ERR_NOT_FOUND (with a hint) when there is none. Caller frees *meta_path. */
bool agent_backup_find(const Config *cfg, Storage *st, const char *name, char **meta_path,
                       Error *err);

/* --- restoring a chain (seed_restore.c) ----------------------------------------------------- */

/* Restore `chain` (resolved, seed format) as restore_run does for native chains: every archive
 * root into a staging path beside its destination, swapped in only when every archive extracted
 * and verified. */
bool seed_restore(const Config *cfg, Storage *st, const RestoreOpts *opts, const Chain *chain,
                  RestoreResult *res, Error *err);

/* --- the tree being built (seed_tree.c) ------------------------------------------------------
 *
 * The merged tree of a chain's archives, built on disk under each root's staging path, with an
 * in-memory record of every entry. Files and directories are created as members arrive;
 * symlinks only at the end (seed_tree_finish), so no write can pass through one. A later archive
 * replaces what an earlier one had at the same path; a member below a path that an earlier
 * archive made a file or symlink turns that path into a directory (the state changed between
 * the backups); within one archive such conflicts, duplicates, escapes, and hard links to
 * nothing restored are refused (ERR_UNSAFE). Devices, fifos and sockets are skipped with a
 * warning.
 */

typedef struct SeedTree SeedTree;

/* Where archive root `root` is built: *staging set to its staging path (owned by the caller,
 * valid for the tree's life), or NULL to skip the root's members. False with `err` set refuses
 * the restore. */
typedef bool (*SeedRootFn)(void *ctx, const char *root, const char **staging, Error *err);

SeedTree *seed_tree_new(const Config *cfg, SeedRootFn root_fn, void *ctx);
/* Apply member `m` of archive `archive` (0 for the full backup, counting up), reading a file's
 * data from `tr`. */
bool seed_tree_member(SeedTree *t, unsigned archive, TarReader *tr, const TarMember *m, Error *err);
/* Create the symlinks, then set directory modes and times, deepest first. */
bool seed_tree_finish(SeedTree *t, Error *err);
void seed_tree_counts(const SeedTree *t, uint64_t *files, uint64_t *bytes);
void seed_tree_free(SeedTree *t);

/* --- verify (seed_verify.c) ----------------------------------------------------------------- */

/* Every volume exists and their sizes add up to archive_size; with `deep`, the archive is read
 * through: checksum, decryption, gzip, and every member name checked. */
bool seed_verify(const Config *cfg, Storage *st, const BackupMeta *meta, bool deep, Error *err);

/* --- writing (seed_backup.c, seed_split.c) -------------------------------------------------- */

/* backup_run for HFSYNC_FORMAT=seed. */
bool seed_backup_run(const Config *cfg, const BackupOpts *opts, BackupResult *res, Error *err);

/*
 * The terminal sink of a seed backup: stores the archive as "<prefix>/<name>", or, once it grows
 * past `volume_size` bytes, as `split -b` parts "<name>.part-aa", "-ab", … of exactly that size
 * (the last one shorter). Until it is known which, the first volume_size bytes are spooled to an
 * unlinked temporary file in `work_dir`. Objects are written only through storage_write_open.
 */
Sink *seed_split_new(Storage *st, const char *prefix, const char *name, uint64_t volume_size,
                     const char *work_dir, Error *err);
/* After sink_finish: the volume names (without prefix) in order. Borrowed. */
char *const *seed_split_volumes(Sink *sink, size_t *count);
/* Every object path it opened for writing, finished or not (for cleanup after a failure). */
char *const *seed_split_written(Sink *sink, size_t *count);

#endif
