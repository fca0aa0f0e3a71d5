#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# The command line: --version, --help, usage and configuration errors (exit 2 naming the flag or
# variable), the env file, flags over env over file, HFSYNC_SOURCE, restore on an empty target,
# HFSYNC_EXCLUDE, an unreadable file.
. "$(dirname "$0")/lib.sh"
require_hfsync

SRC=$T/src/state
mkdir -p "$SRC/d1/d2" "$SRC/d1/cache/a" "$SRC/d1/cachex" "$SRC/keep"
printf 'one\n' >"$SRC/one.txt"
printf 'deep tmp\n' >"$SRC/d1/d2/deep.tmp"
printf 'tmp\n' >"$SRC/d1/x.tmp"
printf 'keep\n' >"$SRC/d1/keep.txt"
printf 'keep2\n' >"$SRC/d1/d2/keep.txt"
printf 'cached\n' >"$SRC/d1/cache/a/f.txt"
printf 'not cached\n' >"$SRC/d1/cachex/f.txt"
printf 'kept\n' >"$SRC/keep/y.txt"
SOURCES="state:$SRC"

# --- --version / --help
hf -- --version
expect_rc 0 "--version" &&
    { printf '%s' "$OUT" | grep -qE '[0-9]+\.[0-9]+\.[0-9]+' || problem "--version printed '$OUT', expected a version number"; }
report "--version prints a version and exits 0"

hf -- --help
if expect_rc 0 "--help"; then
    for c in backup restore list verify status; do
        printf '%s' "$OUT" | grep -qw "$c" || problem "--help on stdout does not mention '$c'"
    done
fi
report "--help lists the commands and exits 0"

hf -- backup --help
expect_rc 0 "backup --help" && { printf '%s\n%s' "$OUT" "$ERR" | grep -q -- '--full' || problem "backup --help does not mention --full"; }
hf -- restore --help
expect_rc 0 "restore --help" && {
    printf '%s\n%s' "$OUT" "$ERR" | grep -q -- '--to' || problem "restore --help does not mention --to"
    printf '%s\n%s' "$OUT" "$ERR" | grep -q -- '--backup' || problem "restore --help does not mention --backup"
}
[ -z "$(ls -A "$REPO_DIR")" ] || problem "a --help run wrote to the target: $(ls -A "$REPO_DIR")"
report "<cmd> --help describes the command's flags, exits 0 and does nothing"

# --- usage errors
hf -- frobnicate
expect_rc 2 "unknown command" && expect_err_contains frobnicate "unknown command"
report "an unknown command exits 2 naming it"
hf -- backup --bogus-flag
expect_rc 2 "unknown flag" && expect_err_contains --bogus-flag "unknown flag"
report "an unknown flag exits 2 naming it"
hf -- restore --to
expect_rc 2 "restore --to without a value" && expect_err_contains --to "restore --to without a value"
report "a flag missing its value exits 2 naming it"

# --- bad configuration values: exit 2, the message names the variable, nothing is written
bad_env() { # VAR=value
    local var=${1%%=*}
    hf "$1" -- backup
    expect_rc 2 "$1" && expect_err_contains "$var" "$1"
    [ -z "$(ls -A "$REPO_DIR")" ] || problem "$1: the target was written to: $(ls -A "$REPO_DIR")"
    report "bad value $1 exits 2 naming $var"
}
bad_env HFSYNC_VOLUME_SIZE=12X
bad_env HFSYNC_VOLUME_SIZE=1K
bad_env HFSYNC_VOLUME_SIZE=-5M
bad_env HFSYNC_REPO=ftp://x
bad_env HFSYNC_REPO=file://relative/dir
bad_env HFSYNC_COMPRESSION_LEVEL=99
bad_env HFSYNC_COMPRESSION_LEVEL=abc
bad_env HFSYNC_MAX_INCREMENTALS=many
bad_env HFSYNC_LOG_LEVEL=loud
bad_env "HFSYNC_SOURCES=state:relative/path"
bad_env "HFSYNC_EXCLUDE=a//b"

hf -u HFSYNC_REPO -- backup
expect_rc 2 "no HFSYNC_REPO" && expect_err_contains HFSYNC_REPO "no HFSYNC_REPO"
report "backup without a target exits 2 naming HFSYNC_REPO"

hf -u HFSYNC_SOURCES -- backup
expect_rc 2 "no sources" && expect_err_contains HFSYNC_SOURCE "no sources"
report "backup without sources exits 2 naming HFSYNC_SOURCES"

