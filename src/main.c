/* hfsync: argv + environment -> Config -> command; error -> exit code. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/agent.h"
#include "hfsync/config.h"
#include "hfsync/http.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "hfsync/version.h"

static const char usage_main[] =
    "usage: hfsync [options] <command> [command options]\n"
    "\n"
    "Keeps a directory's state alive across container restarts by backing it up to a target\n"
    "and restoring it. Configuration comes from HFSYNC_* environment variables (see env.example);\n"
    "flags override them.\n"
    "\n"
    "commands:\n"
    "  entrypoint [--] CMD [ARGS...]        container entrypoint: restore, run CMD, back up\n"
    "                                       periodically and on stop\n"
    "  daemon                               the periodic backups without a command\n"
    "  backup [--full] [--force]            take one backup now, as the strategy decides\n"
    "         [--no-prune] [--dry-run]      (--dry-run: print the decision, upload nothing)\n"
    "  restore [--to DIR] [--backup NAME]   restore the latest (or a named) backup\n"
    "          [--if-needed]\n"
    "  list [--json]                        backups on the target, newest first\n"
    "  verify [--backup NAME] [--deep]      check that backups are complete and intact\n"
    "  status [--json]                      the agent's state, the last backup and restore here\n"
    "  prune [--dry-run]                    delete the backup chains the retention rules do\n"
    "                                       not keep (HFSYNC_KEEP_*), print the plan\n"
    "\n"
    "options (any command):\n"
    "  --repo URL            target: file:///dir (s3:// and hf:// are parsed, served later)\n"
    "  --source NAME:PATH    a directory (or file) to back up; repeatable (HFSYNC_SOURCES)\n"
    "  --prefix P            folder of backups on the target (HFSYNC_PREFIX, default backups)\n"
    "  --env-file FILE       read KEY=VALUE settings from FILE (HFSYNC_ENV_FILE)\n"
    "  --log-level L         debug, info, warn or error (HFSYNC_LOG_LEVEL)\n"
    "  --log-format F        text or json (HFSYNC_LOG_FORMAT)\n"
    "  -v, --verbose         same as --log-level debug\n"
    "  -h, --help            help (hfsync <command> --help for a command)\n"
    "  -V, --version         print the version\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage or configuration error, 3 data integrity problem\n"
    "(corrupt or missing backup data, refused unsafe archive entry), 4 refused for safety\n"
    "(another writer holds the target, or backups are disabled after a failed restore).\n"
    "entrypoint exits with its command's status (128 + signal when it was killed).\n";

static const struct {
    const char *name;
    const char *help;
} commands[] = {
    {"entrypoint",
     "usage: hfsync entrypoint [--] CMD [ARGS...]\n\n"
     "The container entrypoint (ENTRYPOINT [\"hfsync\", \"entrypoint\", \"--\"]):\n"
     "  1. restore the latest backup into place, as HFSYNC_RESTORE says (default auto: unless\n"
     "     the local state is known to be at the latest backup); if that fails, CMD is not\n"
     "     started (HFSYNC_ON_RESTORE_FAILURE=exit, the default) or starts with backups\n"
     "     disabled (=start);\n"
     "  2. run CMD as its child, with the same environment, standard streams and directory;\n"
     "     as PID 1 reap every zombie; pass SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2\n"
     "     and SIGWINCH on to CMD (to its process group with HFSYNC_SIGNAL_GROUP=1);\n"
     "  3. back up every HFSYNC_INTERVAL (default 300s) while CMD runs; a failed backup is\n"
     "     retried with backoff and never stops CMD;\n"
     "  4. on SIGTERM/SIGINT, wait up to HFSYNC_STOP_TIMEOUT (10s) for CMD to exit (then\n"
     "     SIGKILL), take a final backup within HFSYNC_FINAL_BACKUP_TIMEOUT (20s) and exit\n"
     "     with CMD's status (128 + signal when it was killed). The same final backup runs\n"
     "     when CMD exits by itself.\n"
     "With no target configured, CMD is run unchanged (hfsync warns and steps aside).\n"},
    {"daemon",
     "usage: hfsync daemon\n\n"
     "The entrypoint without a command (a sidecar): restore as HFSYNC_RESTORE says, back up\n"
     "every HFSYNC_INTERVAL, and on SIGTERM/SIGINT take a final backup and exit (0, or 1 when\n"
     "the final backup failed).\n"},
    {"backup",
     "usage: hfsync backup [--full] [--force] [--no-prune] [--dry-run]\n\n"
     "Take one backup of the configured sources, as the backup strategy decides (README\n"
     "\"Backup strategy\"), and log the decision with its reasons in one line:\n"
     "  - skip when nothing changed, or when fewer than HFSYNC_MIN_CHANGED_FILES files and\n"
     "    HFSYNC_MIN_CHANGED_SIZE bytes changed (at most HFSYNC_MAX_SKIPS times in a row);\n"
     "  - full when there is no backup yet, --full is given, the latest backup is in the\n"
     "    original script's format, encryption was turned on or the password changed, the\n"
     "    chain has HFSYNC_MAX_INCREMENTALS incrementals, its full is older than\n"
     "    HFSYNC_FULL_INTERVAL, or the incremental would exceed HFSYNC_FULL_RATIO of a full;\n"
     "  - else incremental (only new and changed entries are stored).\n"
     "The compression level and volume size are HFSYNC_COMPRESSION_LEVEL and\n"
     "HFSYNC_VOLUME_SIZE, or with \"auto\" (the default) chosen from the size to store, the\n"
     "change rate and the measured upload speed.\n"
     "Prints the new backup's name on stdout; nothing when it was skipped.\n"
     "While an agent or another command works on the target here, it waits up to\n"
     "HFSYNC_LOCK_TIMEOUT; while another writer holds the target's lease, it refuses (exit 4).\n\n"
     "With HFSYNC_PRUNE=auto (the default), a backup that wrote something is followed by a\n"
     "prune (see 'hfsync prune --help'); a failed prune is a warning, not a failed backup.\n\n"
     "  --full      start a new chain with a full backup (never skipped)\n"
     "  --force     back up even though backups are disabled after a failed restore at start\n"
     "              (the local state then replaces the latest backup)\n"
     "  --no-prune  no prune after this backup\n"
     "  --dry-run   scan and decide, then print the decision and what would be stored and\n"
     "              uploaded (files, bytes, expected volumes); upload nothing, write nothing\n"
     "              on the target, take no lock or lease\n"
     "  --final     what the agent runs at a stop: not skipped by the thresholds while\n"
     "              anything changed, and no prune after it\n"},
    {"restore",
     "usage: hfsync restore [--to DIR] [--backup NAME] [--if-needed]\n\n"
     "Restore the latest backup (or NAME) exactly: files, directories, symlinks, modes,\n"
     "times; files deleted before that backup stay deleted. Everything is built in a\n"
     "staging directory beside each destination and swapped in only when complete and\n"
     "verified; on any failure the live data is left untouched.\n\n"
     "  --to DIR       restore each source NAME into DIR/NAME instead of its live path\n"
     "  --backup NAME  restore this backup (see 'hfsync list') instead of the latest\n"
     "  --if-needed    what the entrypoint does at start: restore in place as HFSYNC_RESTORE\n"
     "                 says; create HFSYNC_RESTORE_FLAG when done; if the restore fails,\n"
     "                 disable backups until a restore succeeds or 'backup --force'\n"},
    {"list", "usage: hfsync list [--json]\n\nList the backups on the target, newest first.\n\n"
             "  --json    machine-readable output\n"},
    {"verify", "usage: hfsync verify [--backup NAME] [--deep]\n\n"
               "Check that every object of every backup (or of NAME) exists with its recorded\n"
               "size and that its chain is complete. With --deep, also download every volume and\n"
               "manifest, check their sha256 and every file's content hash.\n\n"
               "  --backup NAME  verify only this backup\n"
               "  --deep         read and check all data\n"},
    {"prune",
     "usage: hfsync prune [--dry-run]\n\n"
     "Apply the retention rules to the target and print the plan: each chain (a full backup\n"
     "and its incrementals) with its dates, size and the rules keeping it, or \"delete\".\n"
     "A chain is kept or deleted whole; the chain of the latest backup is always kept. Rules\n"
     "(a chain is kept when any keeps it): HFSYNC_KEEP_FULL (12 newest chains),\n"
     "HFSYNC_KEEP_LAST (chains of the newest N backups), HFSYNC_KEEP_DAILY (7),\n"
     "HFSYNC_KEEP_WEEKLY (4), HFSYNC_KEEP_MONTHLY (3): the newest backup of each of the last N\n"
     "days, ISO weeks, months (UTC) that have backups; HFSYNC_KEEP_WITHIN: chains with a backup\n"
     "within that long of the newest. Also deleted: objects of backups that never completed\n"
     "(no .meta.json) and left-over checkpoints older than HFSYNC_STALE_AFTER (24h). At most\n"
     "HFSYNC_PRUNE_MAX (100) backups per run; on the Hub the deletions are one commit, then\n"
     "the history is squashed as HFSYNC_HF_SQUASH says. Refused (exit 4) while another writer\n"
     "holds the target's lease.\n\n"
     "  --dry-run  print the plan, delete nothing\n"},
    {"status", "usage: hfsync status [--json]\n\n"
               "Show the state of the agent (entrypoint or daemon) and the outcome of the last\n"
               "backup and restore run on this machine for the configured target, from the\n"
               "status file (HFSYNC_STATUS_FILE).\n\n"
               "  --json    machine-readable output\n"},
};

enum {
    OPT_REPO = 1000,
    OPT_SOURCE,
    OPT_PREFIX,
    OPT_ENV_FILE,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_FULL,
    OPT_TO,
    OPT_BACKUP,
    OPT_JSON,
    OPT_DEEP,
    OPT_FORCE,
    OPT_IF_NEEDED,
    OPT_DRY_RUN,
    OPT_NO_PRUNE,
    OPT_FINAL,
};

static const struct option long_options[] = {
    {"repo", required_argument, NULL, OPT_REPO},
    {"source", required_argument, NULL, OPT_SOURCE},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"env-file", required_argument, NULL, OPT_ENV_FILE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"full", no_argument, NULL, OPT_FULL},
    {"to", required_argument, NULL, OPT_TO},
    {"backup", required_argument, NULL, OPT_BACKUP},
    {"json", no_argument, NULL, OPT_JSON},
    {"deep", no_argument, NULL, OPT_DEEP},
    {"force", no_argument, NULL, OPT_FORCE},
    {"if-needed", no_argument, NULL, OPT_IF_NEEDED},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"no-prune", no_argument, NULL, OPT_NO_PRUNE},
    {"final", no_argument, NULL, OPT_FINAL},
    {NULL, 0, NULL, 0},
};

/* Flags become overrides of the variables they stand for, consulted before the environment. */
#define MAX_OVERRIDES 16
typedef struct Overrides {
    const char *name[MAX_OVERRIDES];
    char *value[MAX_OVERRIDES];
    size_t count;
} Overrides;

