#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are read by lib.sh
# Native encryption (docs/FORMAT.md §8) end to end: an encrypted full and two incrementals restore
# exactly; objects and the cached manifest hold no plaintext and an independent reader decrypts
# them; a wrong or missing password, a flipped byte in the first, a middle and the last record, a
# truncation, two swapped records and another backup's volume are each refused with their own
# message, leaving the live state untouched; a password change starts a new chain and the old one
# still restores with HFSYNC_OLD_PASSWORDS_FILE; encryption is never dropped silently; verify.
. "$(dirname "$0")/lib.sh"
require_hfsync

AEAD="python3 $E2E_DIR/aead_tool.py"
LIVE=$T/live
mkdir -p "$LIVE"
$TREE gen "$LIVE/state" --seed 31 --files 400 --big 2
# Incompressible files of a few hundred KB: volumes of several 64 KiB records each.
python3 - "$LIVE/state" <<'EOF'
import os, random, sys
rng = random.Random(31)
os.makedirs(os.path.join(sys.argv[1], "blobs"), exist_ok=True)
for i in range(6):
    with open(os.path.join(sys.argv[1], "blobs", f"blob-{i}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randrange(200_000, 400_000)))
EOF
SOURCES="state:$LIVE/state"
P1='correct horse battery staple'
P2='tr0ub4dor & 3, the new one'
VOL=(HFSYNC_VOLUME_SIZE=256K)
PW1=(HFSYNC_PASSWORD="$P1" "${VOL[@]}")

obj() { echo "$REPO_DIR/backups/$1"; }
meta() { $RTOOL meta "$REPO_DIR" "$1" "$2" 2>/dev/null; }

names=()
# --- an encrypted full and two incrementals; each restores to the state it was taken from
backup_expect F "${PW1[@]}" && names+=("$BK")
$TREE snap "$LIVE" "$T/snap0.json"
for step in 1 2; do
    $TREE mutate "$LIVE/state" --seed 31 --step "$step"
    backup_expect I "${PW1[@]}" && names+=("$BK")
    $TREE snap "$LIVE" "$T/snap$step.json"
done
report "an encrypted full and two incrementals are made"
if [ "${#names[@]}" -ne 3 ]; then
    fail "chain of 1 full + 2 incrementals was made" "backups made: ${names[*]:-none}"
    finish
fi
FULL=${names[0]}
INC1=${names[1]}

for i in 0 1 2; do
    rm -rf "$T/out$i"
    hf HFSYNC_PASSWORD="$P1" -- restore --backup "${names[$i]}" --to "$T/out$i"
    expect_rc 0 "restore of ${names[$i]}" && expect_tree "$T/snap$i.json" "$T/out$i" "restore of ${names[$i]}"
done
report "every backup of the encrypted chain restores exactly to its state"

# --- what is stored
[ "$(meta "$FULL" encrypted)" = true ] || problem "meta 'encrypted' is $(meta "$FULL" encrypted), expected true"
[ "$(meta "$FULL" encryption_algorithm)" = AES-256-GCM ] || problem "encryption_algorithm is '$(meta "$FULL" encryption_algorithm)'"
[ "$(meta "$FULL" hfsync.cipher.kdf_n)" = 32768 ] || problem "cipher.kdf_n is '$(meta "$FULL" hfsync.cipher.kdf_n)', expected 32768"
[ "$(meta "$FULL" hfsync.cipher.kdf)" = scrypt ] || problem "cipher.kdf is '$(meta "$FULL" hfsync.cipher.kdf)'"
[ "$(meta "$FULL" hfsync.manifest.name)" = "$FULL.manifest.zst.enc" ] || problem "manifest name is '$(meta "$FULL" hfsync.manifest.name)'"
# an incremental continues its chain under the chain's key parameters (one scrypt per run)
[ "$(meta "$INC1" hfsync.cipher.kdf_salt)" = "$(meta "$FULL" hfsync.cipher.kdf_salt)" ] ||
    problem "the incremental's kdf_salt differs from its full backup's"
nvol=0
for f in "$REPO_DIR"/backups/*; do
    case $f in
    *.meta.json) continue ;;
    *.enc) ;;
    *) problem "object without .enc in an encrypted chain: $(basename "$f")" ;;
    esac
    [ "$(head -c 8 "$f")" = HFSYNCAE ] || problem "$(basename "$f") does not start with the HFSYNCAE header"
    case $f in *"$FULL".vol-*) nvol=$((nvol + 1)) ;; esac
done
[ "$nvol" -ge 2 ] || problem "the full backup has $nvol volumes, expected several"
# Neither file names nor contents are readable in the objects.
if grep -rqaF -e 'bottom of the deep tree' -e 'deep0/deep1' "$REPO_DIR/backups" --exclude='*.meta.json'; then
    problem "a file name or file content is readable in the stored objects"
fi
cached=$(find "$CACHE_DIR" -name '*.manifest.zst*' | head -n 5)
case $cached in
*.manifest.zst.enc) [ "$(head -c 8 "$cached")" = HFSYNCAE ] || problem "cached manifest $cached is not encrypted" ;;
*) problem "expected one encrypted cached manifest (*.manifest.zst.enc), found '$cached'" ;;
esac
VOL1=$(obj "$FULL.vol-0001.tar.zst.enc")
read -r _ nrec _ rsize <<<"$($AEAD info "$VOL1")"
[ "${nrec:-0}" -ge 4 ] && [ "$rsize" = 65536 ] || problem "volume 1 has ${nrec:-?} records of ${rsize:-?} bytes, expected >= 4 of 65536"
report "volumes and manifest are encrypted objects, the meta holds the key parameters, no plaintext is stored or cached"

if $AEAD has-decrypt; then
    for n in "$FULL" "$INC1"; do
        msg=$($AEAD decrypt "$REPO_DIR" "$n" "$P1" 2>&1) || problem "independent reader on $n: $msg"
    done
    report "an independent reader following FORMAT.md §8 decrypts the backups and finds the manifest's files"
else
    skip "an independent reader following FORMAT.md §8 decrypts the backups" "python3 'cryptography' is not installed"
fi

# --- verify
hf HFSYNC_PASSWORD="$P1" -- verify --deep
expect_rc 0 "verify --deep with the password" && expect_err_contains "3 backups verified (deep)" "verify --deep"
hf -- verify --deep
expect_rc 0 "verify --deep without a password" && expect_err_contains "not the files inside" "verify --deep without a password"
hf HFSYNC_PASSWORD=not-it -- verify --deep
expect_nonzero "verify --deep with a wrong password" && expect_err_contains "wrong password" "verify --deep with a wrong password"
report "verify --deep decrypts with the password, checks stored hashes without one, and names a wrong one"

# --- a failed restore in place: live data untouched, no staging left
$TREE snap "$LIVE" "$T/live.json"
live_untouched() { # what
    expect_tree "$T/live.json" "$LIVE" "$1: live state" && expect_no_staging "$LIVE/state"
}

hf HFSYNC_PASSWORD=not-the-password -- restore
expect_nonzero "restore with a wrong password" && expect_err_contains "wrong password" "restore with a wrong password"
if printf '%s' "$ERR" | grep -qiE 'corrupt|authentication'; then
    problem "a wrong password was reported as damage: $(printf '%s' "$ERR" | head -n 3)"
fi
live_untouched "wrong password"
# Staging below a regular file cannot be made: a restore that got as far as staging would fail
# with "Not a directory" instead.
: >"$T/a-file"
hf HFSYNC_PASSWORD=not-the-password -- restore --to "$T/a-file/out"
expect_nonzero "restore --to with a wrong password" && expect_err_contains "wrong password" "wrong password, before staging"
report "a wrong password is refused as 'wrong password' before anything is written"

hf -- restore
expect_nonzero "restore without a password" && expect_err_contains "is encrypted and no password is set" "restore without a password"
live_untouched "no password"
report "a restore without a password says the backup is encrypted"

# Damage to one volume of the full backup; each restore of the full fails naming the object. (A
# restore checks encrypted volumes by their records alone, not by the meta's sha256.)
cp "$VOL1" "$T/vol1.orig"
tamper_case() { # what, expected message part, command...
    local what=$1 want=$2
    shift 2
    cp "$T/vol1.orig" "$VOL1"
    "$@"
    hf HFSYNC_PASSWORD="$P1" -- restore --backup "$FULL"
    expect_rc 3 "restore after $what" &&
        expect_err_contains "$(basename "$VOL1")" "restore after $what" &&
        expect_err_contains "$want" "restore after $what"
    live_untouched "$what"
    report "$what is refused naming the volume ($want), live state untouched"
}
last=$((nrec - 1))
mid=$((nrec / 2))
tamper_case "a flipped byte in the first record" "record 0 failed authentication" $AEAD flip "$VOL1" 0
tamper_case "a flipped byte in a middle record" "record $mid failed authentication" $AEAD flip "$VOL1" "$mid"
tamper_case "a flipped byte in the last record" "record $last failed authentication" $AEAD flip "$VOL1" "$last"
tamper_case "a volume truncated at a record boundary" "truncated after record 1" $AEAD truncate "$VOL1" 2
tamper_case "a volume cut inside a record" "record 1 failed authentication" \
    truncate -s $((32 + rsize + 16 + 1000)) "$VOL1"
tamper_case "two swapped records" "record 1 failed authentication" $AEAD swap "$VOL1" 1 2
append_bytes() { printf 'sixteen bytes...' >>"$1"; }
tamper_case "bytes appended to a volume" "record $last" append_bytes "$VOL1"
tamper_case "another backup's volume under this name" "record 0 failed authentication" \
    cp "$(obj "$INC1.vol-0001.tar.zst.enc")" "$VOL1"
cp "$T/vol1.orig" "$VOL1"

# The manifest, read from the target (a fresh cache): a flipped byte is caught by its sha256.
MAN=$(obj "$FULL.manifest.zst.enc")
cp "$MAN" "$T/man.orig"
$AEAD flip "$MAN" 0
hf HFSYNC_CACHE_DIR="$T/cache-fresh" HFSYNC_PASSWORD="$P1" -- restore --backup "$FULL"
expect_rc 3 "restore with a damaged manifest" && expect_err_contains "$(basename "$MAN")" "restore with a damaged manifest"
live_untouched "damaged manifest"
report "a damaged manifest is refused naming it"
# Even with the meta's sha256 rewritten to match, the manifest's records do not authenticate.
cp "$(obj "$FULL.meta.json")" "$T/meta.orig"
python3 - "$(obj "$FULL.meta.json")" "$MAN" <<'PYEOF'
import hashlib, json, sys
meta_path, man_path = sys.argv[1], sys.argv[2]
m = json.load(open(meta_path))
m["hfsync"]["manifest"]["sha256"] = hashlib.sha256(open(man_path, "rb").read()).hexdigest()
json.dump(m, open(meta_path, "w"), indent=2)
PYEOF
hf HFSYNC_CACHE_DIR="$T/cache-fresh2" HFSYNC_PASSWORD="$P1" -- restore --backup "$FULL"
expect_rc 3 "restore with a damaged manifest and a matching sha256" &&
    expect_err_contains "$(basename "$MAN")" "damaged manifest, matching sha256" &&
    expect_err_contains "record 0 failed authentication" "damaged manifest, matching sha256"
live_untouched "damaged manifest with a matching sha256"
report "a damaged manifest whose recorded sha256 was rewritten still fails authentication"
cp "$T/meta.orig" "$(obj "$FULL.meta.json")"
cp "$T/man.orig" "$MAN"

hf HFSYNC_PASSWORD="$P1" -- restore --backup "$FULL" --to "$T/again"
expect_rc 0 "restore after undoing the damage" && expect_tree "$T/snap0.json" "$T/again" "restore after undoing the damage"
report "with the objects put back, the same restore succeeds"

# --- no password over an encrypted chain: refused, never silently unencrypted
$TREE mutate "$LIVE/state" --seed 31 --step 3
hf "${VOL[@]}" -- backup
expect_rc 2 "backup without a password over an encrypted chain" &&
    expect_err_contains "is encrypted, but no password is set" "backup without a password" &&
    expect_err_contains "hfsync backup --full" "backup without a password (hint)"
[ "$($RTOOL latest "$REPO_DIR")" = "${names[2]}" ] || problem "the pointer moved: $($RTOOL latest "$REPO_DIR")"
report "a backup without a password over an encrypted chain is refused with a hint"

# --- password change: a new full chain; the old chain restores with the old password
printf '%s\n' "$P2" >"$T/password"
printf 'some older one\n\n%s\n' "$P1" >"$T/old-passwords"
backup_expect F HFSYNC_PASSWORD_FILE="$T/password" "${VOL[@]}" && names+=("$BK")
expect_err_contains "the password changed" "backup after a password change"
$TREE snap "$LIVE" "$T/snap3.json"
[ "$(meta "$BK" hfsync.cipher.kdf_salt)" != "$(meta "$FULL" hfsync.cipher.kdf_salt)" ] ||
    problem "the new chain reuses the old chain's kdf_salt"
report "a password change starts a new full chain and logs why"

rm -rf "$T/old"
hf HFSYNC_PASSWORD_FILE="$T/password" -- restore --backup "$INC1" --to "$T/old"
expect_nonzero "restore of the old chain with only the new password" && expect_err_contains "wrong password" "old chain, new password"
hf HFSYNC_PASSWORD_FILE="$T/password" HFSYNC_OLD_PASSWORDS_FILE="$T/old-passwords" -- restore --backup "$INC1" --to "$T/old"
expect_rc 0 "restore of the old chain with HFSYNC_OLD_PASSWORDS_FILE" &&
    expect_tree "$T/snap1.json" "$T/old" "old chain with HFSYNC_OLD_PASSWORDS_FILE"
rm -rf "$T/new"
hf HFSYNC_PASSWORD_FILE="$T/password" HFSYNC_OLD_PASSWORDS_FILE="$T/old-passwords" -- restore --to "$T/new"
expect_rc 0 "restore of the new chain" && expect_tree "$T/snap3.json" "$T/new" "new chain"
hf HFSYNC_PASSWORD="$P2" HFSYNC_OLD_PASSWORDS_FILE="$T/old-passwords" -- verify --deep
expect_rc 0 "verify --deep of both chains" && expect_err_contains "4 backups verified (deep)" "verify --deep of both chains"
report "the old chain restores with HFSYNC_OLD_PASSWORDS_FILE, the new one with the new password"

# --- --full without a password starts an unencrypted chain; a password then starts a new full
$TREE mutate "$LIVE/state" --seed 31 --step 4
backup_full "${VOL[@]}"
[ -n "$BK" ] && [ "$(meta "$BK" encrypted)" = false ] || problem "backup --full without a password: encrypted is '$(meta "$BK" encrypted)'"
[ -n "$BK" ] && [ -f "$(obj "$BK.manifest.zst")" ] || problem "the unencrypted backup has no plain manifest object"
$TREE mutate "$LIVE/state" --seed 31 --step 5
backup_expect F HFSYNC_PASSWORD="$P1" "${VOL[@]}"
expect_err_contains "encryption was turned on" "backup with a password over an unencrypted chain"
[ -n "$BK" ] && [ "$(meta "$BK" encrypted)" = true ] || problem "backup with a password: encrypted is '$(meta "$BK" encrypted)'"
report "--full without a password starts an unencrypted chain; turning encryption on starts a new full"

finish
