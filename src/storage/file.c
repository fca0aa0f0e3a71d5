/*
 * file:// backend. Objects are files under a root directory. A write goes to a temporary file in
 * the object's directory (".<name>.tmp-XXXXXX") that is fsynced and renamed into place when the
 * sink finishes, then the directory is fsynced, so an object is either absent or complete. The
 * writer holds an flock on its temporary file: one left by a writer that died (no lock) is
 * removed by the next write of the same object, one still being written never is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfsync/util.h"
#include "storage.intern.h"

#define FILE_READ_CHUNK (1024 * 1024)

typedef struct FileStorage {
    Storage base;
    char *root;
} FileStorage;

typedef struct FileWrite {
    Sink base;
    int fd;
    char *tmp;
    char *final;
    bool done;
} FileWrite;

static char *file_full(FileStorage *fs, const char *path)
{
    return path_join(fs->root, path);
}

static bool file_fsync_dir(const char *path, Error *err)
{
    char *copy = x_strdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return error_sys(err, "open directory of '%s'", path);
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 && errno != EINVAL)
        return error_sys(err, "fsync directory of '%s'", path);
    return true;
}

static bool file_write_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    FileWrite *w = (FileWrite *)sink;
    return fs_write_all(w->fd, data, size) || error_sys(err, "write '%s'", w->tmp);
}

static bool file_write_finish(Sink *sink, Error *err)
{
    FileWrite *w = (FileWrite *)sink;
    if (fsync(w->fd) != 0)
        return error_sys(err, "fsync '%s'", w->tmp);
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0)
        return error_sys(err, "close '%s'", w->tmp);
    if (rename(w->tmp, w->final) != 0)
        return error_sys(err, "rename '%s' to '%s'", w->tmp, w->final);
    w->done = true;
    return file_fsync_dir(w->final, err);
}

static void file_write_free(Sink *sink)
{
    FileWrite *w = (FileWrite *)sink;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->done)
        unlink(w->tmp);
    free(w->tmp);
    free(w->final);
    free(w);
}

static const SinkOps file_write_ops = {file_write_write, file_write_finish, file_write_free};

/* Temporary files of earlier writes of the same object whose writer is gone (killed half-way):
 * they would only take space. A live writer holds the lock on its own (file_tmp_create). */
static void file_sweep_tmp(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char *want = str_printf(".%s.tmp-", base);
    size_t n = strlen(want);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, want, n) != 0 || strlen(de->d_name) != n + 6)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            unlinkat(dirfd(d), de->d_name, 0);
        close(fd); /* releases the lock */
    }
    closedir(d);
    free(want);
}

/* A locked temporary file for `final`. A sweeper may take the lock between mkostemp and flock
 * and remove the file: then it is no longer the one at its name, and another is made. */
static int file_tmp_create(const char *tmpl, char **tmp_out, Error *err)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        char *tmp = x_strdup(tmpl);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            error_sys(err, "create '%s'", tmp);
            free(tmp);
            return -1;
        }
        struct stat a, b;
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 && stat(tmp, &b) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            *tmp_out = tmp;
            return fd;
        }
        close(fd);
        free(tmp);
    }
    error_set(err, ERR_IO, "create a temporary file like '%s': it keeps being removed", tmpl);
    return -1;
}

static Sink *file_write_open(Storage *st, const char *path, Error *err)
{
    FileStorage *fs = (FileStorage *)st;
    char *final = file_full(fs, path);
    char *dir = x_strdup(final);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    if (!fs_mkdir_p(dir, 0755, err)) {
        free(dir);
        free(final);
        return NULL;
    }
    file_sweep_tmp(dir, slash + 1);
    char *tmpl = str_printf("%s/.%s.tmp-XXXXXX", dir, slash + 1), *tmp = NULL;
    free(dir);
    int fd = file_tmp_create(tmpl, &tmp, err);
    free(tmpl);
    if (fd < 0) {
        free(final);
        return NULL;
    }
    fchmod(fd, 0644);
    FileWrite *w = x_calloc(1, sizeof(*w));
    w->base.ops = &file_write_ops;
    w->fd = fd;
    w->tmp = tmp;
    w->final = final;
    return &w->base;
}

typedef struct FileRead {
    Reader base;
    int fd;
    char *path;
} FileRead;

static ssize_t file_read_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    FileRead *r = (FileRead *)reader;
    for (;;) {
        ssize_t n = read(r->fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR) {
            error_sys(err, "read '%s'", r->path);
            return -1;
        }
    }
}