static void override_set(Overrides *o, const char *name, const char *value)
{
    for (size_t i = 0; i < o->count; i++) {
        if (strcmp(o->name[i], name) == 0) {
            free(o->value[i]);
            o->value[i] = x_strdup(value);
            return;
        }
    }
    if (o->count < MAX_OVERRIDES) {
        o->name[o->count] = name;
        o->value[o->count++] = x_strdup(value);
    }
}

static const char *override_getenv(const char *name, void *ctx)
{
    Overrides *o = ctx;
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->name[i], name) == 0)
            return o->value[i];
    return getenv(name);
}

typedef struct Flags {
    bool full, json, deep, force, if_needed, dry_run, no_prune, final;
    const char *to, *backup;
    char *const *command; /* entrypoint: CMD and its arguments */
} Flags;

typedef struct Globals {
    Overrides ov;
    char *sources;
    bool help, version, verbose;
    char **replay; /* the global options again, for the hfsync children of the agent */
    size_t replay_count;
} Globals;

static void replay_add(Globals *g, int c, const char *arg)
{
    const char *name = NULL;
    for (size_t i = 0; long_options[i].name != NULL && name == NULL; i++)
        if (long_options[i].val == c)
            name = long_options[i].name;
    if (name == NULL)
        return;
    g->replay = x_realloc(g->replay, (g->replay_count + 1) * sizeof(char *));
    g->replay[g->replay_count++] =
        arg != NULL ? str_printf("--%s=%s", name, arg) : str_printf("--%s", name);
}

