#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Hostile backups: each fixture is a valid backup whose volume and/or manifest were rewritten
# (python tarfile + zstd) with the meta's sizes and sha256 fixed up, so integrity checks pass and
# only the safety rules of docs/FORMAT.md §4/§6 can stop it. Restore must refuse with exit 3,
# name the entry, write nothing outside its staging/destination directory, and leave the live
# sources unchanged. Setuid/setgid bits are dropped unless HFSYNC_RESTORE_SETID=1.
. "$(dirname "$0")/lib.sh"
require_hfsync

LIVE=$T/live
ESC=$T/esc # where escapes would land; must stay as created
mkdir -p "$LIVE/state/dir/sub" "$ESC/symdir-target"
printf 'victim\n' >"$ESC/hardlink-victim"
printf 'alpha\n' >"$LIVE/state/a.txt"
printf 'beta\n' >"$LIVE/state/dir/b.txt"
printf 'gamma\n' >"$LIVE/state/dir/sub/c.txt"
ln -s a.txt "$LIVE/state/link"
printf '#!/bin/sh\necho suid\n' >"$LIVE/state/suid-bin"
chmod 4755 "$LIVE/state/suid-bin"
printf '#!/bin/sh\necho sgid\n' >"$LIVE/state/sgid-bin"
chmod 2755 "$LIVE/state/sgid-bin"
SOURCES="state:$LIVE/state"

backup_expect F
report "set-up: a full backup of a small tree"
[ -n "$BK" ] || finish
NAME=$BK

# --- setuid/setgid: stripped by default, kept with HFSYNC_RESTORE_SETID=1
mode_of() { stat -c %a "$1" 2>/dev/null; }
hf -- restore --to "$T/setid-default"
if expect_rc 0 "restore of setuid/setgid files"; then
    m1=$(mode_of "$T/setid-default/state/suid-bin")
    m2=$(mode_of "$T/setid-default/state/sgid-bin")
    [ "$m1" = 755 ] || problem "suid-bin restored with mode '$m1', expected 755 (setuid dropped)"
    [ "$m2" = 755 ] || problem "sgid-bin restored with mode '$m2', expected 755 (setgid dropped)"
    [ "$(cat "$T/setid-default/state/suid-bin" 2>/dev/null)" = "$(cat "$LIVE/state/suid-bin")" ] ||
        problem "suid-bin content differs after restore"
fi
report "setuid/setgid bits are not restored by default"
hf HFSYNC_RESTORE_SETID=1 -- restore --to "$T/setid-on"
if expect_rc 0 "restore with HFSYNC_RESTORE_SETID=1"; then
    m1=$(mode_of "$T/setid-on/state/suid-bin")
    m2=$(mode_of "$T/setid-on/state/sgid-bin")
    [ "$m1" = 4755 ] || problem "suid-bin restored with mode '$m1' under HFSYNC_RESTORE_SETID=1, expected 4755"
    [ "$m2" = 2755 ] || problem "sgid-bin restored with mode '$m2' under HFSYNC_RESTORE_SETID=1, expected 2755"
fi
report "HFSYNC_RESTORE_SETID=1 restores setuid/setgid bits"
rm -rf "$T/setid-default" "$T/setid-on"

# The live tree differs from the backup, so a restore that went through would show.
printf 'alpha changed after the backup\n' >"$LIVE/state/a.txt"
printf 'new\n' >"$LIVE/state/new-after-backup.txt"
$TREE snap "$LIVE" "$T/live.json"
$TREE snap "$ESC" "$T/esc.json"
cp -a "$REPO_DIR" "$T/pristine"

reset_repo() {
    rm -rf "$REPO_DIR" "$T/dest"
    cp -a "$T/pristine" "$REPO_DIR"
    rm -rf "$CACHE_DIR" && mkdir -p "$CACHE_DIR"
}

# Nothing may exist that a hostile entry could have created, anywhere under $T (the target's
# objects are compressed, so names found there do not count), nor below /tmp for escapes that
# resolve there.
expect_no_escape() {
    local found
    found=$(find "$T" \( -path "$T/repo" -o -path "$T/pristine" \) -prune -o \
        \( -name 'escape-*' -o -name '*not-in-manifest*' -o -name 'fifo-member' -o -name 'dev-member' \
        -o -name 'hardlink-member' -o -name 'nulname*' -o -name 'ctrl*zz' -o -name 'evil-link' \
        -o -type p -o -type c -o -type b \) -print 2>/dev/null | head -n 5)
    [ -z "$found" ] || problem "$1: found what a hostile entry wrote: $found"
    local diff
    diff=$($TREE cmp-dir "$T/esc.json" "$ESC" 2>&1) || problem "$1: $ESC changed: $diff"
    [ "$(stat -c %h "$ESC/hardlink-victim")" = 1 ] || problem "$1: $ESC/hardlink-victim got a hard link"
    found=$(ls -d /tmp/escape-* 2>/dev/null | head -n 3)
    [ -z "$found" ] || problem "$1: found $found"
}

