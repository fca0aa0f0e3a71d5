#!/usr/bin/env python3
"""Inspect, damage and independently decrypt hfsync's encrypted objects (docs/FORMAT.md §8).

  aead_tool.py info FILE                   "records N record_size R": the object's layout
  aead_tool.py flip FILE RECORD            flip one byte in the middle of record RECORD (0-based)
  aead_tool.py truncate FILE RECORDS       keep the header and the first RECORDS records
  aead_tool.py swap FILE I J               swap records I and J (both full-size)
  aead_tool.py decrypt REPO NAME PASSWORD  decrypt backup NAME's manifest and volumes following
                                           FORMAT.md alone (hashlib.scrypt, HKDF and AES-GCM of
                                           the `cryptography` package), check every file of the
                                           manifest that refs NAME against its sha256, and print
                                           "ok: N files in M volumes"
  aead_tool.py has-decrypt                 exit 0 when `cryptography` is importable

Everything else in the tests goes through hfsync itself; `decrypt` is the second, independent
reader that shows the format is specified well enough to be read without hfsync.
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

HEADER = 32
TAG = 16
MAGIC = b"HFSYNCAE"
PREFIX = os.environ.get("E2E_PREFIX", "backups")


def layout(data):
    if len(data) < HEADER or data[:8] != MAGIC:
        raise SystemExit("not an hfsync encrypted object")
    rs = int.from_bytes(data[12:16], "big")
    body = len(data) - HEADER
    full = rs + TAG
    records = max(1, -(-body // full))
    return rs, records


def record_span(data, i):
    rs, n = layout(data)
    if not 0 <= i < n:
        raise SystemExit(f"record {i} out of range (0..{n - 1})")
    start = HEADER + i * (rs + TAG)
    return start, min(start + rs + TAG, len(data))


def cmd_info(path):
    data = open(path, "rb").read()
    rs, n = layout(data)
    print(f"records {n} record_size {rs}")


def cmd_flip(path, i):
    data = bytearray(open(path, "rb").read())
    start, end = record_span(data, i)
    data[(start + end) // 2] ^= 0x01
    open(path, "wb").write(data)


def cmd_truncate(path, keep):
    data = open(path, "rb").read()
    rs, _ = layout(data)
    open(path, "wb").write(data[:HEADER + keep * (rs + TAG)])


def cmd_swap(path, i, j):
    data = bytearray(open(path, "rb").read())
    (a0, a1), (b0, b1) = record_span(data, i), record_span(data, j)
    if a1 - a0 != b1 - b0:
        raise SystemExit("records of different sizes")
    ra, rb = bytes(data[a0:a1]), bytes(data[b0:b1])
    data[a0:a1], data[b0:b1] = rb, ra
    open(path, "wb").write(data)


# --- the independent reader ----------------------------------------------------------------------

def hkdf(ikm, salt, info, length):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def master_key(password, cipher):
    if cipher["algorithm"] != "AES-256-GCM" or cipher["kdf"] != "scrypt":
        raise SystemExit("unknown cipher")
    n, r, p = cipher["kdf_n"], cipher["kdf_r"], cipher["kdf_p"]
    master = hashlib.scrypt(password.encode(), salt=bytes.fromhex(cipher["kdf_salt"]), n=n, r=r,
                            p=p, maxmem=256 << 20, dklen=32)
    check = hkdf(master, None, b"hfsync key check v1", 32)  # salt None: 32 zero bytes (RFC 5869)
    if check.hex() != cipher["key_check"]:
        raise SystemExit("wrong password (key check differs)")
    return master


def open_object(master, name, data):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    if data[:8] != MAGIC or data[8] != 1 or data[9] != 1 or data[10:12] != b"\0\0":
        raise SystemExit(f"{name}: bad header")
    rs = int.from_bytes(data[12:16], "big")
    sub = hkdf(master, data[16:32], b"hfsync aead v1\0" + data[:32] + name.encode(), 44)
    aead, base = AESGCM(sub[:32]), sub[32:]
    out, pos, i = [], HEADER, 0
    while True:
        chunk = data[pos:pos + rs + TAG]
        final = pos + len(chunk) >= len(data)
        nonce = base[:4] + (int.from_bytes(base[4:], "big") ^ i).to_bytes(8, "big")
        out.append(aead.decrypt(nonce, chunk, b"\x01" if final else b"\x00"))
        pos += len(chunk)
        i += 1
        if final:
            return b"".join(out)


def zstd_d(data):
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def obj(repo, name):
    p = os.path.join(repo, PREFIX, name) if PREFIX else os.path.join(repo, name)
    with open(p, "rb") as f:
        return f.read()


def cmd_decrypt(repo, name, password):
    meta = json.loads(obj(repo, name + ".meta.json"))
    h = meta["hfsync"]
    if meta.get("encrypted") is not True or "cipher" not in h:
        raise SystemExit("backup is not encrypted")
    master = master_key(password, h["cipher"])
    mname = h["manifest"]["name"]
    mdata = obj(repo, mname)
    if hashlib.sha256(mdata).hexdigest() != h["manifest"]["sha256"]:
        raise SystemExit("manifest sha256 differs")
    lines = zstd_d(open_object(master, mname, mdata)).decode().splitlines()
    head = json.loads(lines[0])
    if head.get("format") != "hfsync-manifest" or head.get("backup") != name:
        raise SystemExit(f"bad manifest header {head}")
    want = {}
    for line in lines[1:]:
        e = json.loads(line)
        if e["type"] == "file" and e["ref"] == name:
            member = e["source"] if e["path"] == "." else e["source"] + "/" + e["path"]
            want[member] = e["hash"]
    got = 0
    for vi in h["volume_info"]:
        data = obj(repo, vi["name"])
        if hashlib.sha256(data).hexdigest() != vi["sha256"]:
            raise SystemExit(f"{vi['name']}: sha256 differs")
        tar = tarfile.open(fileobj=io.BytesIO(zstd_d(open_object(master, vi["name"], data))))
        for m in tar:
            if m.isfile():
                digest = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                if want.get(m.name) != digest:
                    raise SystemExit(f"{vi['name']}: member {m.name} does not match the manifest")
                got += 1
    if got != len(want):
        raise SystemExit(f"{got} files in the volumes, the manifest refs {len(want)} to them")
    print(f"ok: {got} files in {len(h['volume_info'])} volumes")


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        return 2
    if a[0] == "info":
        cmd_info(a[1])
    elif a[0] == "flip":
        cmd_flip(a[1], int(a[2]))
    elif a[0] == "truncate":
        cmd_truncate(a[1], int(a[2]))
    elif a[0] == "swap":
        cmd_swap(a[1], int(a[2]), int(a[3]))
    elif a[0] == "decrypt":
        cmd_decrypt(a[1], a[2], a[3])
    elif a[0] == "has-decrypt":
        try:
            import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
        except ImportError:
            return 1
    else:
        print(f"unknown command {a[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
