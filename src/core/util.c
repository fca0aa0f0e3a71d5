#include "hfsync/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void x_oom(size_t size)
{
    fprintf(stderr, "hfsync: out of memory allocating %zu bytes\n", size);
    abort();
}

void *x_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        x_oom(size);
    return p;
}

void *x_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        x_oom(count * size);
    return p;
}

void *x_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        x_oom(size);
    return p;
}

char *x_strdup(const char *s)
{
    return x_strndup(s, strlen(s));
}

char *x_strndup(const char *s, size_t n)
{
    char *p = x_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        x_oom(0);
    return out;
}

bool str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

void buf_append(char **data, size_t *len, size_t *cap, const void *bytes, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = *cap ? *cap : 256;
        while (want < *len + n + 1)
            want *= 2;
        *data = x_realloc(*data, want);
        *cap = want;
    }
    if (n > 0)
        memcpy(*data + *len, bytes, n);
    *len += n;
    (*data)[*len] = '\0';
}

void hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

char *path_join(const char *a, const char *b)
{
    if (a == NULL || *a == '\0')
        return x_strdup(b);
    if (b == NULL || *b == '\0')
        return x_strdup(a);
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    return str_printf("%.*s/%s", (int)la, a, b);
}

bool fs_mkdir_p(const char *path, unsigned mode, Error *err)
{
    char *tmp = x_strdup(path);
    bool ok = true;
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(tmp, mode) != 0 && errno != EEXIST) {
                ok = error_sys(err, "create directory '%s'", tmp);
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    if (ok) {
        struct stat st;
        if (stat(path, &st) != 0)
            ok = error_sys(err, "create directory '%s'", path);
        else if (!S_ISDIR(st.st_mode))
            ok = error_set(err, ERR_IO, "'%s' exists and is not a directory", path);
    }
    free(tmp);
    return ok;
}

static int fs_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (rc != 0 && errno != ENOENT)
        return -1;
    return 0;
}

static int fs_open_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D && (st->st_mode & S_IRWXU) != S_IRWXU)
        chmod(path, (st->st_mode & 07777) | S_IRWXU);
    return 0;
}

bool fs_remove_tree(const char *path, Error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? true : error_sys(err, "remove '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return error_sys(err, "remove '%s'", path);
        return true;
    }
    /* Directories without write/exec permission (mode 0500 in a restored tree) cannot be emptied
     * by a non-root user: make every directory accessible on a first pass, top down. */
    if (chmod(path, (st.st_mode & 07777) | S_IRWXU) == 0)
        nftw(path, fs_open_dir, 32, FTW_PHYS);
    if (nftw(path, fs_remove_one, 32, FTW_DEPTH | FTW_PHYS) != 0) {
        return error_sys(err, "remove tree '%s'", path);
    }
    return true;
}

bool fs_read_file(const char *path, size_t max_size, char **out, size_t *out_size, Error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return error_set(err, ERR_NOT_FOUND, "'%s' does not exist", path);
        return error_sys(err, "open '%s'", path);
    }
    size_t cap = 4096, len = 0;
    char *buf = x_malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max_size) {
                free(buf);
                close(fd);
                return error_set(err, ERR_CORRUPT, "'%s' is larger than %zu bytes", path, max_size);
            }
            cap *= 2;
            buf = x_realloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            close(fd);
            return error_sys(err, "read '%s'", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > max_size) {
        free(buf);
        return error_set(err, ERR_CORRUPT, "'%s' is larger than %zu bytes", path, max_size);
    }
    buf[len] = '\0';
    *out = buf;
    if (out_size != NULL)
        *out_size = len;
    return true;
}

bool fs_write_atomic(const char *path, const void *data, size_t size, Error *err)
{
    char *tmp = str_printf("%s.tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = false;
    if (fd < 0) {
        error_sys(err, "create '%s'", tmp);
        goto out;
    }
    if (!fs_write_all(fd, data, size)) {
        error_sys(err, "write '%s'", tmp);
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        error_sys(err, "write '%s'", tmp);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        error_sys(err, "rename '%s' to '%s'", tmp, path);
        unlink(tmp);
        goto out;
    }
    ok = true;
out:
    free(tmp);
    return ok;
}

bool fs_write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += n;
        size -= (size_t)n;
    }
    return true;
}

bool fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int64_t time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t time_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void time_iso8601(int64_t epoch_sec, char out[32])
{
    time_t t = (time_t)epoch_sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

void time_stamp(int64_t epoch_sec, char out[20])
{
    time_t t = (time_t)epoch_sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 20, "%Y%m%d-%H%M%S", &tm);
}

bool time_parse_iso8601(const char *text, int64_t *epoch_sec)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return false;
    if (*rest == '.') /* fractional seconds are ignored */
        while (*++rest >= '0' && *rest <= '9')
            ;
    if (*rest != '\0' && strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return false;
    *epoch_sec = (int64_t)timegm(&tm);
    return true;
}

void size_human(uint64_t bytes, char out[32])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, 32, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, 32, "%.1f %s", v, units[u]);
}