# --- empty target
hf -- list --json
if expect_rc 0 "list --json on an empty target"; then
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["backups"] == []' "$OUT" 2>/dev/null ||
        problem "list --json on an empty target printed '$OUT', expected {\"backups\": []}"
fi
report "list --json on an empty target shows no backups"

$TREE snap "$T/src" "$T/src.json"
hf -- restore
expect_rc 0 "restore on an empty target" && expect_err_matches 'no backups?' "restore on an empty target"
expect_tree "$T/src.json" "$T/src" "live tree after restore from an empty target"
report "restore on an empty target exits 0, says there is no backup, and leaves the sources alone"

hf -- restore --to "$T/empty-dest"
expect_rc 0 "restore --to on an empty target" && expect_err_matches 'no backups?' "restore --to on an empty target"
report "restore --to on an empty target exits 0 and says there is no backup"

hf -- status --json
expect_rc 0 "status --json" &&
    { python3 -c 'import json,sys; json.loads(sys.argv[1])' "$OUT" 2>/dev/null || problem "status --json printed non-JSON: '$OUT'"; }
report "status --json prints JSON"

# --- HFSYNC_EXCLUDE with **
hf "HFSYNC_EXCLUDE=**/*.tmp,**/cache/**" -- backup
if expect_rc 0 "backup with excludes" && [ -n "$OUT" ]; then
    hf -- restore --to "$T/excl"
    if expect_rc 0 "restore of the excluding backup"; then
        for p in d1/d2/deep.tmp d1/x.tmp d1/cache/a/f.txt; do
            [ ! -e "$T/excl/state/$p" ] || problem "excluded path $p was restored"
        done
        for p in one.txt d1/keep.txt d1/d2/keep.txt d1/cachex/f.txt keep/y.txt; do
            [ -f "$T/excl/state/$p" ] || problem "path $p (not excluded) is missing from the restore"
        done
    fi
else
    problem "backup with HFSYNC_EXCLUDE made no backup"
fi
report "HFSYNC_EXCLUDE with '**' keeps excluded paths out of the backup"

# --- two backups in the same second get distinct names; HFSYNC_VOLUME_SIZE=4K (the minimum) works
hf HFSYNC_VOLUME_SIZE=4K -- backup --full
if expect_rc 0 "first back-to-back --full"; then
    b1=$OUT
    hf HFSYNC_VOLUME_SIZE=4K -- backup --full
    if expect_rc 0 "second back-to-back --full"; then
        b2=$OUT
        { [ -n "$b1" ] && [ -n "$b2" ] && [ "$b1" != "$b2" ] && [[ "$b2" > "$b1" ]]; } ||
            problem "back-to-back full backups named '$b1' then '$b2': expected two distinct names sorting in creation order"
        [ -f "$REPO_DIR/backups/$b1.meta.json" ] && [ -f "$REPO_DIR/backups/$b2.meta.json" ] ||
            problem "the metas of '$b1' and '$b2' are not both on the target"
    fi
fi
report "back-to-back backups (same second) get distinct, ordered names; HFSYNC_VOLUME_SIZE=4K is accepted"

hf -- restore --to "$T/nosuch" --backup 20000101-000000F
expect_nonzero "restore --backup of a backup that does not exist" &&
    expect_err_contains 20000101-000000F "restore --backup of a backup that does not exist"
[ ! -e "$T/nosuch/state" ] || problem "restore of a missing backup created $T/nosuch/state"
report "restore --backup NAME of a missing backup fails naming it"

# --- HFSYNC_MAX_INCREMENTALS: the chain is cut after that many incrementals
REPO_URL=file://$T/repo-max
mkdir -p "$T/repo-max"
seq_types=
for i in 1 2 3 4; do
    printf 'change %s\n' "$i" >"$SRC/one.txt"
    touch -d "@$((1700000000 + i))" "$SRC/one.txt"
    hf HFSYNC_MAX_INCREMENTALS=2 HFSYNC_CACHE_DIR="$T/cache-max" -- backup
    expect_rc 0 "backup $i with HFSYNC_MAX_INCREMENTALS=2" || break
    seq_types="$seq_types${OUT: -1}"
done
[ "$seq_types" = FIIF ] || problem "with HFSYNC_MAX_INCREMENTALS=2 four changed backups were of types '$seq_types', expected FIIF"
report "HFSYNC_MAX_INCREMENTALS=2 starts a new full backup after two incrementals"
REPO_URL=file://$REPO_DIR

