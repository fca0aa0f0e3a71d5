#!/usr/bin/env bash
# An independent reader of the original OpenClaw script's backup format, written from
# tests/fixtures/../reference/seed-format.md alone (no hfsync code): it restores a chain from a
# local copy of a repo the way the format describes, with nothing but `cat` of the parts,
# `sha256sum`, `openssl enc -d -aes-256-cbc -pbkdf2`, `tar -xzf` and python3 for the JSON.
#
# Usage: seed_reader.sh REPO_DIR DEST [options]
#   --password PW      for encrypted backups
#   --archive NAME     restore this archive (name without prefix, like OPENCLAW_RESTORE_ARCHIVE)
#                      instead of the one latest-backup.json names
#   --prefix P         the backups' folder (default: backups)
#   --touched FILE     write to FILE the directories (archive paths) that an incremental put
#                      something into: their mtimes are the time of this extraction, not a
#                      recorded one (the format records directories only in full backups)
# DEST receives one entry per archive root. Exit status 0 on success; any check that fails
# (checksum, decryption, tar) stops it with a message and a non-zero status.
set -euo pipefail

die() { echo "seed_reader: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: seed_reader.sh REPO_DIR DEST [--password PW] [--archive NAME] [--prefix P] [--touched FILE]"
REPO=$1 DEST=$2
shift 2
PW= ARCHIVE= PREFIX=backups TOUCHED=
while [ $# -gt 0 ]; do
    case $1 in
    --password) PW=$2; shift 2 ;;
    --archive) ARCHIVE=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --touched) TOUCHED=$2; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
done

json() { # FILE EXPR: print a field of a JSON file ("" for null)
    python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v.get(k)
print("" if v is None else ("true" if v is True else "false" if v is False else v))' "$1" "$2"
}
json_list() { # FILE KEY: the strings of a JSON array, one per line
    python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"
}
# "<prefix>/<name>", or just the name with an empty prefix
in_prefix() { if [ -n "$PREFIX" ]; then echo "$PREFIX/$1"; else echo "$1"; fi; }

# 1. Where the restore starts: latest-backup.json's "latest" (it includes the prefix), or
#    "<prefix>/<archive>.meta.json".
if [ -n "$ARCHIVE" ]; then
    meta=$(in_prefix "$ARCHIVE.meta.json")
else
    [ -f "$REPO/latest-backup.json" ] || die "no latest-backup.json in $REPO"
    meta=$(json "$REPO/latest-backup.json" latest)
fi

# 2. Follow "parent" (a path with prefix) back to the full backup.
chain=()
while [ -n "$meta" ]; do
    [ -f "$REPO/$meta" ] || die "missing $meta"
    chain=("$meta" "${chain[@]}")
    [ "${#chain[@]}" -le 1000 ] || die "chain too long"
    meta=$(json "$REPO/$meta" parent)
done
[ "$(json "$REPO/${chain[0]}" backup_type)" = full ] || die "${chain[0]} is not a full backup"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/seed-reader.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DEST"
[ -z "$TOUCHED" ] || : >"$TOUCHED"

# 3. For each backup from the full to the target: join the volumes in name order, check the
#    sha256 of what was uploaded, decrypt, extract over the merged tree (later archives win).
for m in "${chain[@]}"; do
    dir=$(dirname "$m")
    [ "$dir" = . ] && dir=
    mapfile -t vols < <(json_list "$REPO/$m" volumes | LC_ALL=C sort)
    [ "${#vols[@]}" -ge 1 ] || die "$m lists no volumes"
    paths=()
    for v in "${vols[@]}"; do paths+=("$REPO/${dir:+$dir/}$v"); done
    cat "${paths[@]}" >"$WORK/archive"
    want=$(json "$REPO/$m" checksum)
    got="sha256:$(sha256sum "$WORK/archive" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || die "$m: checksum mismatch: $got, recorded $want"
    case ${vols[0]%.part-??} in
    *.enc)
        [ -n "$PW" ] || die "$m is encrypted: give --password"
        openssl enc -d -aes-256-cbc -pbkdf2 -pass "pass:$PW" -in "$WORK/archive" -out "$WORK/archive.tar.gz" ||
            die "$m: decryption failed"
        ;;
    *) mv "$WORK/archive" "$WORK/archive.tar.gz" ;;
    esac
    if [ -n "$TOUCHED" ] && [ "$(json "$REPO/$m" backup_type)" = incremental ]; then
        # each member's directory, and where tar will create missing ones, up to the first
        # that exists (creating a directory changes its parent's mtime)
        while IFS= read -r member; do
            d=$(dirname "${member%/}")
            while [ "$d" != . ]; do
                printf '%s\n' "$d" >>"$TOUCHED"
                [ -e "$DEST/$d" ] && break
                d=$(dirname "$d")
            done
        done < <(tar -tzf "$WORK/archive.tar.gz")
    fi
    tar -xzpf "$WORK/archive.tar.gz" -C "$DEST" || die "$m: tar failed"
    rm -f "$WORK/archive" "$WORK/archive.tar.gz"
done
