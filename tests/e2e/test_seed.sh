#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# The original OpenClaw script's format, both ways (issue 8; reference/seed-format.md):
# - every backup of the script's fixture chains (plain, encrypted, encrypted and split) restores
#   to the expected tree recorded beside it, through file:// and s3:// (moto), picked by the
#   pointer, --backup, HFSYNC_RESTORE_BACKUP or OPENCLAW_RESTORE_ARCHIVE, in place with the
#   script's own OPENCLAW_ settings too;
# - a wrong password, a missing one, a flipped byte: clear errors, live data untouched;
# - hostile archives are refused (or their special files skipped), nothing written outside;
# - a repo with the script's chain followed by native chains restores whichever is asked for;
# - HFSYNC_FORMAT=seed writes the script's format: checked field by field, restored by an
#   independent reader (seed_reader.sh: cat, sha256sum, openssl enc, tar) and by hfsync.
#
# About directory mtimes: the format records directories only in full backups, and the fixtures'
# expected trees were made by extracting the archives in order, so a directory an incremental put
# something into carries the time of that extraction. Those mtimes (and only those) are left out
# of the comparisons; seed_reader.sh --touched lists them.
. "$(dirname "$0")/lib.sh"
require_hfsync

FX=$REPO_ROOT/tests/fixtures/seed-format
READER="bash $E2E_DIR/seed_reader.sh"
STOOL="python3 $E2E_DIR/seed_tool.py"
PW=fixture-pass
SOURCES=

for fx in plain encrypted encrypted-split; do
    cp -a "$FX/$fx/remote" "$T/fx-$fx" # the fixtures themselves are never touched
done

# The archive name ("openclaw-backup-…tar.gz[.enc]") of backup STAMP-NAME in fixture FX.
archive_of() { # fx name
    local f
    for f in "$T/fx-$1/backups/$2".tar.gz*.meta.json; do
        basename "$f" .meta.json
        return
    done
}

# expected tree of fixture FX up to backup NAME: $T/exp/FX-NAME.json, and the directories whose
# mtime is an extraction time: $T/exp/FX-NAME.touched (from the independent reader, whose own
# result must match the expected tree: a check of the reader itself)
mkdir -p "$T/exp"
prepare_expected() { # fx name
    local fx=$1 name=$2 d=$T/exp/$1-$2
    mkdir -p "$d"
    tar -xpf "$FX/$fx/expected/$name.expected.tar" -C "$d"
    $TREE snap "$d" "$d.json"
    if ! msg=$($READER "$T/fx-$fx" "$d.reader" --password "$PW" --archive "$(archive_of "$fx" "$name")" \
        --touched "$d.touched" 2>&1); then
        problem "seed_reader.sh on fixture $fx/$name: $msg"
        return 1
    fi
    local diff
    if ! diff=$($TREE cmp-dir --ignore-mtimes "$d.touched" "$d.json" "$d.reader" 2>&1); then
        problem "seed_reader.sh's tree of fixture $fx/$name differs from the expected one:"
        problem "$diff"
    fi
}

# restored DIR against fixture FX's expected tree at NAME
expect_fixture_tree() { # fx name dir what
    local diff
    if ! diff=$($TREE cmp-dir --ignore-mtimes "$T/exp/$1-$2.touched" "$T/exp/$1-$2.json" "$3" 2>&1); then
        problem "$4: $3 differs from the expected tree of $1/$2:"
        problem "$(printf '%s' "$diff" | head -n 30)"
        return 1
    fi
    return 0
}

PLAIN=(openclaw-backup-20261121-192445 openclaw-backup-20261121-192447 openclaw-backup-20261121-192450)
ENC=(openclaw-backup-20261121-192453 openclaw-backup-20261121-192456 openclaw-backup-20261121-192458)
SPLIT=(openclaw-backup-20261121-192501)
for n in "${PLAIN[@]}"; do prepare_expected plain "$n"; done
for n in "${ENC[@]}"; do prepare_expected encrypted "$n"; done
prepare_expected encrypted-split "${SPLIT[0]}"
report "the independent reader (seed_reader.sh) reproduces every fixture's expected trees"