/* Options accepted before and after the command. False: `c` is not one of them. */
static bool global_option(Globals *g, int c, const char *arg)
{
    if (c != 'h' && c != 'V')
        replay_add(g, c, c == 'v' ? NULL : arg);
    switch (c) {
    case OPT_REPO:
        override_set(&g->ov, "HFSYNC_REPO", arg);
        return true;
    case OPT_SOURCE: {
        char *s = g->sources ? str_printf("%s,%s", g->sources, arg) : x_strdup(arg);
        free(g->sources);
        g->sources = s;
        return true;
    }
    case OPT_PREFIX:
        override_set(&g->ov, "HFSYNC_PREFIX", arg);
        return true;
    case OPT_ENV_FILE:
        override_set(&g->ov, "HFSYNC_ENV_FILE", arg);
        return true;
    case OPT_LOG_LEVEL:
        override_set(&g->ov, "HFSYNC_LOG_LEVEL", arg);
        return true;
    case OPT_LOG_FORMAT:
        override_set(&g->ov, "HFSYNC_LOG_FORMAT", arg);
        return true;
    case 'v':
        g->verbose = true;
        return true;
    case 'h':
        g->help = true;
        return true;
    case 'V':
        g->version = true;
        return true;
    default:
        return false;
    }
}

static bool flag_allowed(const char *command, const char *flag)
{
    static const struct {
        const char *command, *flag;
    } allowed[] = {
        {"backup", "--full"},    {"backup", "--force"},      {"restore", "--to"},
        {"restore", "--backup"}, {"restore", "--if-needed"}, {"list", "--json"},
        {"status", "--json"},    {"verify", "--backup"},     {"verify", "--deep"},
        {"prune", "--dry-run"},  {"backup", "--no-prune"},   {"backup", "--dry-run"},
        {"backup", "--final"},
    };
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strcmp(allowed[i].command, command) == 0 && strcmp(allowed[i].flag, flag) == 0)
            return true;
    return false;
}

