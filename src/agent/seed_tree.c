/*
 * The merged tree of a seed chain's archives (seed.intern.h): files and directories on disk
 * under each root's staging path, every entry recorded in memory by its archive path, symlinks
 * created only at the end. All names are checked before use and every path is built from checked
 * components below a staging path this process created, so no member can reach outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfsync/log.h"
#include "hfsync/manifest.h"
#include "hfsync/util.h"
#include "seed.intern.h"

#define TREE_COPY_SIZE (256 * 1024)
#define TREE_IMPLICIT_DIR_MODE 0755

typedef struct Node {
    struct Node *next; /* hash chain */
    char *path;        /* archive path: "root" or "root/a/b" */
    char *target;      /* symlinks */
    uint8_t type;      /* EntryType */
    bool attrs;        /* directories: mode and time come from a member (else made for a child) */
    unsigned archive;  /* the archive of the chain that put it there */
    uint32_t mode;
    int64_t mtime;
    long mtime_nsec;
    uint64_t size; /* files */
} Node;

typedef struct Root {
    char *name;
    const char *staging; /* NULL: skipped */
} Root;

struct SeedTree {
    const Config *cfg;
    SeedRootFn root_fn;
    void *ctx;
    Node **buckets;
    size_t bucket_count, count;
    Root **roots; /* pointers, so a Root stays put while more are added */
    size_t root_count;
    uint64_t files, bytes; /* regular files in the tree now, and their bytes */
    bool setid_warned, special_warned;
    uint8_t *buf;
};

static const char *tree_type_name(uint8_t type)
{
    return type == ENTRY_DIR ? "directory" : type == ENTRY_SYMLINK ? "symlink" : "file";
}

/* FNV-1a */
static size_t tree_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static Node *tree_find(const SeedTree *t, const char *path)
{
    for (Node *n = t->buckets[tree_hash(path) % t->bucket_count]; n; n = n->next)
        if (strcmp(n->path, path) == 0)
            return n;
    return NULL;
}