static void file_read_free(Reader *reader)
{
    FileRead *r = (FileRead *)reader;
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r);
}

static const ReaderOps file_read_ops = {file_read_read, file_read_free};

static Reader *file_read_open(Storage *st, const char *path, uint64_t offset, Error *err)
{
    FileStorage *fs = (FileStorage *)st;
    char *full = file_full(fs, path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            error_set(err, ERR_NOT_FOUND, "'%s' does not exist", full);
        else
            error_sys(err, "open '%s'", full);
        free(full);
        return NULL;
    }
    if (offset > 0 && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        error_sys(err, "seek '%s'", full);
        close(fd);
        free(full);
        return NULL;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    FileRead *r = x_calloc(1, sizeof(*r));
    r->base.ops = &file_read_ops;
    r->fd = fd;
    r->path = full;
    return &r->base;
}

static bool file_info(Storage *st, const char *path, StorageInfo *info, Error *err)
{
    char *full = file_full((FileStorage *)st, path);
    struct stat sb;
    bool ok = true;
    memset(info, 0, sizeof(*info));
    if (stat(full, &sb) == 0) {
        info->exists = S_ISREG(sb.st_mode);
        info->size = (uint64_t)sb.st_size;
    } else if (errno != ENOENT && errno != ENOTDIR) {
        ok = error_sys(err, "stat '%s'", full);
    }
    free(full);
    return ok;
}

/* Walk `dir` (target-relative `rel`), reporting regular files whose path starts with prefix. */
static bool file_list_dir(FileStorage *fs, const char *rel, const char *prefix, StorageListFn fn,
                          void *ctx, Error *err)
{
    char *full = rel[0] ? path_join(fs->root, rel) : x_strdup(fs->root);
    DIR *d = opendir(full);
    if (d == NULL) {
        bool ok = (errno == ENOENT || errno == ENOTDIR) ? true : error_sys(err, "list '%s'", full);
        free(full);
        return ok;
    }
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* ".", "..", and temporary files of unfinished writes */
        char *child = rel[0] ? str_printf("%s/%s", rel, de->d_name) : x_strdup(de->d_name);
        size_t clen = strlen(child), plen = strlen(prefix);
        /* Descend only where the prefix can still match. */
        bool relevant = strncmp(child, prefix, clen < plen ? clen : plen) == 0;
        if (relevant) {
            struct stat sb;
            char *cfull = path_join(fs->root, child);
            if (lstat(cfull, &sb) == 0) {
                if (S_ISDIR(sb.st_mode))
                    ok = file_list_dir(fs, child, prefix, fn, ctx, err);
                else if (S_ISREG(sb.st_mode) && clen >= plen)
                    fn(child, (uint64_t)sb.st_size, ctx);
            }
            free(cfull);
        }
        free(child);
    }
    closedir(d);
    free(full);
    return ok;
}

static bool file_list(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err)
{
    return file_list_dir((FileStorage *)st, "", prefix, fn, ctx, err);
}

static bool file_remove(Storage *st, const char *path, Error *err)
{
    char *full = file_full((FileStorage *)st, path);
    bool ok = true;
    if (unlink(full) != 0 && errno != ENOENT)
        ok = error_sys(err, "delete '%s'", full);
    free(full);
    return ok;
}

static char *file_describe(Storage *st, const char *path)
{
    FileStorage *fs = (FileStorage *)st;
    return str_printf("file://%s/%s", fs->root, path);
}

static void file_free(Storage *st)
{
    FileStorage *fs = (FileStorage *)st;
    free(fs->root);
    free(fs);
}

static const StorageDriver file_driver = {
    .scheme = "file",
    .write_open = file_write_open,
    .read_open = file_read_open,
    .info = file_info,
    .list = file_list,
    .remove = file_remove,
    .describe = file_describe,
    .free = file_free,
};

Storage *storage_file_open(const char *root, Error *err)
{
    if (root == NULL || root[0] != '/') {
        error_set(err, ERR_USAGE, "file target must be an absolute path");
        return NULL;
    }
    struct stat sb;
    if (stat(root, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        error_set(err, ERR_USAGE, "file target '%s' is not a directory", root);
        return NULL;
    }
    FileStorage *fs = x_calloc(1, sizeof(*fs));
    fs->base.driver = &file_driver;
    fs->root = x_strdup(root);
    return &fs->base;
}