# --- HFSYNC_PREFIX
REPO_URL=file://$T/repo-prefix
mkdir -p "$T/repo-prefix"
hf HFSYNC_PREFIX=custom/dir HFSYNC_CACHE_DIR="$T/cache-prefix" -- backup
if expect_rc 0 "backup with HFSYNC_PREFIX=custom/dir"; then
    [ -f "$T/repo-prefix/custom/dir/$OUT.meta.json" ] || problem "no custom/dir/$OUT.meta.json on the target: $(cd "$T/repo-prefix" && find . | head)"
    grep -q "\"custom/dir/$OUT.meta.json\"" "$T/repo-prefix/latest-backup.json" 2>/dev/null ||
        problem "latest-backup.json does not point to custom/dir/$OUT.meta.json: $(cat "$T/repo-prefix/latest-backup.json" 2>&1)"
    [ ! -e "$T/repo-prefix/backups" ] || problem "objects were written under backups/ despite HFSYNC_PREFIX"
    hf HFSYNC_PREFIX=custom/dir HFSYNC_CACHE_DIR="$T/cache-prefix2" -- restore --to "$T/prefixdest"
    expect_rc 0 "restore with HFSYNC_PREFIX" &&
        { [ -f "$T/prefixdest/state/one.txt" ] || problem "restore with HFSYNC_PREFIX did not restore state/one.txt"; }
fi
report "HFSYNC_PREFIX puts the backups in that folder and the pointer names it"
REPO_URL=file://$REPO_DIR

# --- HFSYNC_SOURCE: one source named after the directory
REPO_URL=file://$T/repo-single
mkdir -p "$T/repo-single"
hf -u HFSYNC_SOURCES "HFSYNC_SOURCE=$SRC" HFSYNC_CACHE_DIR="$T/cache-single" -- backup
if expect_rc 0 "backup with HFSYNC_SOURCE"; then
    hf -u HFSYNC_SOURCES "HFSYNC_SOURCE=$SRC" HFSYNC_CACHE_DIR="$T/cache-single" -- restore --to "$T/single"
    expect_rc 0 "restore with HFSYNC_SOURCE" &&
        { [ -f "$T/single/state/one.txt" ] || problem "HFSYNC_SOURCE=$SRC did not restore into <to>/state/ (basename): $(ls -A "$T/single" 2>&1)"; }
fi
report "HFSYNC_SOURCE=/abs/path backs up a source named after its basename"
REPO_URL=file://$REPO_DIR

# --- env file: export, quotes, comments; never executed; real env and flags beat it
ESRC="$T/with space/envsrc"
mkdir -p "$ESRC"
printf 'from env file\n' >"$ESRC/e.txt"
RSRC=$T/realsrc
mkdir -p "$RSRC"
printf 'from real env\n' >"$RSRC/r.txt"
mkdir -p "$T/repo-env" "$T/repo-flag"
cat >"$T/hfsync.env" <<EOF
# hfsync settings

export HFSYNC_SOURCES='envsrc:$ESRC'
HFSYNC_VOLUME_SIZE="64K"   # comment after a value
  # an indented comment
HFSYNC_REPO="file://$T/repo-env"
NOT_HFSYNC_SHELL="\$(touch $T/pwned)"
EOF
hf -u HFSYNC_SOURCES -u HFSYNC_REPO "HFSYNC_ENV_FILE=$T/hfsync.env" -- backup
if expect_rc 0 "backup with sources and target from the env file"; then
    [ -n "$(ls "$T/repo-env/backups/" 2>/dev/null)" ] || problem "env file's HFSYNC_REPO was not used: $T/repo-env/backups is empty"
    hf -u HFSYNC_SOURCES -u HFSYNC_REPO "HFSYNC_ENV_FILE=$T/hfsync.env" -- restore --to "$T/envdest"
    expect_rc 0 "restore with the env file" &&
        { [ "$(cat "$T/envdest/envsrc/e.txt" 2>/dev/null)" = "from env file" ] ||
            problem "restore did not produce envsrc/e.txt from the env file's source: $(ls -A "$T/envdest" 2>&1)"; }
fi
[ ! -e "$T/pwned" ] || problem "the env file was executed: $T/pwned exists"
report "HFSYNC_ENV_FILE supplies HFSYNC_SOURCES/HFSYNC_REPO (export, quotes, comments), never executed"

