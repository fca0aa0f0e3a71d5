/*
 * The agent: `hfsync entrypoint -- CMD…` and `hfsync daemon` (agent.h: agent_run).
 *
 * One thread supervises; it never does storage work itself, so it always answers signals and
 * reaps at once. Each restore and backup runs as a child process: this same binary re-executed
 * with the same configuration (`restore --if-needed`, `backup`), which holds the local lock and
 * writes its own result into the status file. That keeps a slow or stuck upload from delaying a
 * signal, and lets the final backup be bounded by killing it at the deadline: safe, because a
 * backup writes the pointer last, and every object it writes appears whole or not at all.
 * A second thread, the lease keeper, holds the writer lease while backups are enabled.
 *
 * The phases: RESTORE (the restore child, retried on failure) → RUN (the app and the periodic
 * backups) → FINAL (after the app exits or a stop: wait for a backup in flight, then the final
 * backup, both within HFSYNC_FINAL_BACKUP_TIMEOUT) → DONE.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "supervise.h"

#define NS_PER_SEC 1000000000LL
#define RESTORE_RETRY_BASE_SEC 5
#define BACKOFF_BASE_SEC 10
#define SOON_AFTER_START_SEC 2
#define JITTER_MAX_SEC 30

typedef enum Phase { PHASE_RESTORE, PHASE_RUN, PHASE_FINAL, PHASE_DONE } Phase;
typedef enum JobKind { JOB_NONE, JOB_RESTORE, JOB_BACKUP, JOB_FINAL } JobKind;

typedef struct Agent {
    const Config *cfg;
    const AgentOpts *opts;
    Supervisor sup;
    bool daemon;
    char *exe; /* what to exec for a child hfsync */
    Phase phase;
    int exit_code;
    int64_t started_wall;

    pid_t app;
    bool app_exited;
    bool stopping; /* SIGTERM or SIGINT received */
    int stop_signal;
    int64_t stop_deadline; /* monotonic ns: SIGKILL the app after */
    bool app_killed;

    pid_t job;
    JobKind job_kind;
    int64_t job_start; /* monotonic ns */
    bool job_killed;
    int restore_attempts;
    int64_t restore_retry_at; /* monotonic ns, 0: now */

    int64_t next_backup; /* monotonic ns, 0: none scheduled */
    unsigned failures;   /* consecutive failed cycles */
    unsigned retries;    /* cycles run as a retry after a failure */
    unsigned cycles;
    char last_result[32];
    int last_exit;
    int64_t last_at_wall, last_duration_ms;
    char paused[600]; /* why backups do not run now; "" when they do */

    int64_t final_deadline;
    bool final_started;
    int final_exit; /* -1: none */

    Lease lease;
    LeaseKeeper *keeper;
    uint64_t acquisitions_seen;
    bool recorded; /* agent.json names this agent */
    uint64_t rng;
} Agent;

static int64_t mono(void)
{
    return time_monotonic_ns();
}

static int64_t wall(void)
{
    return time_now_ns() / 1000000000;
}

/* "SIGTERM" */
static const char *signal_name(int sig, char buf[16])
{
    const char *name = sigabbrev_np(sig);
    snprintf(buf, 16, "SIG%s", name != NULL ? name : "?");
    return buf;
}

/* Exit status of a wait status, shell style: 128 + signal when killed. */
static int wait_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

/* A little jitter, so many agents started together do not back up in step. */
static int64_t agent_jitter_ns(Agent *a)
{
    int64_t max_ms = a->cfg->interval_sec * 100; /* a tenth of the interval */
    if (max_ms > JITTER_MAX_SEC * 1000)
        max_ms = JITTER_MAX_SEC * 1000;
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return max_ms > 0 ? (int64_t)(a->rng % (uint64_t)(max_ms + 1)) * 1000000LL : 0;
}

/* ---- status ---- */

static const char *agent_state(const Agent *a)
{
    switch (a->phase) {
    case PHASE_RESTORE:
        return a->stopping ? "stopping" : "restoring";
    case PHASE_RUN:
        if (a->stopping)
            return "stopping";
        if (a->job != 0)
            return "backing-up";
        return a->paused[0] != '\0' ? "paused" : "running";
    case PHASE_FINAL:
        return "final-backup";
    case PHASE_DONE:
        break;
    }
    return "stopped";
}