# --- every fixture backup restores to its expected tree, through file:// --------------------
# restore_fixture FX NAME HOW: HOW is "pointer", "--backup X", or an environment assignment
restore_fixture() { # fx name dest how...
    local fx=$1 name=$2 dest=$3
    shift 3
    rm -rf "$dest"
    rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
    REPO_URL=file://$T/fx-$fx
    case $1 in
    pointer) hf HFSYNC_PASSWORD=$PW -- restore --to "$dest" ;;
    --backup) hf HFSYNC_PASSWORD=$PW -- restore --to "$dest" --backup "$2" ;;
    *) hf HFSYNC_PASSWORD=$PW "$@" -- restore --to "$dest" ;;
    esac
    REPO_URL=file://$REPO_DIR
    expect_rc 0 "restore of $fx/$name ($*)" && expect_fixture_tree "$fx" "$name" "$dest" "restore of $fx/$name"
}

restore_fixture plain "${PLAIN[2]}" "$T/r1" pointer
restore_fixture plain "${PLAIN[1]}" "$T/r2" "OPENCLAW_RESTORE_ARCHIVE=${PLAIN[1]}.tar.gz"
restore_fixture plain "${PLAIN[0]}" "$T/r3" --backup "${PLAIN[0]}"
grep -q "no deletions" "$T/last.err" && problem "a restore of a full backup alone warned about deletions"
report "plain fixture: the latest (pointer), an older one (OPENCLAW_RESTORE_ARCHIVE) and the full (--backup NAME) restore exactly"

restore_fixture encrypted "${ENC[2]}" "$T/r1" pointer
expect_err_contains "may reappear" "restore of a chain with incrementals"
restore_fixture encrypted "${ENC[1]}" "$T/r2" "HFSYNC_RESTORE_BACKUP=${ENC[1]}.tar.gz.enc"
restore_fixture encrypted "${ENC[0]}" "$T/r3" --backup "${ENC[0]}.tar.gz.enc"
report "encrypted fixture: every backup of the chain restores exactly, and the log warns that deletions are not recorded"

restore_fixture encrypted-split "${SPLIT[0]}" "$T/r1" pointer
report "encrypted and split fixture: the four .part- pieces join, decrypt and restore exactly"
rm -rf "$T/r1" "$T/r2" "$T/r3"