rm -rf "$T/repo-env" && mkdir -p "$T/repo-env"
hf -u HFSYNC_REPO "HFSYNC_ENV_FILE=$T/hfsync.env" "HFSYNC_SOURCES=realsrc:$RSRC" -- backup
if expect_rc 0 "backup with real env over the env file"; then
    hf -u HFSYNC_REPO "HFSYNC_ENV_FILE=$T/hfsync.env" "HFSYNC_SOURCES=realsrc:$RSRC" -- restore --to "$T/realdest"
    if expect_rc 0 "restore with real env over the env file"; then
        [ -f "$T/realdest/realsrc/r.txt" ] || problem "real HFSYNC_SOURCES was not used: $(ls -A "$T/realdest" 2>&1)"
        [ ! -e "$T/realdest/envsrc" ] || problem "the env file's HFSYNC_SOURCES was used although the real env sets it"
    fi
fi
report "a variable in the real environment beats the env file"

hf -u HFSYNC_REPO "HFSYNC_ENV_FILE=$T/hfsync.env" -- backup --repo "file://$T/repo-flag" --source "flagsrc:$RSRC"
if expect_rc 0 "backup with --repo and --source over the env file"; then
    [ -n "$(ls "$T/repo-flag/backups/" 2>/dev/null)" ] || problem "--repo was not used: $T/repo-flag/backups is empty"
    hf -u HFSYNC_REPO "HFSYNC_ENV_FILE=$T/hfsync.env" -- restore --repo "file://$T/repo-flag" --to "$T/flagdest"
    expect_rc 0 "restore --repo" &&
        { [ -f "$T/flagdest/flagsrc/r.txt" ] || problem "--source flagsrc:... was not what got backed up: $(ls -A "$T/flagdest" 2>&1)"; }
fi
report "--repo and --source override the environment and the env file"

printf 'HFSYNC_VOLUME_SIZE="unterminated\n' >"$T/bad.env"
hf "HFSYNC_ENV_FILE=$T/bad.env" -- backup
expect_rc 2 "malformed env file" && expect_err_contains "bad.env" "malformed env file"
report "a malformed env file exits 2 naming the file"
hf "HFSYNC_ENV_FILE=$T/does-not-exist.env" -- backup
expect_rc 2 "missing env file" && expect_err_contains "does-not-exist.env" "missing env file"
report "a missing env file exits 2 naming it"

# --- an unreadable file is reported (needs a non-root user: root reads anything)
unreadable_case() { # runs as the current (non-root) user
    local u=$T/unread
    mkdir -p "$u/src" "$u/repo" "$u/cache" "$u/work"
    printf 'secret\n' >"$u/src/locked.txt"
    printf 'fine\n' >"$u/src/fine.txt"
    chmod 000 "$u/src/locked.txt"
}
if [ "$(id -u)" != 0 ]; then
    unreadable_case
    hf "HFSYNC_SOURCES=u:$T/unread/src" "HFSYNC_REPO=file://$T/unread/repo" -- backup
    expect_err_contains locked.txt "backup of a source with an unreadable file"
    report "an unreadable file in a source is reported by name"
elif command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
    # as root: run hfsync as nobody in a directory nobody owns
    U=$(mktemp -d "${TMPDIR:-/tmp}/hfsync-e2e-nobody.XXXXXX")
    chmod 755 "$U"
    mkdir -p "$U/src" "$U/repo" "$U/cache" "$U/work" "$U/home"
    printf 'secret\n' >"$U/src/locked.txt"
    printf 'fine\n' >"$U/src/fine.txt"
    chown -R nobody "$U"
    chmod 000 "$U/src/locked.txt"
    timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env -i PATH="$PATH" HOME="$U/home" HFSYNC_REPO="file://$U/repo" HFSYNC_SOURCES="u:$U/src" \
        HFSYNC_CACHE_DIR="$U/cache" HFSYNC_WORK_DIR="$U/work" "$HFSYNC" backup >"$T/last.out" 2>"$T/last.err"
    RC=$?
    OUT=$(cat "$T/last.out")
    ERR=$(cat "$T/last.err")
    LAST_CMD="backup (as nobody, source with a chmod 000 file)"
    if [ "$RC" = 0 ] && [ -z "$ERR$OUT" ]; then
        problem "backup as nobody of a source with an unreadable file succeeded silently"
    fi
    expect_err_contains locked.txt "backup of a source with an unreadable file"
    rm -rf "$U"
    report "an unreadable file in a source is reported by name (run as nobody)"
else
    skip "an unreadable file in a source is reported by name" "running as root without setpriv"
fi

finish
