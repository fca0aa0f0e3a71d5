/* The writer lease object (lease.h). */
#include "hfsync/lease.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hfsync/log.h"
#include "hfsync/util.h"
#include "hfsync/version.h"

#define LEASE_MAX_SIZE 4096

bool lease_supported(const Target *target)
{
    return target->kind == TARGET_FILE || target->kind == TARGET_MEM || target->kind == TARGET_S3;
}

/* This process's kernel boot id and pid namespace; "" when unknown (then no lease is ever
 * judged gone by its pid). */
static void lease_pid_ns(char *out, size_t cap)
{
    out[0] = '\0';
    char boot[64] = "", ns[32] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f != NULL) {
        if (fgets(boot, sizeof(boot), f) == NULL)
            boot[0] = '\0';
        fclose(f);
    }
    boot[strcspn(boot, "\n")] = '\0';
    ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
    if (n > 0 && boot[0] != '\0') {
        ns[n] = '\0';
        snprintf(out, cap, "%s/%s", boot, ns);
    }
}

bool lease_holder_gone(const Lease *l)
{
    char here[sizeof(l->pid_ns)];
    lease_pid_ns(here, sizeof(here));
    return here[0] != '\0' && strcmp(here, l->pid_ns) == 0 && l->pid > 0 &&
           kill((pid_t)l->pid, 0) != 0 && errno == ESRCH;
}

void lease_init(Lease *l, const char *mode)
{
    memset(l, 0, sizeof(*l));
    uint8_t rnd[16];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        /* Uniqueness is what matters here, not secrecy. */
        uint64_t t = (uint64_t)time_now_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &t, sizeof(t));
        memcpy(rnd + 8, &t, sizeof(t));
    }
    hex_encode(rnd, sizeof(rnd), l->owner);
    if (gethostname(l->host, sizeof(l->host)) != 0)
        snprintf(l->host, sizeof(l->host), "unknown");
    l->host[sizeof(l->host) - 1] = '\0';
    snprintf(l->mode, sizeof(l->mode), "%s", mode);
    l->pid = (long)getpid();
    lease_pid_ns(l->pid_ns, sizeof(l->pid_ns));
}

bool lease_live(const Lease *l, int64_t now)
{
    return l->owner[0] != '\0' && l->expires > now;
}

char *lease_to_json(const Lease *l)
{
    char acquired[32], renewed[32], expires[32];
    time_iso8601(l->acquired, acquired);
    time_iso8601(time_now_ns() / 1000000000, renewed);
    time_iso8601(l->expires, expires);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "owner", l->owner);
    cJSON_AddStringToObject(o, "host", l->host);
    cJSON_AddNumberToObject(o, "pid", (double)l->pid);
    if (l->pid_ns[0] != '\0')
        cJSON_AddStringToObject(o, "pid_ns", l->pid_ns);
    cJSON_AddStringToObject(o, "mode", l->mode);
    cJSON_AddStringToObject(o, "acquired_at_utc", acquired);
    cJSON_AddStringToObject(o, "renewed_at_utc", renewed);
    cJSON_AddStringToObject(o, "expires_at_utc", expires);
    cJSON_AddNumberToObject(o, "expires", (double)l->expires);
    cJSON_AddStringToObject(o, "tool", "hfsync " HFSYNC_VERSION);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *out = x_strdup(text);
    cJSON_free(text);
    return out;
}

