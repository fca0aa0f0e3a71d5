/*
 * Walk the sources, handing every entry over in manifest order (docs/FORMAT.md §4). Uses
 * directory file descriptors (openat/fstatat) so each entry costs one system call, and never
 * follows a symlink below a source root.
 *
 * Manifest order is bytewise on whole paths, which is not the order of a depth-first walk: "a",
 * "a.txt", "a/b" (the '.' sorts before the '/'). So each directory's children are read, sorted
 * together with their subtrees (the subtree of directory "a" sorts as "a/") and handed over in
 * that order, descending into a subtree when its turn comes. Memory is what the directories on
 * the current path hold, never the whole tree: the caller keeps or streams what it is handed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfsync/agent.h"
#include "hfsync/exclude.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

typedef struct Walk {
    const Config *cfg;
    ScanEmit emit;
    void *ctx;
    uint16_t source;
    const char *root; /* the source's local path, for messages */
    ScanStats *stats;
    char rel[PATH_MAX]; /* path of the current directory relative to the root, "" at the root */
} Walk;

/* A directory's names as listed: per name one byte of kind (what readdir said it is: KIND_*),
 * the name and its NUL, at offsets that are sorted in place. Each name's stat is taken when its
 * turn comes, so a directory of a million names costs about their length plus 5 bytes each. */
enum { KIND_FILE, KIND_DIR, KIND_SYMLINK };

typedef struct Listing {
    char *names;
    size_t names_len, names_cap;
    uint32_t *offs; /* of the names' kind bytes */
    size_t count, cap;
    size_t dir_count;
} Listing;

/* A subdirectory: its name and, from its entry's turn until its subtree's, its descriptor. */
typedef struct SubDir {
    uint32_t off;
    int fd;
} SubDir;

static void scan_fill(ManifestEntry *e, const struct stat *sb)
{
    e->mode = sb->st_mode & 07777;
    e->mtime = sb->st_mtim.tv_sec;
    e->mtime_nsec = (int32_t)sb->st_mtim.tv_nsec;
}

static bool scan_name_ok(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Manifest order of siblings: a child's entry compares as its name, the subtree of a child
 * directory as its name followed by '/'. Names hold no '/', so the first difference decides, and
 * an entry comes before its own subtree. */
static int scan_key_cmp(const char *a, bool a_subtree, const char *b, bool b_subtree)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x != '\0' && *x == *y) {
        x++;
        y++;
    }
    int cx = *x != '\0' ? *x : a_subtree ? '/' : 0;
    int cy = *y != '\0' ? *y : b_subtree ? '/' : 0;
    return cx - cy;
}

static int scan_name_cmp(const void *a, const void *b, void *names)
{
    return strcmp((const char *)names + *(const uint32_t *)a + 1,
                  (const char *)names + *(const uint32_t *)b + 1);
}

static int scan_subtree_cmp(const void *a, const void *b, void *names)
{
    return scan_key_cmp((const char *)names + ((const SubDir *)a)->off + 1, true,
                        (const char *)names + ((const SubDir *)b)->off + 1, true);
}

/* "<rel>/<name>" into w->rel (the caller has checked it fits); returns the old length. */
static size_t scan_push(Walk *w, const char *name)
{
    size_t base = strlen(w->rel);
    if (base > 0)
        w->rel[base] = '/';
    strcpy(w->rel + base + (base > 0), name);
    return base;
}

/* Add one name of the directory being listed (w->rel) to `l`, or skip it with the reason logged. */
static bool scan_list_one(Walk *w, int dirfd, const struct dirent *de, Listing *l, Error *err)
{
    const char *name = de->d_name;
    size_t base = strlen(w->rel);
    if (base + 1 + strlen(name) + 1 > sizeof(w->rel)) {
        log_warn("skipping an entry of '%s' whose path is longer than %d bytes: '%s/%s'", w->root,
                 PATH_MAX, w->rel, name);
        w->stats->skipped++;
        return true;
    }
    if (!scan_name_ok(name)) {
        log_warn("skipping an entry of '%s/%s': its name contains control characters, which "
                 "backups cannot carry safely",
                 w->root, w->rel);
        w->stats->skipped++;
        return true;
    }
    unsigned char type = de->d_type;
    if (type == DT_UNKNOWN) { /* the filesystem does not say: ask */
        struct stat sb;
        if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) { /* ENOENT: vanished during the walk */
                log_warn("skipping '%s/%s%s%s': %s", w->root, w->rel, base ? "/" : "", name,
                         strerror(errno));
                w->stats->skipped++;
            }
            return true;
        }
        type = S_ISREG(sb.st_mode)   ? DT_REG
               : S_ISDIR(sb.st_mode) ? DT_DIR
               : S_ISLNK(sb.st_mode) ? DT_LNK
                                     : DT_FIFO;
    }
    scan_push(w, name);
    bool excluded = w->cfg->exclude_count > 0 &&
                    exclude_match(w->cfg->excludes, w->cfg->exclude_count, w->rel, type == DT_DIR);
    if (!excluded && type != DT_REG && type != DT_DIR && type != DT_LNK) {
        log_warn("skipping '%s/%s': special files (devices, fifos, sockets) are not backed up",
                 w->root, w->rel);
        w->stats->skipped++;
    }
    w->rel[base] = '\0';
    if (excluded || (type != DT_REG && type != DT_DIR && type != DT_LNK))
        return true;
    if (l->names_len > UINT32_MAX - PATH_MAX)
        return error_set(err, ERR_FAIL, "directory '%s/%s' has too many entries to back up",
                         w->root, w->rel);
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->offs = x_realloc(l->offs, l->cap * sizeof(uint32_t));
    }
    l->offs[l->count++] = (uint32_t)l->names_len;
    char kind = type == DT_REG ? KIND_FILE : type == DT_DIR ? KIND_DIR : KIND_SYMLINK;
    buf_append(&l->names, &l->names_len, &l->names_cap, &kind, 1);
    buf_append(&l->names, &l->names_len, &l->names_cap, name, strlen(name) + 1);
    l->dir_count += kind == KIND_DIR;
    return true;
}