# hostile RULE NEEDLE-REGEX DESCRIPTION [--to]
hostile() {
    local rule=$1 needle=$2 desc=$3 mode=${4:-}
    reset_repo
    if ! msg=$($RTOOL hostile "$REPO_DIR" "$NAME" "$rule" "$ESC" 2>&1); then
        fail "$desc" "could not build the fixture: $msg"
        return
    fi
    if [ "$mode" = --to ]; then
        hf -- restore --to "$T/dest"
    else
        hf -- restore
    fi
    expect_rc 3 "$rule: restore ${mode}" && expect_err_matches "$needle" "$rule: restore ${mode}"
    expect_tree "$T/live.json" "$LIVE" "$rule: live tree"
    expect_no_staging "$LIVE/state"
    [ "$mode" = --to ] && expect_no_staging "$T/dest/state"
    expect_no_escape "$rule"
    report "$desc"
}

hostile dotdot escape-dotdot "entry and member with '..' components are refused"
hostile dotdot escape-dotdot "entry and member with '..' components are refused (restore --to)" --to
hostile dotdot-member-only escape-dotdot-member "a tar member with '..' that is not in the manifest is refused"
hostile absolute escape-abs "an absolute entry path is refused"
hostile absolute-member escape-abs-member "an absolute tar member name is refused"
hostile source-dotdot "escape-source|'\\.\\.'|\"\\.\\.\"" "a manifest source named '..' is refused (restore --to)" --to
hostile symlink-through evil-link "a file entry below a symlink entry (evil-link -> outside, evil-link/x) is refused"
hostile ctrl-nl ctrlnl "a name with a newline is refused"
hostile ctrl-01 ctrl01 "a name with a \\x01 control character is refused"
hostile nul nulname "a manifest path with an embedded NUL (\\u0000) is refused"
hostile fifo fifo-member "a fifo entry and member are refused"
hostile device dev-member "a character device member (listed as a file) is refused"
hostile hardlink hardlink-member "a hard link member pointing outside (listed as a file) is refused"
hostile extra-member extra-not-in-manifest "a tar member not listed in the manifest is refused"

# control: the pristine backup restores (the rewrites above were the only cause of refusals)
reset_repo
hf -- restore --to "$T/dest"
expect_rc 0 "restore of the unmodified backup"
[ "$(cat "$T/dest/state/a.txt" 2>/dev/null)" = alpha ] || problem "restored a.txt is not the backed-up content"
report "the unmodified backup restores (control)"

# --- a hostile member in the volume of an older backup of the chain: whatever the restore of
# the newer backup does with it (refuse, or skip it because the newer manifest does not need
# it), it must never be written
reset_repo
printf 'delta\n' >"$LIVE/state/d.txt"
backup_expect I
INC=$BK
rm -f "$LIVE/state/d.txt"
$TREE snap "$LIVE" "$T/live.json"
if [ -n "$INC" ]; then
    cp -a "$REPO_DIR" "$T/pristine-inc"
    for rule in dotdot-member-only absolute-member extra-member; do
        rm -rf "$REPO_DIR" "$T/dest" && cp -a "$T/pristine-inc" "$REPO_DIR"
        if ! msg=$($RTOOL hostile "$REPO_DIR" "$NAME" "$rule" "$ESC" 2>&1); then
            problem "$rule: could not build the fixture: $msg"
            continue
        fi
        hf -- restore --to "$T/dest"
        if [ "$RC" = 0 ]; then
            [ "$(cat "$T/dest/state/d.txt" 2>/dev/null)" = delta ] || problem "$rule in the parent's volume: restore of $INC exited 0 but state/d.txt is wrong"
        elif [ "$RC" != 3 ]; then
            problem "$rule in the parent's volume: restore of $INC exited $RC, expected 0 (member skipped) or 3 (refused)"
            problem "$(last_run)"
        fi
        found=$(find "$T/dest" -name 'escape-*' -o -name '*not-in-manifest*' 2>/dev/null | head -n 3)
        [ -z "$found" ] || problem "$rule in the parent's volume: written into the destination: $found"
        expect_no_escape "$rule in the parent's volume"
        expect_tree "$T/live.json" "$LIVE" "$rule in the parent's volume: live tree"
    done
fi
report "hostile members in an older backup's volume are never written when restoring a newer backup"

# --- an incremental reads the previous manifest as a stream, checking each entry as it comes and
# their order: a hostile or disordered previous manifest stops it (exit 3) before it writes.
prev_manifest_refused() { # fixture-command needle description
    local fixture=$1 needle=$2 desc=$3
    reset_repo
    if ! msg=$($RTOOL $fixture 2>&1); then
        fail "$desc" "could not build the fixture: $msg"
        return
    fi
    local before
    before=$(ls "$REPO_DIR/backups")
    hf -- backup
    expect_rc 3 "$desc" && expect_err_matches "$needle" "$desc" &&
        expect_err_contains "previous backup '$NAME'" "$desc" &&
        expect_err_contains "hfsync backup --full" "$desc"
    [ "$(ls "$REPO_DIR/backups")" = "$before" ] || problem "$desc: the failed backup left objects"
    expect_no_escape "$desc"
    report "$desc"
}
prev_manifest_refused "hostile $REPO_DIR $NAME fifo $ESC" "fifo-member.*'fifo'" \
    "an incremental over a previous manifest with a fifo entry is refused"
prev_manifest_refused "hostile $REPO_DIR $NAME dotdot $ESC" "escape-dotdot" \
    "an incremental over a previous manifest with a '..' entry is refused"
prev_manifest_refused "swap-entries $REPO_DIR $NAME" "out of order" \
    "an incremental over a previous manifest out of order is refused"

finish
