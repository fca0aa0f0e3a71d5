/* The local lock of a target (agent.intern.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"

#define LOCK_POLL_MS 200

struct AgentLock {
    int fd;
};

/* "backup (pid 12) since 2026-…", from the lock file; the holder writes it once it has the lock. */
static void lock_holder(int fd, char *out, size_t cap)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    snprintf(out, cap, "%s", buf[0] ? buf : "another hfsync");
}

AgentLock *agent_lock_take(const Config *cfg, const char *what, int64_t wait_sec, Error *err)
{
    char *dir = agent_cache_dir(cfg, err);
    if (dir == NULL)
        return NULL;
    char *path = path_join(dir, "lock");
    free(dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_sys(err, "open the lock file '%s'", path);
        free(path);
        return NULL;
    }
    free(path);
    int64_t deadline = time_monotonic_ns() + wait_sec * 1000000000LL;
    bool told = false;
    char holder[256];
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            error_sys(err, "lock the target's lock file");
            close(fd);
            return NULL;
        }
        lock_holder(fd, holder, sizeof(holder));
        if (time_monotonic_ns() >= deadline) {
            close(fd);
            error_set(err, ERR_BUSY,
                      "%s refused: another hfsync is working on this target on this machine (%s)%s",
                      what, holder, wait_sec > 0 ? "; waited HFSYNC_LOCK_TIMEOUT" : "");
            error_hint(err, "try again when it is done; HFSYNC_LOCK_TIMEOUT sets how long to wait");
            return NULL;
        }
        if (!told)
            log_info("%s: waiting for hfsync %s to finish (up to %llds)", what, holder,
                     (long long)wait_sec);
        told = true;
        struct timespec ts = {0, LOCK_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    char when[32];
    time_iso8601(time_now_ns() / 1000000000, when);
    char *line = str_printf("%s (pid %d) since %s\n", what, (int)getpid(), when);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, strlen(line), 0) < 0)
        log_debug("lock file: %s", strerror(errno)); /* only the messages of others suffer */
    free(line);
    AgentLock *lock = x_malloc(sizeof(*lock));
    lock->fd = fd;
    return lock;
}

void agent_lock_release(AgentLock *lock)
{
    if (lock == NULL)
        return;
    if (ftruncate(lock->fd, 0) != 0)
        log_debug("lock file: %s", strerror(errno));
    close(lock->fd); /* releases the flock */
    free(lock);
}