/* false: the directory cannot be read (logged) or `err` is set (*failed). */
static bool scan_list(Walk *w, int dirfd, Listing *l, bool *failed, Error *err)
{
    *failed = false;
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        log_warn("cannot read directory '%s/%s': %s", w->root, w->rel, strerror(errno));
        w->stats->skipped++;
        return false;
    }
    struct dirent *de;
    while (!*failed && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            *failed = !scan_list_one(w, dirfd, de, l, err);
    closedir(d);
    return !*failed;
}

static bool scan_dir(Walk *w, int dirfd, Error *err);

/* Stat the child w->rel (`name` in dirfd) and hand its entry over; a directory is opened for its
 * subtree, which comes later (*fd). A child that vanished, or turned into or out of a directory,
 * since the listing is skipped. */
static bool scan_emit_child(Walk *w, int dirfd, const char *name, char kind, int *fd, Error *err)
{
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
            log_warn("skipping '%s/%s': %s", w->root, w->rel, strerror(errno));
            w->stats->skipped++;
        }
        return true;
    }
    if (S_ISDIR(sb.st_mode) != (kind == KIND_DIR) ||
        !(S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode) || S_ISLNK(sb.st_mode))) {
        log_warn("skipping '%s/%s': it changed type during the walk", w->root, w->rel);
        w->stats->skipped++;
        return true;
    }
    ManifestEntry e;
    memset(&e, 0, sizeof(e));
    e.path = w->rel;
    e.source = w->source;
    scan_fill(&e, &sb);
    char target[PATH_MAX];
    if (S_ISREG(sb.st_mode)) {
        e.type = ENTRY_FILE;
        e.size = (uint64_t)sb.st_size;
        w->stats->files++;
        w->stats->bytes += e.size;
        if (sb.st_nlink > 1)
            w->stats->hardlinked++;
    } else if (S_ISLNK(sb.st_mode)) {
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n <= 0) {
            if (errno != ENOENT) {
                log_warn("skipping symlink '%s/%s': %s", w->root, w->rel, strerror(errno));
                w->stats->skipped++;
            }
            return true;
        }
        target[n] = '\0';
        if (!scan_name_ok(target)) {
            log_warn("skipping symlink '%s/%s': its target contains control characters", w->root,
                     w->rel);
            w->stats->skipped++;
            return true;
        }
        e.type = ENTRY_SYMLINK;
        e.target = target;
        w->stats->symlinks++;
    } else {
        *fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (*fd < 0) {
            if (errno != ENOENT) {
                log_warn("skipping directory '%s/%s': %s", w->root, w->rel, strerror(errno));
                w->stats->skipped++;
            }
            return true;
        }
        e.type = ENTRY_DIR;
        w->stats->dirs++;
    }
    return w->emit(w->ctx, &e, err);
}