static void record_status(const Config *cfg, const char *what, bool ok, const Error *err,
                          const char *name, int64_t duration_ms, uint64_t files, uint64_t bytes,
                          const char *result)
{
    char t[32];
    time_iso8601(time_now_ns() / 1000000000, t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "result", ok || strcmp(result, "refused") == 0 ? result : "failed");
    cJSON_AddStringToObject(o, "time", t);
    if (name && name[0])
        cJSON_AddStringToObject(o, "backup", name);
    cJSON_AddNumberToObject(o, "duration_ms", (double)duration_ms);
    cJSON_AddNumberToObject(o, "files", (double)files);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    uint64_t retries = http_retry_count();
    cJSON_AddNumberToObject(o, "retries", (double)retries);
    if (retries > 0)
        log_info("%s: %llu network request%s retried (see the retry lines above)", what,
                 (unsigned long long)retries, retries == 1 ? " was" : "s were");
    if (!ok)
        cJSON_AddStringToObject(o, "error", err->msg);
    int64_t not_before = http_retry_not_before();
    if (!ok && not_before > 0) /* the agent's next cycle waits for it */
        cJSON_AddNumberToObject(o, "not_before", (double)not_before);
    char *text = cJSON_PrintUnformatted(o);
    agent_status_record(cfg, what, text);
    cJSON_free(text);
    cJSON_Delete(o);
}

