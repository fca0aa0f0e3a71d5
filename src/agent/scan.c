/*
 * Walk the sources into a manifest. Uses directory file descriptors (openat/fstatat) so each
 * entry costs one system call, and never follows a symlink below a source root.
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
    Manifest *m;
    uint16_t source;
    const char *root; /* the source's local path, for messages */
    ScanStats *stats;
    char rel[PATH_MAX]; /* path of the current directory relative to the root, "" at the root */
} Walk;

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

static bool scan_dir(Walk *w, int dirfd, Error *err);

static bool scan_entry(Walk *w, int dirfd, const char *name, Error *err)
{
    size_t base = strlen(w->rel);
    size_t need = base + 1 + strlen(name) + 1;
    if (need > sizeof(w->rel)) {
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
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return true; /* vanished during the walk */
        log_warn("skipping '%s/%s%s%s': %s", w->root, w->rel, base ? "/" : "", name,
                 strerror(errno));
        w->stats->skipped++;
        return true;
    }
    if (base > 0)
        w->rel[base] = '/';
    strcpy(w->rel + base + (base > 0), name);

    bool ok = true;
    bool is_dir = S_ISDIR(sb.st_mode);
    if (w->cfg->exclude_count > 0 &&
        exclude_match(w->cfg->excludes, w->cfg->exclude_count, w->rel, is_dir))
        goto out;

    ManifestEntry e;
    memset(&e, 0, sizeof(e));
    e.source = w->source;
    e.path = w->rel;
    scan_fill(&e, &sb);
    if (S_ISREG(sb.st_mode)) {
        e.type = ENTRY_FILE;
        e.size = (uint64_t)sb.st_size;
        manifest_add(w->m, &e);
        w->stats->files++;
        w->stats->bytes += e.size;
        if (sb.st_nlink > 1)
            w->stats->hardlinked++;
    } else if (S_ISLNK(sb.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
        if (n <= 0) {
            if (errno != ENOENT) {
                log_warn("skipping symlink '%s/%s': %s", w->root, w->rel, strerror(errno));
                w->stats->skipped++;
            }
            goto out;
        }
        target[n] = '\0';
        if (!scan_name_ok(target)) {
            log_warn("skipping symlink '%s/%s': its target contains control characters", w->root,
                     w->rel);
            w->stats->skipped++;
            goto out;
        }
        e.type = ENTRY_SYMLINK;
        e.target = target;
        manifest_add(w->m, &e);
        w->stats->symlinks++;
    } else if (is_dir) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT) {
                log_warn("skipping directory '%s/%s': %s", w->root, w->rel, strerror(errno));
                w->stats->skipped++;
            }
            goto out;
        }
        e.type = ENTRY_DIR;
        manifest_add(w->m, &e);
        w->stats->dirs++;
        ok = scan_dir(w, fd, err);
        close(fd);
    } else {
        log_warn("skipping '%s/%s': special files (devices, fifos, sockets) are not backed up",
                 w->root, w->rel);
        w->stats->skipped++;
    }
out:
    w->rel[base] = '\0';
    return ok;
}

static bool scan_dir(Walk *w, int dirfd, Error *err)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        log_warn("cannot read directory '%s/%s': %s", w->root, w->rel, strerror(errno));
        w->stats->skipped++;
        return true;
    }
    bool ok = true;
    struct dirent *de;
    errno = 0;
    while (ok && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        ok = scan_entry(w, dirfd, de->d_name, err);
    }
    closedir(d);
    return ok;
}

bool scan_sources(const Config *cfg, Manifest *m, ScanStats *stats, Error *err)
{
    memset(stats, 0, sizeof(*stats));
    Walk *w = x_calloc(1, sizeof(*w));
    bool ok = true;
    for (size_t i = 0; ok && i < cfg->source_count; i++) {
        const Source *s = &cfg->sources[i];
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
        e.source = manifest_source_index(m, s->name);
        e.path = ".";
        scan_fill(&e, &sb);
        if (S_ISREG(sb.st_mode)) {
            e.type = ENTRY_FILE;
            e.size = (uint64_t)sb.st_size;
            manifest_add(m, &e);
            stats->files++;
            stats->bytes += e.size;
        } else if (S_ISDIR(sb.st_mode)) {
            int fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) {
                ok = error_sys(err, "source '%s' (%s)", s->name, s->path);
                continue;
            }
            e.type = ENTRY_DIR;
            manifest_add(m, &e);
            w->cfg = cfg;
            w->m = m;
            w->source = e.source;
            w->root = s->path;
            w->stats = stats;
            w->rel[0] = '\0';
            ok = scan_dir(w, fd, err);
            close(fd);
        } else {
            log_warn("source '%s' (%s) is neither a directory nor a file; skipping it", s->name,
                     s->path);
        }
    }
    free(w);
    if (ok && stats->hardlinked > 0)
        log_warn("%llu files have hard links: each path is stored and restored as a separate "
                 "copy",
                 (unsigned long long)stats->hardlinked);
    if (ok)
        manifest_sort(m);
    return ok;
}
