#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Entries a backup cannot carry as they are: names with control characters (FORMAT.md §4 forbids
# them in manifest paths), fifos, and names that are not valid UTF-8 (the manifest is UTF-8 JSON
# Lines). Whatever the backup does with them (skip with a warning, or encode them), it must
# exit 0, keep the on-target objects valid, and the backup must restore: a backup that cannot be
# restored is worse than none.
. "$(dirname "$0")/lib.sh"
require_hfsync

# --- control characters and a fifo
SRC=$T/src1/state
mkdir -p "$SRC/d"
printf 'good\n' >"$SRC/d/good.txt"
printf 'nl\n' >"$SRC/new
line.txt"
printf 'tab\n' >"$SRC/tab	here.txt"
printf 'esc\n' >"$SRC/esc$(printf '\033')[1m.txt"
mkfifo "$SRC/a-fifo"
SOURCES="state:$SRC"
REPO_URL=file://$T/repo1
mkdir -p "$T/repo1"

hf -- backup
if expect_rc 0 "backup of a source with control-character names and a fifo"; then
    expect_err_matches 'skip|ignor|cannot|not backed up' "backup of a source with control-character names and a fifo (a warning)"
    hf -- restore --to "$T/out1"
    if expect_rc 0 "restore of that backup"; then
        [ "$(cat "$T/out1/state/d/good.txt" 2>/dev/null)" = good ] || problem "d/good.txt not restored"
        found=$(find "$T/out1" -type p | head -n 3)
        [ -z "$found" ] || problem "a fifo was restored: $found"
    fi
    if msg=$($RTOOL check-format "$T/repo1" 2>&1); then :; else
        problem "on-target objects break docs/FORMAT.md:"
        problem "$(printf '%s' "$msg" | head -n 10)"
    fi
fi
report "names with control characters and fifos are skipped with a warning; the backup restores"

# --- a name that is not valid UTF-8
SRC2=$T/src2/state
mkdir -p "$SRC2"
printf 'fine\n' >"$SRC2/fine.txt"
BADNAME=$(printf 'latin1-\351t\351.txt') # "été" in ISO-8859-1
printf 'latin1\n' >"$SRC2/$BADNAME"
SOURCES="state:$SRC2"
REPO_URL=file://$T/repo2
mkdir -p "$T/repo2"
$TREE snap "$T/src2" "$T/src2.json"

hf -- backup
if expect_rc 0 "backup of a source with a non-UTF-8 name"; then
    if msg=$($RTOOL check-format "$T/repo2" --snap "$T/src2.json" 2>&1); then :; else
        # a skipped name is acceptable; anything else (invalid UTF-8 in the manifest) is not
        other=$(printf '%s\n' "$msg" | grep -v "vs snapshot: 'state/latin1-" | grep -v '^\.\.\. ')
        [ -z "$other" ] || {
            problem "on-target objects break docs/FORMAT.md (the manifest must be UTF-8 JSON Lines):"
            problem "$(printf '%s' "$other" | head -n 10)"
        }
    fi
    hf -- restore --to "$T/out2"
    if expect_rc 0 "restore of the backup with a non-UTF-8 name"; then
        [ "$(cat "$T/out2/state/fine.txt" 2>/dev/null)" = fine ] || problem "fine.txt not restored"
        if [ -e "$T/out2/state/$BADNAME" ]; then
            [ "$(cat "$T/out2/state/$BADNAME")" = latin1 ] || problem "the non-UTF-8 name was restored with wrong content"
        else
            # not restored: then the backup must have said it skipped it
            hf -- backup --full
            expect_err_matches 'skip|ignor|cannot|UTF-8' "a non-UTF-8 name that is not backed up is reported"
            extra=$(find "$T/out2/state" -mindepth 1 ! -name fine.txt | head -n 3)
            [ -z "$extra" ] || problem "the non-UTF-8 name came back under another name: $(printf '%s' "$extra" | od -c | head -n 2)"
        fi
    fi
fi
report "a non-UTF-8 name is restored byte-exact or skipped with a warning, and the manifest stays valid UTF-8"

finish