static int run_command(const char *command, const Config *cfg, const Flags *f, const Globals *g,
                       Error *err)
{
    bool ok;
    if (strcmp(command, "entrypoint") == 0 || strcmp(command, "daemon") == 0) {
        AgentOpts opts = {.command = f->command,
                          .child_options = g->replay,
                          .child_option_count = g->replay_count};
        return agent_run(cfg, &opts);
    }
    if (strcmp(command, "backup") == 0) {
        BackupOpts opts = {.full = f->full,
                           .force = f->force,
                           .no_prune = f->no_prune,
                           .final = f->final,
                           .dry_run = f->dry_run};
        BackupResult res;
        ok = guard_backup(cfg, &opts, &res, err);
        if (ok && res.created)
            printf("%s\n", res.name);
        if (cfg->target.kind != TARGET_NONE && cfg->source_count > 0 && !f->dry_run)
            record_status(cfg, "backup", ok, err, res.name, res.duration_ms, res.files,
                          res.stored_bytes,
                          !ok && err->code == ERR_BUSY ? "refused"
                          : res.created                ? "ok"
                          : res.skipped                ? "skipped"
                                                       : "nothing-changed");
    } else if (strcmp(command, "restore") == 0) {
        RestoreOpts opts = {.to = f->to, .backup = f->backup};
        RestoreResult res;
        ok = guard_restore(cfg, &opts, f->if_needed, &res, err);
        if (ok && res.skipped)
            printf("no restore needed\n");
        else if (ok && !res.restored)
            printf("no backup to restore in %s\n", cfg->target.url);
        if (cfg->target.kind != TARGET_NONE)
            record_status(cfg, "restore", ok, err, res.name, res.duration_ms, res.files, res.bytes,
                          res.skipped    ? "not-needed"
                          : res.restored ? "ok"
                                         : "no-backup");
    } else if (strcmp(command, "list") == 0) {
        ok = list_run(cfg, f->json, err);
    } else if (strcmp(command, "verify") == 0) {
        VerifyOpts opts = {.backup = f->backup, .deep = f->deep};
        ok = verify_run(cfg, &opts, err);
    } else if (strcmp(command, "prune") == 0) {
        PruneOpts opts = {.dry_run = f->dry_run};
        PruneResult res;
        ok = guard_prune(cfg, &opts, &res, err);
    } else {
        ok = status_run(cfg, f->json, err);
    }
    return ok ? EXIT_OK : agent_exit_code(err);
}

