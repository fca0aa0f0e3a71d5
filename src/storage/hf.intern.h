/*
 * Internals of the hf:// backend (reference/hf-hub-api.md), shared by its files: hf.c (requests,
 * errors, reads, listing, the driver), hf_lfs.c (the write sink and LFS uploads) and
 * hf_commit.c (staged operations, commits with their parent check, super-squash).
 *
 * Paths: `path` arguments are target-relative; `repo paths` (HfOp.path, tree entries) are
 * relative to the repo root, i.e. the target's folder (Hf.root) + path.
 */
#ifndef HFSYNC_HF_INTERN_H
#define HFSYNC_HF_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hfsync/hash.h"
#include "hfsync/http.h"
#include "storage.intern.h"

/* Objects up to this size whose name ends in .json are committed inline; the rest go to LFS. */
#define HF_INLINE_MAX (1u << 20)
/* Multipart parts uploaded at once. */
#define HF_PARALLEL 4
/* A commit moved by someone else's unrelated commit is rebased at most this often. */
#define HF_REBASE_MAX 5

typedef enum HfOpKind { HF_OP_FILE, HF_OP_LFS, HF_OP_DELETE } HfOpKind;

/* One staged change of the next commit. */
typedef struct HfOp {
    HfOpKind kind;
    char *path;                 /* repo path */
    char *content;              /* HF_OP_FILE: the bytes */
    size_t size;                /* HF_OP_FILE and HF_OP_LFS */
    char sha256[HASH_HEX_SIZE]; /* HF_OP_LFS: the LFS oid */
} HfOp;

typedef struct Hf {
    Storage base;
    char *endpoint;  /* "https://huggingface.co", no trailing '/' */
    char *repo_type; /* "dataset", "model" or "space" */
    char *repo_id;   /* "ns/name" */
    char *display;   /* "datasets/ns/name" (the Hub's URL form), for messages */
    char *root;      /* folder of the target in the repo: "" or "some/folder/" */
    char *api;       /* endpoint + "/api/datasets/ns/name" */
    char *git;       /* endpoint + "/datasets/ns/name" (resolve and LFS URLs) */
    char *rev;       /* branch: "main" */
    char *token;     /* NULL: anonymous */
    char *token_from;
    bool private_repo;
    HfSquash squash;
    char *work_dir;  /* spool files of objects being written */
    char *cache_dir; /* when the last super-squash ran */
    HttpSettings hs;
    char *ca_bundle;
    HttpRetry retry;
    Http *http;
    bool repo_ready;   /* known to exist (checked or created) */
    bool said_missing; /* "does not exist yet" was logged */

    /* The staged commit. */
    bool in_tx;
    HfOp *ops;
    size_t op_count, op_cap;
    char *parent; /* head the staged changes were planned against (put_if's tag) */
    /* This handle's own consecutive commits: the first was made over `own_base`, the last is
     * `own_head`. A put_if whose tag names own_base is over own_head: the commits in between are
     * this writer's own (checkpoints), not another writer's. */
    char *own_base, *own_head;
    char *cond_path;  /* put_if: repo path whose content must still be `cond_id` at the head */
    char *cond_id;    /* "none" or the sha256 hex of the content read */
    bool reclaimable; /* a commit deleted data the history still holds */
} Hf;

/* One request to the Hub. */
typedef struct HfCall {
    const char *what; /* "list tree of datasets/ns/name", for messages */
    const char *method;
    const char *url;
    const char *content_type; /* NULL: none */
    const void *body;
    size_t body_size;
    int body_fd; /* > 0: body from a file (see HttpRequest) */
    uint64_t body_offset;
    bool auth; /* send the token (never to presigned upload URLs) */
    bool once; /* no retry loop (commits: the caller checks before repeating) */
    size_t max_body;
    bool follow_redirects;
} HfCall;

/* Requests and answers (hf.c). */
/* Send with the retry policy; true when the answer was 2xx, else err says why (hf_error). */
bool hf_call(Hf *h, Http *http, const HfCall *c, HttpResponse *resp, Error *err);
/* Turn a non-2xx answer into an error with the Hub's X-Error-Code/X-Error-Message and a hint
 * for 401/403/404. */
void hf_error(const Hf *h, const char *what, const HttpResponse *resp, Error *err);
/* Percent-encode for a URL: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when keep_slash). */
char *hf_escape(const char *s, bool keep_slash);
/* The repo path of a target-relative path (Hf.root + path). */
char *hf_repo_path(const Hf *h, const char *path);
/* The branch head commit; ERR_NOT_FOUND when the repo does not exist. */
bool hf_head(Hf *h, char **sha, Error *err);
/* The bytes of repo path `rpath` at `rev` (a commit or branch); ERR_NOT_FOUND when missing. */
bool hf_fetch(Hf *h, const char *rev, const char *rpath, size_t max_size, char **data, size_t *size,
              Error *err);
/* Make sure the repo exists, creating it (private unless configured otherwise) when missing. */
bool hf_ensure_repo(Hf *h, Error *err);

/* What paths-info says about a repo path. */
typedef struct HfEntry {
    bool exists;
    uint64_t size;
    char oid[48];            /* git blob sha1 (for LFS files: of the pointer) */
    char lfs[HASH_HEX_SIZE]; /* LFS sha256, "" for a regular file */
} HfEntry;
/* paths-info for `count` repo paths at `rev`; out[i] for paths[i]. */
bool hf_paths_info(Hf *h, const char *rev, const char *const *paths, size_t count, HfEntry *out,
                   Error *err);

/* Writes (hf_lfs.c). */
Sink *hf_write_open(Storage *st, const char *path, Error *err);
/* Upload `size` bytes of `fd` (sha256 `oid`) through the LFS batch API unless the Hub has them. */
bool hf_lfs_upload(Hf *h, int fd, uint64_t size, const char *oid, const char *rpath, Error *err);

/* Commits (hf_commit.c). */
/* Stage a change (replacing any earlier change of the same path); takes `content`. Outside a
 * transaction the change is committed at once. */
bool hf_stage(Hf *h, HfOpKind kind, const char *rpath, char *content, size_t size,
              const char *sha256, Error *err);
bool hf_begin(Storage *st, Error *err);
bool hf_commit(Storage *st, const char *summary, Error *err);
void hf_abort(Storage *st);
bool hf_put_if(Storage *st, const char *path, const void *data, size_t size, const char *tag,
               bool *unsupported, Error *err);
bool hf_remove_many(Storage *st, const char *const *paths, size_t count, Error *err);
bool hf_reclaim(Storage *st, const char *reason, Error *err);
void hf_ops_clear(Hf *h);
/* The staged change of repo path `rpath`, NULL when none. Reads inside a transaction see its own
 * writes and deletions, so a prune folded into a backup's commit plans on the repo as that
 * commit will leave it (the new backup listed, the pointer naming it). */
const HfOp *hf_staged(const Hf *h, const char *rpath);

#endif
