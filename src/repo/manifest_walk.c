/*
 * ManifestWalk: the rules between manifest entries, checked as the entries stream by (manifest.h).
 *
 * Manifest order is bytewise within a source, so a directory's entries need not follow it at
 * once: "a", "a-x", "a-x/y", "a/b" is in order, and "a/b"'s parent came two entries earlier. But
 * every entry between a directory D and the end of D's subtree starts with D's bytes (everything
 * in [D, D + "0") does, '0' being the byte after '/'). So the directories that can still be a
 * parent are all prefixes of the current path: the walk keeps them as lengths into the path of
 * the deepest one, and closes each as soon as an entry falls past its subtree.
 */
#include <stdlib.h>
#include <string.h>

#include "hfsync/manifest.h"
#include "hfsync/util.h"

#define WALK_PATH_MAX 4096

typedef struct WalkDir {
    size_t len;      /* of its path: a prefix of `top` */
    ManifestEntry e; /* its fields (path unused) */
} WalkDir;

struct ManifestWalk {
    ManifestWalkDone done;
    void *ctx;
    char *source; /* of the entries being walked; NULL before the first */
    bool have_last, root_dir;
    ManifestEntry root;
    char last[WALK_PATH_MAX + 1]; /* the previous entry's path (same source) */
    char top[WALK_PATH_MAX + 1];  /* the deepest open directory's path */
    WalkDir *open;                /* open directories, shortest first */
    size_t depth;
};

ManifestWalk *manifest_walk_new(ManifestWalkDone done, void *ctx)
{
    ManifestWalk *w = x_calloc(1, sizeof(*w));
    w->done = done;
    w->ctx = ctx;
    /* Each open directory is a strictly longer prefix of one path of at most WALK_PATH_MAX. */
    w->open = x_calloc(WALK_PATH_MAX + 1, sizeof(WalkDir));
    return w;
}

void manifest_walk_free(ManifestWalk *w)
{
    if (w == NULL)
        return;
    free(w->open);
    free(w->source);
    free(w);
}

static bool walk_close_top(ManifestWalk *w, Error *err)
{
    WalkDir *d = &w->open[--w->depth];
    if (w->done == NULL)
        return true;
    char saved = w->top[d->len];
    w->top[d->len] = '\0';
    d->e.path = w->top;
    bool ok = w->done(w->ctx, w->source, &d->e, err);
    w->top[d->len] = saved;
    d->e.path = NULL;
    return ok;
}

/* Close every directory of the current source, its root last. */
static bool walk_close_source(ManifestWalk *w, Error *err)
{
    while (w->depth > 0)
        if (!walk_close_top(w, err))
            return false;
    if (w->root_dir && w->done != NULL) {
        w->root.path = ".";
        if (!w->done(w->ctx, w->source, &w->root, err))
            return false;
    }
    w->root_dir = false;
    return true;
}

/* Whether `path` lies within the subtree of the open directory `d` (see the top comment). */
static bool walk_inside(const ManifestWalk *w, const WalkDir *d, const char *path)
{
    return strncmp(path, w->top, d->len) == 0 && path[d->len] != '\0' &&
           (unsigned char)path[d->len] <= '/';
}

bool manifest_walk_next(ManifestWalk *w, const char *source, const ManifestEntry *e, Error *err)
{
    const char *path = e->path;
    size_t len = strlen(path);
    if (len > WALK_PATH_MAX)
        return error_set(err, ERR_UNSAFE, "entry '%s/%.64s…': path longer than %d bytes", source,
                         path, WALK_PATH_MAX);
    int c = w->source == NULL ? 1 : strcmp(source, w->source);
    if (c < 0)
        return error_set(err, ERR_CORRUPT, "entry '%s/%s' is out of order", source, path);
    if (c > 0) {
        if (w->source != NULL && !walk_close_source(w, err))
            return false;
        free(w->source);
        w->source = x_strdup(source);
        w->have_last = false;
    } else if (w->have_last) {
        c = manifest_path_cmp(path, w->last);
        if (c == 0)
            return error_set(err, ERR_UNSAFE, "entry '%s/%s' appears twice", source, path);
        if (c < 0)
            return error_set(err, ERR_CORRUPT, "entry '%s/%s' is out of order", source, path);
    }
    memcpy(w->last, path, len + 1);
    w->have_last = true;
    if (strcmp(path, ".") == 0) { /* first of its source: "." sorts before everything */
        w->root_dir = e->type == ENTRY_DIR;
        w->root = *e;
        return true;
    }
    while (w->depth > 0 && !walk_inside(w, &w->open[w->depth - 1], path))
        if (!walk_close_top(w, err))
            return false;
    const char *slash = strrchr(path, '/');
    bool parent_ok = false;
    if (slash == NULL) {
        parent_ok = w->root_dir;
    } else {
        size_t plen = (size_t)(slash - path);
        /* Every open directory is a prefix of `path`: the parent is open iff one has its length. */
        for (size_t i = w->depth; i-- > 0 && w->open[i].len >= plen;)
            if (w->open[i].len == plen)
                parent_ok = true;
    }
    if (!parent_ok)
        return error_set(err, ERR_UNSAFE,
                         "entry '%s/%s': its parent is not a directory of the backup", source,
                         path);
    if (e->type == ENTRY_DIR) {
        memcpy(w->top, path, len + 1);
        WalkDir *d = &w->open[w->depth++];
        d->len = len;
        d->e = *e;
        d->e.path = NULL;
        d->e.target = NULL;
    }
    return true;
}

bool manifest_walk_end(ManifestWalk *w, Error *err)
{
    return w->source == NULL || walk_close_source(w, err);
}