static void lease_copy_str(char *dst, size_t cap, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    for (char *p = dst; *p; p++) /* it came from the target: keep it printable */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* lease_read() that also gives the tag of the version read (storage_get_tagged), so the next
 * write can be made only over that version. */
static bool lease_read_tagged(Storage *st, Lease *out, bool *found, char **tag, Error *err)
{
    memset(out, 0, sizeof(*out));
    *found = false;
    char *text = NULL;
    char *t = NULL;
    Error e = {0};
    if (!storage_get_tagged(st, LEASE_PATH, LEASE_MAX_SIZE, &text, NULL, &t, &e)) {
        if (e.code == ERR_NOT_FOUND)
            return true;
        if (e.code == ERR_CORRUPT) { /* too large: unreadable, so expired */
            *found = true;
            return true;
        }
        *err = e;
        return error_prefix(err, "read '%s'", LEASE_PATH);
    }
    *found = true;
    if (tag != NULL)
        *tag = t;
    else
        free(t);
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *expires = cJSON_GetObjectItemCaseSensitive(o, "expires");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
    if (cJSON_IsObject(o) && cJSON_IsNumber(expires)) {
        lease_copy_str(out->owner, sizeof(out->owner), o, "owner");
        lease_copy_str(out->host, sizeof(out->host), o, "host");
        lease_copy_str(out->mode, sizeof(out->mode), o, "mode");
        lease_copy_str(out->pid_ns, sizeof(out->pid_ns), o, "pid_ns");
        out->pid = cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0;
        out->expires = (int64_t)expires->valuedouble;
        const cJSON *acq = cJSON_GetObjectItemCaseSensitive(o, "acquired_at_utc");
        if (cJSON_IsString(acq))
            time_parse_iso8601(acq->valuestring, &out->acquired);
    }
    cJSON_Delete(o);
    return true;
}

bool lease_read(Storage *st, Lease *out, bool *found, Error *err)
{
    return lease_read_tagged(st, out, found, NULL, err);
}

/* Write over the version `tag` read (NULL: only if there is no lease): ERR_CONFLICT when another
 * writer wrote it in between. */
static bool lease_write(Storage *st, const Lease *l, bool conditional, const char *tag, Error *err)
{
    char *text = lease_to_json(l);
    bool ok = conditional ? storage_put_if(st, LEASE_PATH, text, strlen(text), tag, err)
                          : storage_put(st, LEASE_PATH, text, strlen(text), err);
    free(text);
    return ok || error_prefix(err, "write '%s'", LEASE_PATH);
}

static void lease_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

bool lease_take(Storage *st, Lease *mine, const LeaseOpts *opts, bool *won, Lease *holder,
                Error *err)
{
    *won = false;
    bool found;
    char *tag = NULL;
    if (!lease_read_tagged(st, holder, &found, &tag, err))
        return false;
    bool ours = found && strcmp(holder->owner, mine->owner) == 0;
    if (found && !ours && lease_live(holder, opts->now)) {
        if (!lease_holder_gone(holder)) {
            free(tag);
            return true;
        }
        char text[300];
        lease_holder(holder, text, sizeof(text));
        log_info("the lease of %s is left by a process that no longer runs here; taking it over",
                 text);
    }
    /* A renewal of a lease still found in place needs no confirmation; anything else (ours
     * vanished, or someone else's expired) is a new acquisition that may race another writer. */
    bool fresh = !(opts->held && ours);
    if (fresh || mine->acquired == 0)
        mine->acquired = opts->now;
    mine->expires = opts->now + opts->ttl_sec;
    /* An unreadable (oversized) lease has no tag: it is replaced unconditionally. */
    bool wrote = lease_write(st, mine, !(found && tag == NULL), tag, err);
    free(tag);
    if (!wrote && err->code == ERR_CONFLICT) { /* another writer took it between read and write */
        error_clear(err);
        return lease_read(st, holder, &found, err);
    }
    if (!wrote)
        return false;
    if (fresh && opts->settle_ms > 0) {
        if (opts->settle == NULL) {
            lease_sleep_ms(opts->settle_ms);
        } else if (!opts->settle(opts->settle_ctx, opts->settle_ms)) {
            Error ignored = {0};
            lease_release(st, mine, &ignored);
            return error_set(err, ERR_FAIL, "stopped before the lease was confirmed");
        }
        if (!lease_read(st, holder, &found, err))
            return false;
        if (!found || strcmp(holder->owner, mine->owner) != 0) {
            if (!found) /* deleted under us: whoever did is writing; stand back this round */
                snprintf(holder->owner, sizeof(holder->owner), "?");
            return true;
        }
    }
    *holder = *mine;
    *won = true;
    return true;
}

bool lease_release(Storage *st, const Lease *mine, Error *err)
{
    Lease cur;
    bool found;
    if (!lease_read(st, &cur, &found, err))
        return false;
    if (!found || strcmp(cur.owner, mine->owner) != 0)
        return true;
    const char *path = LEASE_PATH;
    return storage_delete(st, &path, 1, err) || error_prefix(err, "delete '%s'", LEASE_PATH);
}

void lease_holder(const Lease *l, char *out, size_t cap)
{
    snprintf(out, cap, "hfsync %s on host '%s' (pid %ld)", l->mode[0] ? l->mode : "(unknown)",
             l->host[0] ? l->host : "(unknown)", l->pid);
}

void lease_describe(const Lease *l, char *out, size_t cap)
{
    char until[32], who[200];
    time_iso8601(l->expires, until);
    lease_holder(l, who, sizeof(who));
    snprintf(out, cap, "%s, lease until %s", who, until);
}