# --- in place, with the script's own settings -------------------------------------------------
LIVE=$T/live
oc_env() { # the script's configuration of this machine: every root under $LIVE
    echo "OPENCLAW_STATE_DIR=$LIVE/state" "OPENCLAW_BACKUP_ROOT_CONFIG_DIR=$LIVE/root/.config" \
        "OPENCLAW_BACKUP_ROOT_CODEX_DIR=$LIVE/root/.codex" "OPENCLAW_BACKUP_ROOT_CLAUDE_DIR=$LIVE/root/.claude" \
        "OPENCLAW_BACKUP_ROOT_AGENTS_DIR=$LIVE/root/.agents" "OPENCLAW_BACKUP_ROOT_SSH_DIR=$LIVE/root/.ssh" \
        "OPENCLAW_BACKUP_ROOT_ENV_DIR=$LIVE/root/.env.d" "OPENCLAW_BACKUP_ROOT_LARK_CLI_DIR=$LIVE/root/.lark-cli" \
        "OPENCLAW_BACKUP_ROOT_NPM_DIR=$LIVE/root/.npm" "OPENCLAW_BACKUP_METADATA_DIR=$LIVE/backup-info" \
        "OPENCLAW_BACKUP_EXTRA_FILES=extra-agent-env:$LIVE/extra/agent-env" \
        "OPENCLAW_BACKUP_ENCRYPTION_ENABLED=true" "OPENCLAW_BACKUP_ENCRYPTION_PASSWORD=$PW"
}
read -r -a OC <<<"$(oc_env)"
printf 'root\nextra\n' >"$T/live-parents"
make_live() {
    rm -rf "$LIVE"
    mkdir -p "$LIVE/state/junk" "$LIVE/root/.config" "$LIVE/root/.ssh" "$LIVE/root/.codex" "$LIVE/backup-info" "$LIVE/extra"
    echo "stale state" >"$LIVE/state/junk/old.txt"
    echo "stale config" >"$LIVE/root/.config/stale.toml"
    echo "codex is not in the backups" >"$LIVE/root/.codex/keep.txt"
    echo "OLD=1" >"$LIVE/extra/agent-env"
    $TREE snap "$LIVE" "$T/live.json"
}
make_live
REPO_URL=file://$T/fx-encrypted
hf "${OC[@]}" -- restore
REPO_URL=file://$REPO_DIR
if expect_rc 0 "in-place restore with the script's settings"; then
    for pair in openclaw-state:state root-config:root/.config root-ssh:root/.ssh backup-info:backup-info; do
        root=${pair%%:*} dir=${pair#*:}
        $TREE snap "$T/exp/encrypted-${ENC[2]}/$root" "$T/exp-root.json"
        sed -n "s#^$root/##p" "$T/exp/encrypted-${ENC[2]}.touched" >"$T/exp-root.touched"
        diff=$($TREE cmp-dir --ignore-mtimes "$T/exp-root.touched" "$T/exp-root.json" "$LIVE/$dir" 2>&1) ||
            problem "archive root $root restored in place at $LIVE/$dir differs: $diff"
    done
    cmp -s "$T/exp/encrypted-${ENC[2]}/extra-agent-env" "$LIVE/extra/agent-env" ||
        problem "the extra file extra-agent-env was not restored to $LIVE/extra/agent-env"
    [ "$(cat "$LIVE/root/.codex/keep.txt" 2>/dev/null)" = "codex is not in the backups" ] ||
        problem "root-codex, which the backups do not hold, was touched"
    [ -e "$LIVE/state/junk" ] && problem "the stale state was not replaced by the backup's"
    expect_no_staging "$LIVE/state" "$LIVE/root/.config" "$LIVE/extra/agent-env"
fi
report "in place with the script's OPENCLAW_ settings: every archive root (extra file included) replaces its directory, others untouched"

# --- wrong, missing and old passwords; damage -------------------------------------------------
# in_place_fails FX EXPECTED-RC NEEDLE WHAT [env...]: the in-place restore fails, live untouched
in_place_fails() {
    local fx=$1 rc=$2 needle=$3 what=$4
    shift 4
    make_live
    REPO_URL=file://$T/fx-$fx
    hf "${OC[@]}" "$@" -- restore
    REPO_URL=file://$REPO_DIR
    expect_rc "$rc" "$what" && expect_err_contains "$needle" "$what"
    # (the staging paths beside each root come and go in $LIVE/root and $LIVE/extra)
    local diff
    diff=$($TREE cmp-dir --ignore-mtimes "$T/live-parents" "$T/live.json" "$LIVE" 2>&1) ||
        problem "$what: live data changed: $diff"
    expect_no_staging "$LIVE/state" "$LIVE/root/.config" "$LIVE/extra/agent-env"
}

in_place_fails encrypted 2 "wrong password" "restore with a wrong password" \
    OPENCLAW_BACKUP_ENCRYPTION_PASSWORD=not-the-password
expect_err_matches "hint: .*HFSYNC_PASSWORD" "wrong password hint"
if printf '%s\n%s' "$OUT" "$ERR" | grep -iE "corrupt|checksum" | grep -qv " info "; then
    problem "a wrong password was reported as damage: $(printf '%s' "$ERR" | tail -n 3)"
fi
report "a wrong password fails with exit 2 and 'wrong password' (not 'corrupt'), live data untouched"

in_place_fails encrypted-split 2 "no password is set" "restore without a password" -u OPENCLAW_BACKUP_ENCRYPTION_ENABLED \
    -u OPENCLAW_BACKUP_ENCRYPTION_PASSWORD
report "an encrypted backup without a password fails with exit 2 saying so, live data untouched"

printf 'first-old\n%s\n' "$PW" >"$T/old-passwords"
rm -rf "$T/r-old"
REPO_URL=file://$T/fx-encrypted
hf HFSYNC_PASSWORD=rotated-since HFSYNC_OLD_PASSWORDS_FILE="$T/old-passwords" -- restore --to "$T/r-old"
REPO_URL=file://$REPO_DIR
expect_rc 0 "restore with the password in HFSYNC_OLD_PASSWORDS_FILE" &&
    expect_fixture_tree encrypted "${ENC[2]}" "$T/r-old" "restore with an old password"
report "a backup made with an earlier password restores through HFSYNC_OLD_PASSWORDS_FILE"

cp -a "$T/fx-encrypted-split" "$T/fx-damaged-split"
$STOOL flip "$T/fx-damaged-split/backups/${SPLIT[0]}.tar.gz.enc.part-ab"
in_place_fails damaged-split 3 "checksum mismatch" "restore with a flipped byte in part-ab"
report "a flipped byte in one .part- piece fails with exit 3 (checksum mismatch), live data untouched"

cp -a "$T/fx-encrypted" "$T/fx-damaged-head"
$STOOL flip "$T/fx-damaged-head/backups/${ENC[0]}.tar.gz.enc" 20
in_place_fails damaged-head 3 "checksum mismatch" "restore with a flipped byte in the first cipher block"
grep -q "error.*wrong password" "$T/last.err" && problem "damage in the first cipher block was reported as a wrong password"
report "damage in the first cipher block is reported as damage (checksum), not as a wrong password"

cp -a "$T/fx-plain" "$T/fx-damaged-plain"
$STOOL flip "$T/fx-damaged-plain/backups/${PLAIN[1]}.tar.gz"
in_place_fails damaged-plain 3 "${PLAIN[1]}" "restore with a flipped byte in an incremental's archive"
report "a flipped byte in an incremental's archive fails with exit 3 naming that backup, live data untouched"

REPO_URL=file://$T/fx-damaged-split
hf HFSYNC_PASSWORD=$PW -- verify --deep
expect_rc 3 "verify --deep of the damaged split backup" && expect_err_contains "checksum mismatch" "verify --deep"
for fx in plain encrypted encrypted-split; do
    REPO_URL=file://$T/fx-$fx
    hf HFSYNC_PASSWORD=$PW -- verify --deep
    expect_rc 0 "verify --deep of fixture $fx"
    hf -- verify
    expect_rc 0 "verify of fixture $fx (no password needed)"
done
REPO_URL=file://$REPO_DIR
report "verify and verify --deep pass on the fixtures and catch the flipped byte"

REPO_URL=file://$T/fx-plain
hf -- list
expect_rc 0 "list" && expect_err_contains "${PLAIN[2]}.tar.gz" "list" && expect_err_contains "(latest)" "list"
hf -- list --json
expect_rc 0 "list --json" &&
    { printf '%s' "$OUT" | python3 -c 'import json,sys; b=json.load(sys.stdin)["backups"]; assert len(b)==3 and all(x["format"]=="seed" for x in b) and [x["type"] for x in b]==["incremental","incremental","full"], b' 2>&1 ||
        problem "list --json does not show the three seed backups, newest first: $OUT"; }
REPO_URL=file://$REPO_DIR
report "list shows the script's backups (names, types, latest) in text and JSON"

# --- hostile archives -----------------------------------------------------------------------
ESC=$T/esc
mkdir -p "$ESC"
$TREE snap "$ESC" "$T/esc.json"
HLIVE=$T/hlive
hostile() { # rule expected-rc needle what
    rm -rf "$T/hrepo" "$HLIVE"
    mkdir -p "$HLIVE/openclaw-state"
    echo "live" >"$HLIVE/openclaw-state/live.txt"
    $TREE snap "$HLIVE" "$T/hlive.json"
    if ! msg=$($STOOL hostile "$T/hrepo" "$1" "$ESC" 2>&1); then
        problem "$1: could not build the fixture: $msg"
        return
    fi
    REPO_URL=file://$T/hrepo
    SOURCES="openclaw-state:$HLIVE/openclaw-state"
    hf -- restore
    SOURCES=
    REPO_URL=file://$REPO_DIR
    expect_rc "$2" "$1: restore in place" && expect_err_matches "$3" "$1: restore in place"
    [ "$2" = 0 ] || expect_tree "$T/hlive.json" "$HLIVE" "$1: live data"
    expect_no_staging "$HLIVE/openclaw-state"
    local diff found
    diff=$($TREE cmp-dir "$T/esc.json" "$ESC" 2>&1) || problem "$1: $ESC changed: $diff"
    found=$(find "$T" -path "$T/hrepo" -prune -o \( -name 'escape-*' -o -type p -o -type c \) -print 2>/dev/null | head -n 3)
    [ -z "$found" ] || problem "$1: found what a hostile member wrote: $found"
}
hostile dotdot 3 "refused.*'\\.\\.'"
report "an archive member with '..' components is refused (exit 3), live data untouched"
hostile absolute 3 "refused.*absolute"
report "an absolute archive member is refused"
hostile root-dotdot 3 "member '\\.\\.' refused"
report "an archive root named '..' is refused"
hostile symlink-through 3 "below 'openclaw-state/evil-link', a symlink"
report "a member below a symlink of the same archive is refused"
hostile hardlink-out 3 "hard link .* refused"
report "a hard link to a path outside the archive is refused"
hostile hardlink-absent 3 "not a file restored before it"
report "a hard link to nothing restored is refused"
hostile duplicate 3 "appears twice"
report "a member that appears twice in one archive is refused"
hostile special 0 "devices, fifos and sockets are not restored"
[ -e "$HLIVE/openclaw-state/ok.txt" ] || problem "special: the archive's regular file was not restored"
report "fifos and devices in an archive are skipped with a warning, never created; the rest restores"
hostile hardlink-ok 0 "restore .* done"
{ [ "$(cat "$HLIVE/openclaw-state/hl-copy" 2>/dev/null)" = ok ] && [ "$(stat -c %h "$HLIVE/openclaw-state/hl-copy")" = 1 ]; } ||
    problem "hardlink-ok: hl-copy is not a separate copy of ok.txt"
report "a hard link within an archive is restored as a separate copy of its target"
hostile link-then-dir 0 "restored as a directory"
{ [ -d "$HLIVE/openclaw-state/evil-link" ] && [ ! -L "$HLIVE/openclaw-state/evil-link" ] &&
    [ -f "$HLIVE/openclaw-state/evil-link/inc-below-link" ]; } ||
    problem "link-then-dir: evil-link is not a real directory holding inc-below-link"
report "a symlink of the full with files below it in an incremental becomes a directory; nothing is written through the link"

# --- a repo with the script's chain, then native chains ----------------------------------------
cp -a "$T/fx-plain" "$T/mixed"
REPO_URL=file://$T/mixed
NLIVE=$T/nlive
mkdir -p "$NLIVE"
$TREE gen "$NLIVE/state" --seed 41 --files 200 --big 0
SOURCES="state:$NLIVE/state"
backup_expect F
NATIVE_F=$BK
$TREE snap "$NLIVE" "$T/nlive-full.json"
$TREE mutate "$NLIVE/state" --seed 41 --step 1
backup_expect I HFSYNC_FULL_RATIO=0 # mutate changes most of the tree: keep it an incremental
$TREE snap "$NLIVE" "$T/nlive.json"
hf -- restore --to "$T/m-native"
expect_rc 0 "restore of the native chain in the mixed repo" && expect_tree "$T/nlive.json" "$T/m-native" "native restore"
hf OPENCLAW_RESTORE_ARCHIVE="${PLAIN[2]}.tar.gz" -- restore --to "$T/m-seed"
expect_rc 0 "restore of the script's chain in the mixed repo" &&
    expect_fixture_tree plain "${PLAIN[2]}" "$T/m-seed" "seed restore from the mixed repo"
hf HFSYNC_RESTORE_BACKUP="$NATIVE_F" -- restore --to "$T/m-native-full"
expect_rc 0 "restore of the native full by HFSYNC_RESTORE_BACKUP" &&
    expect_tree "$T/nlive-full.json" "$T/m-native-full" "native restore by HFSYNC_RESTORE_BACKUP"
hf -- verify --deep
expect_rc 0 "verify --deep of the mixed repo"
hf -- list --json
printf '%s' "$OUT" | python3 -c 'import json,sys; b=json.load(sys.stdin)["backups"]; f=sorted({x["format"] for x in b}); assert f==["hfsync","seed"] and len(b)==5, b' 2>/dev/null ||
    problem "list --json of the mixed repo does not show 3 seed and 2 native backups: $OUT"
report "a repo with the script's chain then a native chain restores either (pointer, OPENCLAW_RESTORE_ARCHIVE, HFSYNC_RESTORE_BACKUP), verifies and lists both"

# --- a custom prefix (OPENCLAW_BACKUP_PATH_PREFIX): the script's pointer and parents include it
mkdir -p "$T/pfx/my"
cp -a "$T/fx-encrypted/backups" "$T/pfx/my/seed-backups"
sed -e 's#"backups/#"my/seed-backups/#' "$T/fx-encrypted/latest-backup.json" >"$T/pfx/latest-backup.json"
for f in "$T/pfx/my/seed-backups/"*.meta.json; do sed -i 's#"backups/#"my/seed-backups/#' "$f"; done
REPO_URL=file://$T/pfx
rm -rf "$T/p1" "$T/p2"
hf HFSYNC_PASSWORD=$PW OPENCLAW_BACKUP_PATH_PREFIX=my/seed-backups -- restore --to "$T/p1"
expect_rc 0 "restore under a custom prefix" && expect_fixture_tree encrypted "${ENC[2]}" "$T/p1" "restore under a custom prefix"
hf HFSYNC_PASSWORD=$PW OPENCLAW_BACKUP_PATH_PREFIX=/my/seed-backups/ OPENCLAW_RESTORE_ARCHIVE="${ENC[1]}.tar.gz.enc" -- restore --to "$T/p2"
expect_rc 0 "restore by archive name under a custom prefix" &&
    expect_fixture_tree encrypted "${ENC[1]}" "$T/p2" "restore by archive name under a custom prefix"
SOURCES="state:$NLIVE/state"
hf HFSYNC_FORMAT=seed HFSYNC_PASSWORD=$PW OPENCLAW_BACKUP_PATH_PREFIX=my/seed-backups -- backup
expect_rc 0 "seed backup under a custom prefix" &&
    { diff=$($STOOL check "$T/pfx" --prefix my/seed-backups --password $PW 2>&1) || problem "custom prefix: $diff"; }
SOURCES=
REPO_URL=file://$REPO_DIR
report "a custom prefix (slashes stripped): the pointer, parents and OPENCLAW_RESTORE_ARCHIVE resolve under it, and seed backups are written there"

# --- HFSYNC_FORMAT=seed: the script's format, read back independently ------------------------
WLIVE=$T/wlive
REPO_URL=file://$T/seedrepo
mkdir -p "$WLIVE"
$TREE gen "$WLIVE/state" --seed 51 --files 300 --big 2
$TREE gen "$WLIVE/config" --seed 52 --files 40 --big 0
printf 'TOKEN=1\n' >"$WLIVE/agent-env"
SOURCES="state:$WLIVE/state,config:$WLIVE/config,agent-env:$WLIVE/agent-env"
SEEDENV=(HFSYNC_FORMAT=seed HFSYNC_PASSWORD=seed-pass HFSYNC_VOLUME_SIZE=1M)
NAME_RE='^openclaw-backup-[0-9]{8}-[0-9]{6}\.tar\.gz\.enc$'

# reader_matches SNAP WHAT: the independent reader and hfsync both restore the latest backup to
# the snapshot (ignoring the mtimes of directories the incrementals put something into)
reader_matches() {
    local snap=$1 what=$2 diff
    rm -rf "$T/w-reader" "$T/w-hfsync"
    if ! diff=$($READER "$T/seedrepo" "$T/w-reader" --password seed-pass --touched "$T/w.touched" 2>&1); then
        problem "$what: seed_reader.sh failed: $diff"
        return
    fi
    diff=$($TREE cmp-dir --ignore-mtimes "$T/w.touched" "$snap" "$T/w-reader" 2>&1) ||
        problem "$what: the independent reader's tree differs from the sources:" "$diff"
    hf "${SEEDENV[@]}" -- restore --to "$T/w-hfsync"
    expect_rc 0 "$what: hfsync restore" &&
        { diff=$($TREE cmp-dir --ignore-mtimes "$T/w.touched" "$snap" "$T/w-hfsync" 2>&1) ||
            problem "$what: hfsync's restore differs from the sources:" "$diff"; }
    diff=$($STOOL check "$T/seedrepo" --password seed-pass 2>&1) || problem "$what: the repo breaks the format:" "$diff"
}

hf "${SEEDENV[@]}" -- backup
if expect_rc 0 "HFSYNC_FORMAT=seed full backup"; then
    printf '%s' "$OUT" | grep -qE "$NAME_RE" || problem "the backup's name '$OUT' is not the script's"
    W1=$OUT
    parts=$(find "$T/seedrepo/backups" -name "$W1.part-*" | wc -l)
    [ "$parts" -ge 3 ] || problem "expected the ~3 MB archive cut into 1 MiB .part- pieces, got $parts"
    $TREE snap "$WLIVE" "$T/w0.json"
    reader_matches "$T/w0.json" "full seed backup"
fi
report "HFSYNC_FORMAT=seed: a full backup (encrypted, split) is the script's format and the independent reader restores it exactly"

# incremental: changed and new files (mtime now), a new directory with a file, the extra file.
# The script's rule takes files modified since the previous backup's second (that second
# included): the backup runs a second after the changes so the next one does not see them again.
printf 'appended\n' >>"$WLIVE/state/link-rel" 2>/dev/null || true
find "$WLIVE/state" -type f -name 'f000[0-4]*' -exec sh -c 'printf "changed\n" >>"$1"' _ {} \;
printf 'new file\n' >"$WLIVE/config/added.txt"
mkdir -m 755 "$WLIVE/state/new-dir"
printf 'in a new dir\n' >"$WLIVE/state/new-dir/inside.txt"
printf 'TOKEN=2\n' >"$WLIVE/agent-env"
sleep 1.1
hf "${SEEDENV[@]}" -- backup
if expect_rc 0 "seed incremental backup"; then
    W2=$OUT
    [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backup_type"])' "$T/seedrepo/backups/$W2.meta.json")" = incremental ] ||
        problem "the second seed backup is not an incremental"
    $TREE snap "$WLIVE" "$T/w1.json"
    reader_matches "$T/w1.json" "seed incremental"
fi
report "a seed incremental holds the changed and new files; reader and hfsync restore the sources"

hf "${SEEDENV[@]}" -- backup
expect_rc 0 "seed backup with nothing changed" && { [ -z "$OUT" ] || problem "nothing changed, yet backup '$OUT' was made"; }
report "a seed backup with no file changed makes no backup"

rm -f "$WLIVE/config/added.txt"
printf 'after the delete\n' >"$WLIVE/state/new-dir/inside.txt"
sleep 1.1
hf "${SEEDENV[@]}" -- backup
expect_rc 0 "seed incremental after a delete"
rm -rf "$T/w-del"
hf "${SEEDENV[@]}" -- restore --to "$T/w-del"
if expect_rc 0 "restore after a delete"; then
    [ -f "$T/w-del/config/added.txt" ] || problem "the deleted file did not come back (the format records no deletions)"
    [ "$(cat "$T/w-del/state/new-dir/inside.txt")" = "after the delete" ] || problem "the latest change was not restored"
fi
report "deletions are not recorded by the script's format: the deleted file comes back, as documented"

hf "${SEEDENV[@]}" HFSYNC_VOLUME_SIZE=256M HFSYNC_PASSWORD= -- backup --full
if expect_rc 0 "plain seed full backup"; then
    printf '%s' "$OUT" | grep -qE '^openclaw-backup-[0-9]{8}-[0-9]{6}\.tar\.gz$' || problem "plain backup name '$OUT'"
    [ -f "$T/seedrepo/backups/$OUT" ] || problem "no single volume $OUT"
    diff=$($STOOL check "$T/seedrepo" --password seed-pass 2>&1) || problem "format check: $diff"
    rm -rf "$T/w-plain"
    $READER "$T/seedrepo" "$T/w-plain" >/dev/null 2>&1 || problem "seed_reader.sh cannot read the plain backup"
    $TREE snap "$WLIVE" "$T/w3.json"
    diff=$($TREE cmp-dir "$T/w3.json" "$T/w-plain" 2>&1) || problem "plain seed backup read independently differs: $diff"
fi
report "an unencrypted seed backup under HFSYNC_VOLUME_SIZE is one .tar.gz the independent reader restores exactly"

# seed after native: the latest is native, so the seed backup starts a new (full) chain
REPO_URL=file://$T/mixed
SOURCES="state:$NLIVE/state"
hf HFSYNC_FORMAT=seed -- backup
if expect_rc 0 "seed backup after a native chain"; then
    python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["backup_type"]=="full" and m["parent"] is None' \
        "$T/mixed/backups/$OUT.meta.json" 2>/dev/null || problem "the seed backup after a native chain is not a full one"
    rm -rf "$T/m-reader"
    if $READER "$T/mixed" "$T/m-reader" >/dev/null 2>&1; then
        expect_tree "$T/nlive.json" "$T/m-reader" "seed backup after native, read independently"
    else
        problem "seed_reader.sh cannot read the seed backup made after native ones"
    fi
fi
report "HFSYNC_FORMAT=seed after native backups starts a full chain of the script's format (migrating back)"

# --- through the Hub (tests/hub-emulator; the fixtures uploaded by @huggingface/hub) -----------
HUB_DIR=$REPO_ROOT/tests/hub
if ! python3 -c 'import flask' 2>/dev/null || ! command -v node >/dev/null 2>&1 ||
    [ ! -d "$HUB_DIR/node_modules/@huggingface/hub" ]; then
    skip "the fixtures restore through hf://" "Flask, node or tests/hub/node_modules is missing (run make deps)"
else
    "$REPO_ROOT/tests/hub-emulator" --port 0 --data "$T/hub-data" --port-file "$T/hub.port" \
        --token hf_test --quiet >"$T/hub.log" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 100); do [ -s "$T/hub.port" ] && break; sleep 0.1; done
    EMU_URL=http://127.0.0.1:$(cat "$T/hub.port" 2>/dev/null)
    HUBENV=(HF_ENDPOINT="$EMU_URL" HF_TOKEN=hf_test HFSYNC_PASSWORD=$PW)
    for fx in plain encrypted encrypted-split; do
        node "$HUB_DIR/upload_dir.mjs" "$EMU_URL" hf_test "datasets/user/fx-$fx" "$FX/$fx/remote" >>"$T/hub-up.log" 2>&1 ||
            problem "uploading fixture $fx to the emulator failed: $(tail -n 3 "$T/hub-up.log")"
    done
    hub_restore() { # fx name dest [env]
        rm -rf "$3" && rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
        REPO_URL=hf://datasets/user/fx-$1
        hf "${HUBENV[@]}" "${@:4}" -- restore --to "$3"
        REPO_URL=file://$REPO_DIR
        expect_rc 0 "restore of $1/$2 from hf://" && expect_fixture_tree "$1" "$2" "$3" "restore of $1/$2 from hf://"
    }
    hub_restore plain "${PLAIN[2]}" "$T/h1"
    hub_restore plain "${PLAIN[0]}" "$T/h2" "OPENCLAW_RESTORE_ARCHIVE=${PLAIN[0]}.tar.gz"
    hub_restore encrypted "${ENC[2]}" "$T/h3"
    hub_restore encrypted-split "${SPLIT[0]}" "$T/h4"
    report "the fixtures uploaded to a Hub dataset restore exactly from hf:// (pointer and OPENCLAW_RESTORE_ARCHIVE)"

    mkdir -p "$T/hsrc/state" && echo "seed on the hub" >"$T/hsrc/state/a.txt"
    before=$(curl -s "$EMU_URL/_emulator/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['commits']['total'])")
    SOURCES="state:$T/hsrc/state"
    REPO_URL=hf://datasets/user/seed-written
    hf "${HUBENV[@]}" HFSYNC_FORMAT=seed HFSYNC_VOLUME_SIZE=1M -- backup
    expect_rc 0 "HFSYNC_FORMAT=seed backup to hf://"
    after=$(curl -s "$EMU_URL/_emulator/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['commits']['total'])")
    [ "$after" = $((before + 1)) ] || problem "the seed-format backup made $((after - before)) commits, expected 1"
    rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
    hf "${HUBENV[@]}" -- restore --to "$T/h5"
    expect_rc 0 "restore of the seed-format backup from hf://" &&
        { cmp -s "$T/hsrc/state/a.txt" "$T/h5/state/a.txt" || problem "the restored file differs"; }
    SOURCES=
    REPO_URL=file://$REPO_DIR
    report "an HFSYNC_FORMAT=seed backup to hf:// is one commit and restores"
    kill "$EMU_PID" 2>/dev/null
    wait "$EMU_PID" 2>/dev/null