int main(int argc, char **argv)
{
    Globals g = {0};
    Flags f = {0};
    int exit_code = EXIT_OK;
    Config cfg;
    memset(&cfg, 0, sizeof(cfg));
    Error err = {0};
    const size_t command_count = sizeof(commands) / sizeof(commands[0]);

    opterr = 0;
    int c;
    /* Options before the command ('+': stop at the first non-option, the command). */
    while ((c = getopt_long(argc, argv, "+:hvV", long_options, NULL)) != -1) {
        if (global_option(&g, c, optarg))
            continue;
        if (c == ':')
            fprintf(stderr, "hfsync: option '%s' needs a value\n", argv[optind - 1]);
        else if (c == '?')
            fprintf(stderr, "hfsync: unknown option '%s'\nhint: see 'hfsync --help'\n",
                    argv[optind - 1]);
        else /* a command's own flag, given before the command */
            fprintf(stderr, "hfsync: '%s' must follow the command it belongs to\n",
                    argv[optind - 1]);
        exit_code = EXIT_USAGE;
        goto out;
    }
    if (g.version) {
        printf("hfsync %s\n", HFSYNC_VERSION);
        goto out;
    }
    const char *command = optind < argc ? argv[optind] : NULL;
    size_t cmd_index = command_count;
    for (size_t i = 0; command && i < command_count; i++)
        if (strcmp(commands[i].name, command) == 0)
            cmd_index = i;
    if (command == NULL) {
        fputs(usage_main, g.help ? stdout : stderr);
        exit_code = g.help ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if (cmd_index == command_count) {
        fprintf(stderr, "hfsync: unknown command '%s'\nhint: see 'hfsync --help'\n", command);
        exit_code = EXIT_USAGE;
        goto out;
    }

    /* Options after the command, in any order: global ones and the command's own. The command
     * plays argv[0] of a fresh getopt scan (optind = 0 re-initialises glibc's getopt). */
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0;
    int li;
    /* entrypoint: options end at its command ('+'), whose own options are its business */
    bool has_command = strcmp(command, "entrypoint") == 0;
    const char *sub_opts = has_command ? "+:hvV" : ":hvV";
    while ((li = -1, c = getopt_long(sub_argc, sub_argv, sub_opts, long_options, &li)) != -1) {
        if (global_option(&g, c, optarg))
            continue;
        char flag[64];
        snprintf(flag, sizeof(flag), "%s%s", li >= 0 ? "--" : "",
                 li >= 0 ? long_options[li].name : sub_argv[optind - 1]);
        /* getopt does not report which long option lacked its value: look it up by name. */
        for (int i = 0; li < 0 && long_options[i].name != NULL; i++)
            if (str_starts_with(flag, "--") && strcmp(flag + 2, long_options[i].name) == 0)
                li = i;
        bool own_flag = li >= 0 && long_options[li].val >= OPT_FULL;
        if (c == '?' || (own_flag && !flag_allowed(command, flag))) {
            fprintf(stderr, "hfsync %s: unknown option '%s'\nhint: see 'hfsync %s --help'\n",
                    command, flag, command);
            exit_code = EXIT_USAGE;
            goto out;
        }
        if (c == ':') {
            fprintf(stderr, "hfsync %s: option '%s' needs a value\n", command, flag);
            exit_code = EXIT_USAGE;
            goto out;
        }
        if (c == OPT_FULL)
            f.full = true;
        else if (c == OPT_TO)
            f.to = optarg;
        else if (c == OPT_BACKUP)
            f.backup = optarg;
        else if (c == OPT_JSON)
            f.json = true;
        else if (c == OPT_DEEP)
            f.deep = true;
        else if (c == OPT_FORCE)
            f.force = true;
        else if (c == OPT_IF_NEEDED)
            f.if_needed = true;
        else if (c == OPT_DRY_RUN)
            f.dry_run = true;
        else if (c == OPT_NO_PRUNE)
            f.no_prune = true;
        else if (c == OPT_FINAL)
            f.final = true;
    }
    if (g.version) {
        printf("hfsync %s\n", HFSYNC_VERSION);
        goto out;
    }
    if (g.help) {
        fputs(commands[cmd_index].help, stdout);
        goto out;
    }
    if (has_command && optind >= sub_argc) {
        fprintf(stderr, "hfsync entrypoint: no command to run\nhint: hfsync entrypoint -- CMD "
                        "[ARGS...], e.g. in a Dockerfile ENTRYPOINT [\"hfsync\", "
                        "\"entrypoint\", \"--\"] with a CMD\n");
        exit_code = EXIT_USAGE;
        goto out;
    }
    if (has_command) {
        f.command = sub_argv + optind;
    } else if (optind < sub_argc) {
        fprintf(stderr, "hfsync %s: unexpected argument '%s'\nhint: see 'hfsync %s --help'\n",
                command, sub_argv[optind], command);
        exit_code = EXIT_USAGE;
        goto out;
    }
    if (f.if_needed && (f.to != NULL || f.backup != NULL)) {
        fprintf(stderr, "hfsync restore: --if-needed restores the latest backup in place; it "
                        "cannot be combined with --to or --backup\n");
        exit_code = EXIT_USAGE;
        goto out;
    }
    if (g.verbose)
        override_set(&g.ov, "HFSYNC_LOG_LEVEL", "debug");

    /* --source replaces the configured list, whichever variable set it. */
    if (!config_load(&cfg, override_getenv, &g.ov, &err) ||
        (g.sources != NULL && !config_set(&cfg, "HFSYNC_SOURCES", g.sources, &err))) {
        fprintf(stderr, "hfsync: %s%s\n", g.sources && cfg.target.url ? "--source: " : "", err.msg);
        exit_code = EXIT_USAGE;
        goto out;
    }
    log_setup(cfg.log_level, cfg.log_format);
    if (f.to != NULL && f.to[0] != '/') {
        fprintf(stderr, "hfsync restore: --to needs an absolute path, not '%s'\n", f.to);
        exit_code = EXIT_USAGE;
        goto out;
    }
    exit_code = run_command(command, &cfg, &f, &g, &err);
    if (exit_code != EXIT_OK && err.code != ERR_NONE)
        log_error("%s", err.msg);
out:
    free(g.sources);
    config_free(&cfg);
    for (size_t i = 0; i < g.ov.count; i++)
        free(g.ov.value[i]);
    for (size_t i = 0; i < g.replay_count; i++)
        free(g.replay[i]);
    free(g.replay);
    return exit_code;
}