/* The subdirectory `name` in `dirs` (sorted by their subtrees' order). */
static SubDir *scan_subdir_find(SubDir *dirs, size_t count, const char *names, const char *name)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = scan_key_cmp(name, true, names + dirs[mid].off + 1, true);
        if (c == 0)
            return &dirs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool scan_dir(Walk *w, int dirfd, Error *err)
{
    Listing l;
    memset(&l, 0, sizeof(l));
    bool failed;
    if (!scan_list(w, dirfd, &l, &failed, err)) {
        free(l.offs);
        free(l.names);
        return !failed;
    }
    /* The entries in name order, and the subtrees (of the subdirectories) in theirs, merged. */
    if (l.count > 1)
        qsort_r(l.offs, l.count, sizeof(uint32_t), scan_name_cmp, l.names);
    SubDir *dirs = x_malloc((l.dir_count + 1) * sizeof(SubDir));
    size_t n_dirs = 0;
    for (size_t i = 0; i < l.count; i++)
        if (l.names[l.offs[i]] == KIND_DIR)
            dirs[n_dirs++] = (SubDir){l.offs[i], -1};
    if (n_dirs > 1)
        qsort_r(dirs, n_dirs, sizeof(SubDir), scan_subtree_cmp, l.names);
    bool ok = true;
    size_t i = 0, j = 0;
    while (ok && (i < l.count || j < n_dirs)) {
        const char *entry = i < l.count ? l.names + l.offs[i] + 1 : NULL;
        bool subtree =
            entry == NULL ||
            (j < n_dirs && scan_key_cmp(entry, false, l.names + dirs[j].off + 1, true) > 0);
        if (subtree) {
            SubDir *d = &dirs[j++];
            if (d->fd >= 0) {
                size_t base = scan_push(w, l.names + d->off + 1);
                ok = scan_dir(w, d->fd, err);
                w->rel[base] = '\0';
                close(d->fd);
                d->fd = -1;
            }
            continue;
        }
        char kind = l.names[l.offs[i]];
        int fd = -1;
        size_t base = scan_push(w, entry);
        ok = scan_emit_child(w, dirfd, entry, kind, &fd, err);
        w->rel[base] = '\0';
        if (fd >= 0) { /* its subtree comes later, after the names in between */
            SubDir *d = scan_subdir_find(dirs, n_dirs, l.names, entry);
            if (d != NULL)
                d->fd = fd;
            else
                close(fd);
        }
        i++;
    }
    for (size_t k = 0; k < n_dirs; k++) /* after a failure */
        if (dirs[k].fd >= 0)
            close(dirs[k].fd);
    free(dirs);
    free(l.offs);
    free(l.names);
    return ok;
}

static int scan_source_cmp(const void *a, const void *b)
{
    const Source *x = *(const Source *const *)a, *y = *(const Source *const *)b;
    return strcmp(x->name, y->name);
}

bool scan_walk(const Config *cfg, Manifest *m, ScanEmit emit, void *ctx, ScanStats *stats,
               Error *err)
{
    memset(stats, 0, sizeof(*stats));
    Walk *w = x_calloc(1, sizeof(*w));
    /* Sources in manifest order: by name. */
    const Source **order = x_calloc(cfg->source_count + 1, sizeof(Source *));
    for (size_t i = 0; i < cfg->source_count; i++)
        order[i] = &cfg->sources[i];
    qsort(order, cfg->source_count, sizeof(Source *), scan_source_cmp);
    bool ok = true;
    for (size_t i = 0; ok && i < cfg->source_count; i++) {
        const Source *s = order[i];
        struct stat sb;
        /* The root itself may be a symlink to the real directory: follow it, only it. */
        if (stat(s->path, &sb) != 0) {
            if (errno == ENOENT)
                /* The original script's roots are often absent: only a notice there. */
                log_msg(cfg->openclaw ? LOG_INFO : LOG_WARN,
                        "source '%s' (%s) does not exist; skipping it", s->name, s->path);
            else
                ok = error_sys(err, "source '%s' (%s)", s->name, s->path);
            continue;
        }
        ManifestEntry e;
        memset(&e, 0, sizeof(e));
        e.path = ".";
        scan_fill(&e, &sb);
        if (S_ISREG(sb.st_mode)) {
            e.type = ENTRY_FILE;
            e.size = (uint64_t)sb.st_size;
            e.source = manifest_source_index(m, s->name);
            ok = emit(ctx, &e, err);
            stats->files++;
            stats->bytes += e.size;
        } else if (S_ISDIR(sb.st_mode)) {
            int fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) {
                ok = error_sys(err, "source '%s' (%s)", s->name, s->path);
                continue;
            }
            e.type = ENTRY_DIR;
            e.source = manifest_source_index(m, s->name);
            w->cfg = cfg;
            w->emit = emit;
            w->ctx = ctx;
            w->source = e.source;
            w->root = s->path;
            w->stats = stats;
            w->rel[0] = '\0';
            ok = emit(ctx, &e, err) && scan_dir(w, fd, err);
            close(fd);
        } else {
            log_warn("source '%s' (%s) is neither a directory nor a file; skipping it", s->name,
                     s->path);
        }
    }
    free(order);
    free(w);
    if (ok && stats->hardlinked > 0)
        log_warn("%llu files have hard links: each path is stored and restored as a separate "
                 "copy",
                 (unsigned long long)stats->hardlinked);
    return ok;
}

static bool scan_add(void *ctx, const ManifestEntry *e, Error *err)
{
    (void)err;
    manifest_add(ctx, e);
    return true;
}

bool scan_sources(const Config *cfg, Manifest *m, ScanStats *stats, Error *err)
{
    if (!scan_walk(cfg, m, scan_add, m, stats, err))
        return false;
    manifest_sort(m); /* a check: the walk hands entries over in order */
    return true;
}