static void tree_grow(SeedTree *t)
{
    size_t cap = t->bucket_count * 2;
    Node **b = x_calloc(cap, sizeof(Node *));
    for (size_t i = 0; i < t->bucket_count; i++) {
        for (Node *n = t->buckets[i], *next; n; n = next) {
            next = n->next;
            size_t k = tree_hash(n->path) % cap;
            n->next = b[k];
            b[k] = n;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->bucket_count = cap;
}

static Node *tree_add(SeedTree *t, const char *path, uint8_t type, unsigned archive)
{
    if (t->count >= t->bucket_count)
        tree_grow(t);
    Node *n = x_calloc(1, sizeof(*n));
    n->path = x_strdup(path);
    n->type = type;
    n->archive = archive;
    n->mode = TREE_IMPLICIT_DIR_MODE;
    size_t k = tree_hash(path) % t->bucket_count;
    n->next = t->buckets[k];
    t->buckets[k] = n;
    t->count++;
    return n;
}

static void node_free(Node *n)
{
    free(n->path);
    free(n->target);
    free(n);
}

/* A node leaves the tree: the counts follow. */
static void tree_node_gone(SeedTree *t, Node *n)
{
    if (n->type == ENTRY_FILE) {
        t->files--;
        t->bytes -= n->size;
    }
    node_free(n);
}

/* Forget node `n`; for a directory, everything under it too (a scan of every node: only when
 * a later archive replaces a directory, which is rare). */
static void tree_forget(SeedTree *t, Node *n)
{
    if (n->type != ENTRY_DIR) {
        for (Node **pp = &t->buckets[tree_hash(n->path) % t->bucket_count]; *pp;
             pp = &(*pp)->next) {
            if (*pp == n) {
                *pp = n->next;
                tree_node_gone(t, n);
                t->count--;
                return;
            }
        }
        return;
    }
    char *path = x_strdup(n->path);
    size_t len = strlen(path);
    for (size_t i = 0; i < t->bucket_count; i++) {
        for (Node **pp = &t->buckets[i]; *pp;) {
            Node *x = *pp;
            if (strncmp(x->path, path, len) == 0 && (x->path[len] == '/' || x->path[len] == 0)) {
                *pp = x->next;
                tree_node_gone(t, x);
                t->count--;
            } else {
                pp = &x->next;
            }
        }
    }
    free(path);
}

/* The root of an archive path, asking the restore where it goes the first time. */
static bool tree_root(SeedTree *t, const char *path, const Root **out, Error *err)
{
    size_t len = strcspn(path, "/");
    for (size_t i = 0; i < t->root_count; i++) {
        if (strlen(t->roots[i]->name) == len && strncmp(t->roots[i]->name, path, len) == 0) {
            *out = t->roots[i];
            return true;
        }
    }
    char *name = x_strndup(path, len);
    const char *staging = NULL;
    if (!t->root_fn(t->ctx, name, &staging, err)) {
        free(name);
        return false;
    }
    Root *r = x_calloc(1, sizeof(*r));
    r->name = name;
    r->staging = staging;
    t->roots = x_realloc(t->roots, (t->root_count + 1) * sizeof(Root *));
    t->roots[t->root_count++] = r;
    *out = r;
    return true;
}

/* Local path of an archive path whose root is `r`. */
static char *tree_local(const Root *r, const char *path)
{
    const char *rest = path + strlen(r->name);
    return rest[0] == '\0' ? x_strdup(r->staging) : str_printf("%s%s", r->staging, rest);
}

/* Remove what an earlier archive left at `n` (on disk and in memory). */
static bool tree_drop(SeedTree *t, const Root *r, Node *n, Error *err)
{
    char *local = tree_local(r, n->path);
    bool ok = true;
    if (n->type == ENTRY_DIR)
        ok = fs_remove_tree(local, err);
    else if (n->type == ENTRY_FILE && unlink(local) != 0 && errno != ENOENT)
        ok = error_sys(err, "remove '%s'", local);
    free(local);
    if (ok)
        tree_forget(t, n);
    return ok;
}

static bool tree_mkdir(SeedTree *t, const Root *r, const char *path, unsigned archive, Error *err)
{
    char *local = tree_local(r, path);
    /* 0700 while building, so files can be written inside; the real mode comes at the end. */
    bool ok = mkdir(local, 0700) == 0 || error_sys(err, "create directory '%s'", local);
    free(local);
    if (ok)
        tree_add(t, path, ENTRY_DIR, archive);
    return ok;
}

/* Every ancestor of `path` (below its root, the root included) as a directory. */
static bool tree_parents(SeedTree *t, const Root *r, const char *path, unsigned archive, Error *err)
{
    char *p = x_strdup(path);
    bool ok = true;
    for (char *slash = strchr(p, '/'); ok && slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        Node *n = tree_find(t, p);
        if (n != NULL && n->type != ENTRY_DIR) {
            if (n->archive == archive) {
                ok = error_set(err, ERR_UNSAFE,
                               "member '%s' is below '%s', a %s of the same archive", path, p,
                               tree_type_name(n->type));
            } else {
                log_warn("restore: '%s' was a %s in an earlier backup and has files below it in a "
                         "later one; it is restored as a directory",
                         p, tree_type_name(n->type));
                ok = tree_drop(t, r, n, err);
                n = NULL;
            }
        }
        if (ok && n == NULL)
            ok = tree_mkdir(t, r, p, archive, err);
        *slash = '/';
    }
    free(p);
    return ok;
}

/* Create a regular file at `local` (never through a symlink, never over anything) with the
 * member's data, mode and time. */
static bool tree_write_file(SeedTree *t, TarReader *tr, int src_fd, const TarMember *m,
                            const char *local, uint64_t *written_out, Error *err)
{
    int fd = open(local, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_sys(err, "create '%s'", local);
    uint64_t written = 0;
    bool ok = true;
    for (;;) {
        const void *data = t->buf;
        size_t size = 0;
        if (src_fd >= 0) {
            ssize_t n = read(src_fd, t->buf, TREE_COPY_SIZE);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                ok = error_sys(err, "read the hard link target of '%s'", m->name);
                break;
            }
            size = (size_t)n;
        } else {
            int rc = tar_reader_data(tr, &data, &size, err);
            if (rc < 0) {
                ok = false;
                break;
            }
            if (rc == 0)
                size = 0;
        }
        if (size == 0)
            break;
        if (!fs_write_all(fd, data, size)) {
            ok = error_sys(err, "write '%s'", local);
            break;
        }
        written += size;
    }
    if (ok) {
        mode_t mode = m->mode & 07777;
        if (!t->cfg->restore_setid && (mode & (S_ISUID | S_ISGID))) {
            mode &= ~(mode_t)(S_ISUID | S_ISGID);
            if (!t->setid_warned)
                log_warn("restoring '%s' without its setuid/setgid bits (set "
                         "HFSYNC_RESTORE_SETID=1 to keep them)",
                         m->name);
            t->setid_warned = true;
        }
        struct timespec ts[2] = {{m->mtime, m->mtime_nsec}, {m->mtime, m->mtime_nsec}};
        if (fchmod(fd, mode) != 0 || futimens(fd, ts) != 0)
            ok = error_sys(err, "set attributes of '%s'", local);
    }
    if (close(fd) != 0 && ok)
        ok = error_sys(err, "close '%s'", local);
    *written_out = written;
    return ok;
}

/* A hard link member: a copy of a file already restored (targets are archive paths). */
static bool tree_hardlink(SeedTree *t, const TarMember *m, const char *local, uint64_t *size,
                          Error *err)
{
    Error e = {0};
    if (!seed_member_check(m->target, &e))
        return error_set(err, ERR_UNSAFE,
                         "hard link '%s' refused: its target '%.300s' is not a "
                         "path inside the archive",
                         m->name, m->target);
    const Node *target = tree_find(t, m->target);
    if (target == NULL || target->type != ENTRY_FILE)
        return error_set(err, ERR_UNSAFE,
                         "hard link '%s' refused: its target '%.300s' is not a file restored "
                         "before it",
                         m->name, m->target);
    const Root *r = NULL;
    if (!tree_root(t, m->target, &r, err)) /* known: the target's root was set up for it */
        return false;
    char *src = tree_local(r, m->target);
    int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    bool ok = fd >= 0 || error_sys(err, "open '%s'", src);
    if (ok)
        ok = tree_write_file(t, NULL, fd, m, local, size, err);
    if (fd >= 0)
        close(fd);
    free(src);
    return ok;
}

bool seed_tree_member(SeedTree *t, unsigned archive, TarReader *tr, const TarMember *m, Error *err)
{
    if (!seed_member_check(m->name, err))
        return false;
    const Root *r = NULL;
    if (!tree_root(t, m->name, &r, err))
        return false;
    if (r->staging == NULL)
        return true; /* a root not restored here: its data is skipped by the next header */
    if (m->type == TAR_OTHER) {
        if (!t->special_warned)
            log_warn("restore: skipping '%s': devices, fifos and sockets are not restored",
                     m->name);
        t->special_warned = true;
        return true;
    }
    uint8_t type = m->type == TAR_DIR       ? ENTRY_DIR
                   : m->type == TAR_SYMLINK ? ENTRY_SYMLINK
                                            : ENTRY_FILE;
    if (type == ENTRY_SYMLINK && (m->target == NULL || m->target[0] == '\0'))
        return error_set(err, ERR_UNSAFE, "member '%s' refused: a symlink with an empty target",
                         m->name);
    Node *old = tree_find(t, m->name);
    if (old != NULL && old->archive == archive && !(old->type == ENTRY_DIR && type == ENTRY_DIR))
        return error_set(err, ERR_UNSAFE, "member '%s' appears twice in the archive", m->name);
    if (!tree_parents(t, r, m->name, archive, err))
        return false;
    if (type == ENTRY_DIR && old != NULL && old->type == ENTRY_DIR) {
        old->archive = archive;
    } else {
        if (old != NULL && !tree_drop(t, r, old, err))
            return false;
        old = NULL;
        char *local = tree_local(r, m->name);
        bool ok = true;
        uint64_t size = 0;
        if (type == ENTRY_DIR)
            ok = mkdir(local, 0700) == 0 || error_sys(err, "create directory '%s'", local);
        else if (m->type == TAR_HARDLINK)
            ok = tree_hardlink(t, m, local, &size, err);
        else if (type == ENTRY_FILE)
            ok = tree_write_file(t, tr, -1, m, local, &size, err);
        free(local);
        if (!ok)
            return false;
        old = tree_add(t, m->name, type, archive);
        if (type == ENTRY_FILE) {
            old->size = size;
            t->files++;
            t->bytes += size;
        }
    }
    old->attrs = true;
    old->mode = m->mode & 07777;
    old->mtime = m->mtime;
    old->mtime_nsec = m->mtime_nsec;
    if (type == ENTRY_SYMLINK)
        old->target = x_strdup(m->target);
    return true;
}

static int tree_deepest_first(const void *a, const void *b)
{
    /* A descendant's path extends its ancestor's, so it sorts after it: reverse order. */
    return strcmp((*(Node *const *)b)->path, (*(Node *const *)a)->path);
}

bool seed_tree_finish(SeedTree *t, Error *err)
{
    Node **dirs = x_calloc(t->count + 1, sizeof(Node *));
    size_t ndirs = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < t->bucket_count; i++) {
        for (Node *n = t->buckets[i]; ok && n; n = n->next) {
            if (n->type == ENTRY_DIR) {
                dirs[ndirs++] = n;
                continue;
            }
            if (n->type != ENTRY_SYMLINK)
                continue;
            const Root *r = NULL;
            if (!tree_root(t, n->path, &r, err)) {
                ok = false;
                break;
            }
            char *local = tree_local(r, n->path);
            struct timespec ts[2] = {{n->mtime, n->mtime_nsec}, {n->mtime, n->mtime_nsec}};
            ok = symlink(n->target, local) == 0 || error_sys(err, "create symlink '%s'", local);
            if (ok)
                utimensat(AT_FDCWD, local, ts, AT_SYMLINK_NOFOLLOW);
            free(local);
        }
    }
    qsort(dirs, ndirs, sizeof(Node *), tree_deepest_first);
    for (size_t i = 0; ok && i < ndirs; i++) {
        Node *n = dirs[i];
        const Root *r = NULL;
        if (!tree_root(t, n->path, &r, err)) {
            ok = false;
            break;
        }
        char *local = tree_local(r, n->path);
        mode_t mode = n->mode & 01777; /* never setuid/setgid on directories */
        ok = chmod(local, mode) == 0 || error_sys(err, "set the mode of '%s'", local);
        struct timespec ts[2] = {{n->mtime, n->mtime_nsec}, {n->mtime, n->mtime_nsec}};
        if (ok && n->attrs && utimensat(AT_FDCWD, local, ts, AT_SYMLINK_NOFOLLOW) != 0)
            ok = error_sys(err, "set the time of '%s'", local);
        free(local);
    }
    free(dirs);
    return ok;
}

SeedTree *seed_tree_new(const Config *cfg, SeedRootFn root_fn, void *ctx)
{
    SeedTree *t = x_calloc(1, sizeof(*t));
    t->cfg = cfg;
    t->root_fn = root_fn;
    t->ctx = ctx;
    t->bucket_count = 1024;
    t->buckets = x_calloc(t->bucket_count, sizeof(Node *));
    t->buf = x_malloc(TREE_COPY_SIZE);
    return t;
}

void seed_tree_counts(const SeedTree *t, uint64_t *files, uint64_t *bytes)
{
    *files = t->files;
    *bytes = t->bytes;
}

void seed_tree_free(SeedTree *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->bucket_count; i++) {
        for (Node *n = t->buckets[i], *next; n; n = next) {
            next = n->next;
            node_free(n);
        }
    }
    free(t->buckets);
    for (size_t i = 0; i < t->root_count; i++) {
        free(t->roots[i]->name);
        free(t->roots[i]);
    }
    free(t->roots);
    free(t->buf);
    free(t);
}