fi

# --- through S3 (moto) --------------------------------------------------------------------------
S3TOOL="python3 $E2E_DIR/s3_tool.py"
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' 2>/dev/null; then
    skip "the fixtures restore through s3://" "moto_server or boto3 is not installed"
    finish
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >"$T/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null; wait $MOTO_PID 2>/dev/null; _e2e_cleanup' EXIT
EP=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
if ! $S3TOOL "$EP" wait; then
    fail "moto_server starts" "$(cat "$T/moto.log")"
    finish
fi
$S3TOOL "$EP" mkbucket seed-e2e
S3ENV=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "AWS_ENDPOINT_URL=$EP" HFSYNC_PASSWORD=$PW)
SOURCES=
for fx in plain encrypted encrypted-split; do
    $S3TOOL "$EP" upload "$FX/$fx/remote" seed-e2e "fx/$fx"
done
s3_restore() { # fx name dest [env]
    rm -rf "$3" && rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
    REPO_URL=s3://seed-e2e/fx/$1
    hf "${S3ENV[@]}" "${@:4}" -- restore --to "$3"
    REPO_URL=file://$REPO_DIR
    expect_rc 0 "restore of $1/$2 from s3://" && expect_fixture_tree "$1" "$2" "$3" "restore of $1/$2 from s3://"
}
s3_restore plain "${PLAIN[2]}" "$T/s1"
s3_restore plain "${PLAIN[0]}" "$T/s2" "OPENCLAW_RESTORE_ARCHIVE=${PLAIN[0]}.tar.gz"
s3_restore encrypted "${ENC[2]}" "$T/s3"
s3_restore encrypted-split "${SPLIT[0]}" "$T/s4"
report "the fixtures copied into an S3 bucket restore exactly from s3:// (pointer and OPENCLAW_RESTORE_ARCHIVE)"

REPO_URL=s3://seed-e2e/fx/encrypted
hf "${S3ENV[@]}" HFSYNC_PASSWORD=wrong -- restore --to "$T/s5"
REPO_URL=file://$REPO_DIR
expect_rc 2 "wrong password over s3://" && expect_err_contains "wrong password" "wrong password over s3://"
[ -e "$T/s5" ] && problem "a failed restore --to left $T/s5 behind"
report "a wrong password over s3:// fails with exit 2 and 'wrong password'"

finish