static void agent_status(Agent *a)
{
    char t[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", a->daemon ? "daemon" : "entrypoint");
    cJSON_AddStringToObject(o, "state", agent_state(a));
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    time_iso8601(a->started_wall, t);
    cJSON_AddStringToObject(o, "started_at_utc", t);
    time_iso8601(wall(), t);
    cJSON_AddStringToObject(o, "updated_at_utc", t);
    if (a->app > 0 && !a->app_exited)
        cJSON_AddNumberToObject(o, "app_pid", (double)a->app);
    cJSON_AddNumberToObject(o, "interval_sec", (double)a->cfg->interval_sec);
    if (a->next_backup != 0 && a->phase == PHASE_RUN && !a->stopping) {
        int64_t in = (a->next_backup - mono()) / NS_PER_SEC;
        time_iso8601(wall() + (in > 0 ? in : 0), t);
        cJSON_AddStringToObject(o, "next_backup_at_utc", t);
    }
    cJSON_AddNumberToObject(o, "cycles", a->cycles);
    cJSON_AddNumberToObject(o, "consecutive_failures", a->failures);
    cJSON_AddNumberToObject(o, "retries", a->retries);
    char reason[600];
    bool disabled = agent_backups_disabled(a->cfg, reason, sizeof(reason));
    cJSON_AddBoolToObject(o, "backups_enabled", !disabled);
    if (a->paused[0] != '\0')
        cJSON_AddStringToObject(o, "paused", a->paused);
    if (a->last_result[0] != '\0') {
        cJSON *c = cJSON_AddObjectToObject(o, "last_cycle");
        cJSON_AddStringToObject(c, "result", a->last_result);
        cJSON_AddNumberToObject(c, "exit_status", a->last_exit);
        time_iso8601(a->last_at_wall, t);
        cJSON_AddStringToObject(c, "at_utc", t);
        cJSON_AddNumberToObject(c, "duration_ms", (double)a->last_duration_ms);
    }
    cJSON *l = cJSON_AddObjectToObject(o, "lease");
    if (!lease_supported(&a->cfg->target)) {
        cJSON_AddStringToObject(l, "state", "not-used");
    } else if (a->keeper == NULL) {
        cJSON_AddStringToObject(l, "state", "not-held");
    } else {
        KeeperView v;
        keeper_view(a->keeper, &v);
        static const char *const names[] = {"pending", "held", "held-by-another", "error"};
        cJSON_AddStringToObject(l, "state", names[v.state]);
        if (v.state == KEEPER_FOREIGN) {
            char text[400];
            lease_describe(&v.holder, text, sizeof(text));
            cJSON_AddStringToObject(l, "holder", text);
        } else if (v.state == KEEPER_ERROR) {
            cJSON_AddStringToObject(l, "error", v.error);
        }
    }
    if (a->phase == PHASE_DONE)
        cJSON_AddNumberToObject(o, "exit_status", a->exit_code);
    char *text = cJSON_PrintUnformatted(o);
    agent_status_record(a->cfg, "agent", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

/* ---- children ---- */

static bool agent_start_job(Agent *a, JobKind kind)
{
    const AgentOpts *o = a->opts;
    size_t n = 0;
    char **argv = x_calloc(o->child_option_count + 4, sizeof(char *));
    argv[n++] = a->exe;
    for (size_t i = 0; i < o->child_option_count; i++)
        argv[n++] = o->child_options[i];
    argv[n++] = kind == JOB_RESTORE ? "restore" : "backup";
    if (kind == JOB_RESTORE)
        argv[n++] = "--if-needed";
    else if (kind == JOB_FINAL)
        argv[n++] = "--final"; /* never skipped; no prune: its time is short, pruning can wait */
    Error err = {0};
    SpawnOpts so = {.search_path = a->exe[0] != '/', .stdout_null = true};
    pid_t pid = sup_spawn(&a->sup, argv, &so, &err);
    free(argv);
    if (pid < 0) {
        log_error("%s", err.msg);
        return false;
    }
    a->job = pid;
    a->job_kind = kind;
    a->job_start = mono();
    a->job_killed = false;
    log_debug("started %s (pid %d)", kind == JOB_RESTORE ? "the restore" : "a backup", (int)pid);
    return true;
}

static void agent_kill_job(Agent *a, int sig)
{
    if (a->job > 0)
        kill(-a->job, sig); /* it leads its own group */
}

static void agent_signal_app(Agent *a, int sig)
{
    if (a->app > 0 && !a->app_exited)
        kill(a->cfg->signal_group ? -a->app : a->app, sig);
}

/* ---- the cycle ---- */

static void agent_schedule(Agent *a, int64_t delay_ns)
{
    a->next_backup = mono() + delay_ns;
}

static void agent_pause(Agent *a, const char *why)
{
    char now[sizeof(a->paused)];
    snprintf(now, sizeof(now), "%.*s", (int)sizeof(now) - 1, why);
    if (strcmp(a->paused, now) != 0)
        log_warn("backups paused: %s", now);
    memcpy(a->paused, now, sizeof(now));
}

/* The lease was newly taken: if the target moved on since the local state was restored or
 * backed up here, another writer wrote in between, and backing up now would bury its work. */
static bool agent_check_not_behind(Agent *a, const KeeperView *v)
{
    if (a->cfg->restore_policy == RESTORE_NEVER || v->pointer[0] == '\0')
        return true;
    char why[300];
    if (!marker_behind(a->cfg, &a->cfg->target, v->pointer, why, sizeof(why)))
        return true;
    char reason[1024];
    snprintf(reason, sizeof(reason),
             "another writer made '%.300s' the latest backup since the local state was restored "
             "or backed up here (%s)",
             v->pointer, why);
    log_error("%s; backing up now would replace its work, so backups are disabled", reason);
    log_error("hint: restart to restore the latest backup, or run 'hfsync backup --force' to "
              "keep the local state instead");
    agent_backups_disable(a->cfg, reason);
    return false;
}

typedef enum Ready { READY_GO, READY_WAIT, READY_NO } Ready;

/* Whether a backup may start now: backups enabled, the lease held, the target not moved on
 * behind this agent's back. Says why not (once) when not. */
static Ready agent_ready(Agent *a)
{
    const Config *cfg = a->cfg;
    char reason[600];
    if (agent_backups_disabled(cfg, reason, sizeof(reason))) {
        agent_pause(a, reason);
        keeper_stop(a->keeper); /* a writer that may not write must not keep others out */
        a->keeper = NULL;
        return READY_NO;
    }
    if (a->keeper == NULL) {
        Error err = {0};
        a->keeper = keeper_start(cfg, &a->lease, false, &err);
        if (a->keeper == NULL) {
            agent_pause(a, err.msg);
            return READY_NO;
        }
    }
    KeeperView v;
    keeper_view(a->keeper, &v);
    if (v.state == KEEPER_PENDING)
        return READY_WAIT;
    if (v.state == KEEPER_FOREIGN) {
        char text[400], why[600];
        lease_holder(&v.holder, text, sizeof(text));
        snprintf(why, sizeof(why), "another writer holds the target: %s", text);
        agent_pause(a, why);
        return READY_NO;
    }
    if (v.state == KEEPER_ERROR) {
        agent_pause(a, v.error);
        return READY_NO;
    }
    if (v.acquisitions != a->acquisitions_seen) {
        a->acquisitions_seen = v.acquisitions;
        if (!agent_check_not_behind(a, &v))
            return agent_ready(a); /* now disabled: pauses and lets go of the lease */
    }
    if (!a->recorded) /* so the backups it runs work under its lease */
        agent_record_write(cfg, &a->lease);
    a->recorded = true;
    if (a->paused[0] != '\0')
        log_info("backups resume");
    a->paused[0] = '\0';
    return READY_GO;
}

static void agent_cycle(Agent *a)
{
    int64_t interval = a->cfg->interval_sec * NS_PER_SEC;
    Ready r = agent_ready(a);
    if (r != READY_GO) {
        agent_schedule(a, r == READY_WAIT ? NS_PER_SEC / 4 : interval);
        return;
    }
    if (a->failures > 0)
        a->retries++;
    a->cycles++;
    if (!agent_start_job(a, JOB_BACKUP))
        agent_schedule(a, interval);
}

/* A backup child ended. */
static void agent_backup_done(Agent *a, int status)
{
    int code = wait_exit_code(status);
    int64_t now = mono();
    a->last_exit = code;
    a->last_at_wall = wall();
    a->last_duration_ms = (now - a->job_start) / 1000000;
    int64_t interval = a->cfg->interval_sec * NS_PER_SEC;
    if (code == EXIT_OK) {
        snprintf(a->last_result, sizeof(a->last_result), "ok");
        a->failures = 0;
        int64_t next = a->job_start + interval + agent_jitter_ns(a);
        a->next_backup = next > now + NS_PER_SEC / 2 ? next : now + NS_PER_SEC / 2;
        return;
    }
    if (code == EXIT_BUSY) { /* refused for safety, said why; not a failure of this agent */
        snprintf(a->last_result, sizeof(a->last_result), "refused");
        agent_schedule(a, interval);
        return;
    }
    snprintf(a->last_result, sizeof(a->last_result), a->job_killed ? "killed" : "failed");
    a->failures++;
    int64_t backoff = (int64_t)BACKOFF_BASE_SEC * NS_PER_SEC;
    for (unsigned i = 1; i < a->failures && backoff < interval; i++)
        backoff *= 2;
    if (backoff > interval)
        backoff = interval;
    /* A server that said when to come back (a quota used up) is not asked again before. */
    int64_t not_before = agent_status_not_before(a->cfg), told = not_before - wall();
    char until[80] = "";
    if (told > 0 && told * NS_PER_SEC > backoff) {
        backoff = told * NS_PER_SEC;
        char at[32];
        time_iso8601(not_before, at);
        snprintf(until, sizeof(until), ", when the server said to come back (%s)", at);
    }
    log_warn("backup failed (%s %d); retrying in %llds%s (%u failure%s in a row)",
             WIFSIGNALED(status) ? "signal" : "exit status",
             WIFSIGNALED(status) ? WTERMSIG(status) : code, (long long)(backoff / NS_PER_SEC),
             until, a->failures, a->failures == 1 ? "" : "s");
    agent_schedule(a, backoff);
}

/* ---- phases ---- */

static void agent_start_app(Agent *a)
{
    Error err = {0};
    SpawnOpts so = {.search_path = true, .take_terminal = true};
    a->app = sup_spawn(&a->sup, a->opts->command, &so, &err);
    if (a->app < 0) {
        a->app = 0;
        log_error("%s", err.msg);
        a->exit_code = err.code == ERR_NOT_FOUND ? 127 : 126;
        a->phase = PHASE_DONE;
        return;
    }
    log_info("started '%s' (pid %d)", a->opts->command[0], (int)a->app);
}

static void agent_enter_run(Agent *a)
{
    a->phase = PHASE_RUN;
    if (!a->daemon)
        agent_start_app(a);
    if (a->phase != PHASE_RUN)
        return;
    int64_t interval = a->cfg->interval_sec * NS_PER_SEC;
    if (a->cfg->backup_on_start)
        agent_schedule(a, interval < SOON_AFTER_START_SEC * NS_PER_SEC
                              ? interval
                              : SOON_AFTER_START_SEC * NS_PER_SEC);
    else
        agent_schedule(a, interval + agent_jitter_ns(a));
    log_info("backups every %llds to %s", (long long)a->cfg->interval_sec, a->cfg->target.url);
    agent_ready(a); /* take the lease now: a final backup may be needed before the first cycle */
}

static void agent_restore_done(Agent *a, int status)
{
    int code = wait_exit_code(status);
    if (a->stopping) {
        log_info("stopped during the restore");
        a->exit_code = a->daemon ? EXIT_OK : 128 + a->stop_signal;
        a->phase = PHASE_DONE;
        return;
    }
    if (code == EXIT_OK) {
        agent_enter_run(a);
        return;
    }
    a->restore_attempts++;
    bool transient = code == EXIT_FAILURE_ || code == EXIT_BUSY || WIFSIGNALED(status);
    if (transient && a->restore_attempts <= a->cfg->restore_retries) {
        int64_t delay = (int64_t)RESTORE_RETRY_BASE_SEC << (a->restore_attempts - 1);
        log_warn("the restore at start failed (exit status %d); retrying in %llds (attempt %d "
                 "of %d)",
                 code, (long long)delay, a->restore_attempts + 1, a->cfg->restore_retries + 1);
        a->restore_retry_at = mono() + delay * NS_PER_SEC;
        return;
    }
    char reason[600];
    if (!agent_backups_disabled(a->cfg, reason, sizeof(reason)))
        agent_backups_disable(a->cfg, "the restore at start did not finish");
    if (!a->cfg->restore_failure_start) {
        log_error("the restore at start failed (exit status %d); %s is not started "
                  "(HFSYNC_ON_RESTORE_FAILURE=exit)",
                  code, a->daemon ? "the daemon" : "the app");
        a->exit_code = code != EXIT_OK ? code : EXIT_FAILURE_;
        a->phase = PHASE_DONE;
        return;
    }
    log_error("the restore at start failed (exit status %d); starting anyway "
              "(HFSYNC_ON_RESTORE_FAILURE=start) with backups disabled until a restore succeeds "
              "or 'hfsync backup --force' is run",
              code);
    agent_enter_run(a);
}

static void agent_enter_final(Agent *a)
{
    a->phase = PHASE_FINAL;
    a->final_deadline = mono() + a->cfg->final_backup_timeout_sec * NS_PER_SEC;
    if (a->job != 0)
        log_info("final backup: waiting for the backup in progress first");
}

/* Start the final backup if one may run. READY_WAIT: ask again shortly. */
static Ready agent_start_final(Agent *a)
{
    if (a->cfg->final_backup_timeout_sec == 0) {
        log_info("no final backup (HFSYNC_FINAL_BACKUP_TIMEOUT=0)");
        return READY_NO;
    }
    Ready r = agent_ready(a);
    if (r == READY_WAIT)
        return r;
    if (r == READY_NO) {
        log_warn("no final backup: %s", a->paused);
        return r;
    }
    log_info("final backup (up to %llds)", (long long)a->cfg->final_backup_timeout_sec);
    if (!agent_start_job(a, JOB_FINAL))
        return READY_NO;
    a->cycles++;
    return READY_GO;
}

/* ---- events ---- */

static void agent_on_signal(Agent *a, int sig)
{
    char sn[16];
    bool stop = sig == SIGTERM || sig == SIGINT;
    if (sig == SIGCHLD)
        return;
    if (a->phase == PHASE_RESTORE) {
        if (stop && !a->stopping) {
            log_info("received %s during the restore: stopping it", signal_name(sig, sn));
            a->stopping = true;
            a->stop_signal = sig;
            agent_kill_job(a, SIGTERM);
            if (a->job == 0) { /* between two attempts */
                a->exit_code = a->daemon ? EXIT_OK : 128 + sig;
                a->phase = PHASE_DONE;
            }
        }
        return;
    }
    if (a->phase == PHASE_FINAL || a->phase == PHASE_DONE) {
        if (stop)
            log_info("received %s: the final backup is under way (at most %llds more)",
                     signal_name(sig, sn), (long long)((a->final_deadline - mono()) / NS_PER_SEC));
        return;
    }
    if (a->daemon) {
        if (stop) {
            log_info("received %s: stopping", signal_name(sig, sn));
            a->stopping = true;
            a->stop_signal = sig;
        }
        return;
    }
    agent_signal_app(a, sig);
    if (stop && !a->stopping) {
        a->stopping = true;
        a->stop_signal = sig;
        a->stop_deadline = mono() + a->cfg->stop_timeout_sec * NS_PER_SEC;
        log_info("received %s: passed to the app; waiting up to %llds for it to exit",
                 signal_name(sig, sn), (long long)a->cfg->stop_timeout_sec);
    } else if (!stop) {
        log_debug("passed %s to the app", signal_name(sig, sn));
    }
}

static void agent_on_exit(Agent *a, pid_t pid, int status)
{
    char sn[16];
    if (pid == a->app && a->app > 0) {
        a->app_exited = true;
        a->exit_code = wait_exit_code(status);
        if (WIFSIGNALED(status))
            log_info("the app was ended by %s; exit status %d", signal_name(WTERMSIG(status), sn),
                     a->exit_code);
        else
            log_info("the app exited with status %d", a->exit_code);
        return;
    }
    if (pid != a->job || a->job == 0) {
        log_debug("reaped orphan process %d", (int)pid);
        return;
    }
    JobKind kind = a->job_kind;
    a->job = 0;
    a->job_kind = JOB_NONE;
    if (kind == JOB_RESTORE) {
        agent_restore_done(a, status);
    } else if (kind == JOB_BACKUP) {
        agent_backup_done(a, status);
    } else {
        a->final_exit = wait_exit_code(status);
        snprintf(a->last_result, sizeof(a->last_result), "%s",
                 a->job_killed              ? "killed"
                 : a->final_exit == EXIT_OK ? "ok"
                                            : "failed");
        a->last_exit = a->final_exit;
        a->last_at_wall = wall();
        a->last_duration_ms = (mono() - a->job_start) / 1000000;
        if (a->job_killed)
            log_error("the final backup did not finish within HFSYNC_FINAL_BACKUP_TIMEOUT "
                      "(%llds) and was stopped; the latest backup is the one before it",
                      (long long)a->cfg->final_backup_timeout_sec);
        else if (a->final_exit != EXIT_OK)
            log_error("the final backup failed (exit status %d)", a->final_exit);
        else
            log_info("final backup done");
    }
}

/* Act on the clock and on what changed. Returns the next deadline (monotonic ns), 0: none. */
static int64_t agent_step(Agent *a)
{
    int64_t now = mono();
    switch (a->phase) {
    case PHASE_RESTORE:
        if (a->job == 0 && !a->stopping) {
            if (a->restore_retry_at > now)
                return a->restore_retry_at;
            a->restore_retry_at = 0;
            if (!agent_start_job(a, JOB_RESTORE)) {
                agent_restore_done(a, 1 << 8); /* as if it exited with 1 */
                return now;
            }
            agent_status(a);
        }
        return 0;
    case PHASE_RUN:
        if (a->app_exited || (a->daemon && a->stopping)) {
            agent_enter_final(a);
            return now;
        }
        if (a->stopping) {
            if (!a->app_killed && now >= a->stop_deadline) {
                log_warn("the app did not exit within HFSYNC_STOP_TIMEOUT (%llds): killing it",
                         (long long)a->cfg->stop_timeout_sec);
                agent_signal_app(a, SIGKILL);
                a->app_killed = true;
            }
            return a->app_killed ? 0 : a->stop_deadline;
        }
        if (a->job == 0 && a->next_backup != 0 && now >= a->next_backup) {
            a->next_backup = 0;
            agent_cycle(a);
            agent_status(a);
        }
        return a->job == 0 ? a->next_backup : 0;
    case PHASE_FINAL:
        if (a->job != 0) {
            if (now < a->final_deadline)
                return a->final_deadline;
            if (!a->job_killed) {
                if (a->job_kind == JOB_BACKUP)
                    log_warn("the backup in progress did not finish within "
                             "HFSYNC_FINAL_BACKUP_TIMEOUT: stopping it");
                agent_kill_job(a, SIGKILL);
                a->job_killed = true;
            }
            return 0;
        }
        if (!a->final_started && now >= a->final_deadline && a->cfg->final_backup_timeout_sec > 0) {
            log_warn("no final backup: no time left of HFSYNC_FINAL_BACKUP_TIMEOUT (%llds)",
                     (long long)a->cfg->final_backup_timeout_sec);
            a->final_started = true;
        }
        if (!a->final_started) {
            Ready r = agent_start_final(a);
            if (r == READY_WAIT)
                return now + NS_PER_SEC / 10;
            a->final_started = true;
            agent_status(a);
            if (r == READY_GO)
                return a->final_deadline;
        }
        a->phase = PHASE_DONE;
        if (a->daemon)
            a->exit_code = a->final_exit > 0 ? EXIT_FAILURE_ : EXIT_OK;
        return 0;
    case PHASE_DONE:
        break;
    }
    return 0;
}

static void agent_loop(Agent *a)
{
    while (a->phase != PHASE_DONE) {
        Phase before = a->phase;
        int64_t deadline = agent_step(a);
        if (a->phase == PHASE_DONE)
            break;
        if (a->phase != before) {
            agent_status(a);
            continue; /* the new phase may have something to do at once */
        }
        int timeout = -1;
        if (deadline != 0) {
            int64_t ms = (deadline - mono()) / 1000000 + 1;
            timeout = ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
        }
        int signals[32];
        int n = sup_wait(&a->sup, timeout, signals, 32);
        bool changed = false;
        for (int i = 0; i < n; i++) {
            agent_on_signal(a, signals[i]);
            changed = changed || signals[i] == SIGTERM || signals[i] == SIGINT;
        }
        pid_t pid;
        int status;
        while (sup_reap(&pid, &status)) {
            agent_on_exit(a, pid, status);
            changed = true;
        }
        if (changed)
            agent_status(a);
    }
}

/* ---- entry ---- */

/* This binary, for the children: its path (what valgrind and ps show, and what an upgrade in place
 * replaces), else /proc/self/exe (it may have been deleted), else how it was called. */
static char *agent_self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (!str_ends_with(buf, " (deleted)") && access(buf, X_OK) == 0)
            return x_strdup(buf);
    }
    if (access("/proc/self/exe", X_OK) == 0)
        return x_strdup("/proc/self/exe");
    return x_strdup(program_invocation_name);
}

static int agent_exec_unchanged(const AgentOpts *opts)
{
    log_warn("no backup target is configured (HFSYNC_REPO): running '%s' without hfsync",
             opts->command[0]);
    execvp(opts->command[0], opts->command);
    int e = errno;
    log_error("cannot run '%s': %s", opts->command[0], strerror(e));
    return e == ENOENT ? 127 : 126;
}

int agent_run(const Config *cfg, const AgentOpts *opts)
{
    bool daemon = opts->command == NULL;
    if (cfg->target.kind == TARGET_NONE) {
        if (!daemon)
            return agent_exec_unchanged(opts);
        log_error("no target configured");
        log_error("hint: set HFSYNC_REPO (for example file:///data/backups) or pass --repo");
        return EXIT_USAGE;
    }
    if (cfg->source_count == 0) {
        log_error("nothing to back up: no source is configured");
        log_error("hint: set HFSYNC_SOURCES=name:/path (or HFSYNC_SOURCE=/path)");
        return EXIT_USAGE;
    }
    Agent *a = x_calloc(1, sizeof(*a));
    a->cfg = cfg;
    a->opts = opts;
    a->daemon = daemon;
    a->final_exit = -1;
    a->started_wall = wall();
    a->rng = (uint64_t)time_now_ns() ^ ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;
    a->exe = agent_self_exe();
    lease_init(&a->lease, daemon ? "daemon" : "entrypoint");

    Error err = {0};
    if (!sup_init(&a->sup, &err)) {
        log_error("%s", err.msg);
        free(a->exe);
        free(a);
        return EXIT_FAILURE_;
    }
    agent_record_write(cfg, &a->lease);
    log_info("hfsync %s (pid %d) for %s", daemon ? "daemon" : "entrypoint", (int)getpid(),
             cfg->target.url);
    a->phase = PHASE_RESTORE;
    agent_loop(a);

    /* Orphans left by the app, or the killed job: nothing should stay a zombie behind us. */
    pid_t pid;
    int status;
    while (sup_reap(&pid, &status))
        agent_on_exit(a, pid, status);
    keeper_stop(a->keeper);
    a->keeper = NULL;
    agent_record_clear(cfg, &a->lease);
    agent_status(a);
    log_info("hfsync exits with status %d", a->exit_code);
    int code = a->exit_code;
    sup_close(&a->sup);
    free(a->exe);
    free(a);
    return code;
}
