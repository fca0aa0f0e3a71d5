/* Process supervision: signals through a signalfd, children in their own groups, reaping. */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hfsync/log.h"

const int sup_forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
const int sup_forwarded_count = (int)(sizeof(sup_forwarded) / sizeof(sup_forwarded[0]));

bool sup_init(Supervisor *s, Error *err)
{
    memset(s, 0, sizeof(*s));
    s->sfd = -1;
    sigemptyset(&s->handled);
    sigaddset(&s->handled, SIGCHLD);
    for (int i = 0; i < sup_forwarded_count; i++)
        sigaddset(&s->handled, sup_forwarded[i]);
    if (sigprocmask(SIG_BLOCK, &s->handled, &s->old_mask) != 0)
        return error_sys(err, "block signals");
    s->sfd = signalfd(-1, &s->handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sfd < 0) {
        error_sys(err, "signalfd");
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        return false;
    }
    /* As PID 1 every orphan of the namespace comes to us anyway; elsewhere ask for the app's. */
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        log_debug("cannot become a child subreaper: %s", strerror(errno));
    s->pgrp = getpgrp();
    return true;
}

void sup_close(Supervisor *s)
{
    if (s->sfd >= 0) {
        close(s->sfd);
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    }
    s->sfd = -1;
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void sup_child(Supervisor *s, char *const *argv, const SpawnOpts *opts, int report_fd)
{
    setpgid(0, 0);
    if (opts->take_terminal && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == s->pgrp) {
        /* tcsetpgrp from a background group raises SIGTTOU unless it is blocked. */
        sigset_t ttou;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        sigprocmask(SIG_BLOCK, &ttou, NULL);
        tcsetpgrp(STDIN_FILENO, getpid());
    }
    if (opts->stdout_null) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0 && fd != STDOUT_FILENO) {
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
    }
    sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    if (opts->search_path)
        execvp(argv[0], argv);
    else
        execv(argv[0], argv);
    int e = errno;
    ssize_t n = write(report_fd, &e, sizeof(e));
    (void)n;
    _exit(127);
}

pid_t sup_spawn(Supervisor *s, char *const *argv, const SpawnOpts *opts, Error *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        error_sys(err, "pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        error_sys(err, "fork");
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        sup_child(s, argv, opts, pfd[1]);
    }
    close(pfd[1]);
    /* Also here, so the group exists whichever of the two runs first. The child may have
     * exec'd already (EACCES): then it did this itself. */
    setpgid(pid, pid);
    int e = 0;
    ssize_t n;
    while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR) {
    }
    close(pfd[0]);
    if (n != (ssize_t)sizeof(e))
        return pid; /* the pipe closed on exec: it runs */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    errno = e;
    error_sys(err, "cannot run '%s'", argv[0]);
    if (e == ENOENT)
        err->code = ERR_NOT_FOUND;
    return -1;
}

int sup_wait(Supervisor *s, int timeout_ms, int *signals, int max)
{
    struct pollfd p = {.fd = s->sfd, .events = POLLIN};
    int rc = poll(&p, 1, timeout_ms);
    if (rc <= 0)
        return 0;
    int count = 0;
    struct signalfd_siginfo si;
    while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (count < max)
            signals[count++] = (int)si.ssi_signo;
    }
    return count;
}

bool sup_reap(pid_t *pid, int *status)
{
    for (;;) {
        pid_t p = waitpid(-1, status, WNOHANG);
        if (p > 0) {
            *pid = p;
            return true;
        }
        if (p < 0 && errno == EINTR)
            continue;
        return false;
    }
}
