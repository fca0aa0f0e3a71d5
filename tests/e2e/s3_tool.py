#!/usr/bin/env python3
"""boto3 side of the S3 end-to-end tests: the independent peer hfsync must interoperate with.

Usage: s3_tool.py ENDPOINT COMMAND ARGS...
  wait                          wait until the server answers
  mkbucket BUCKET               create a bucket
  keys BUCKET PREFIX            print every key under PREFIX with its size (paginated)
  download BUCKET PREFIX DIR    download every key under PREFIX into DIR (paths relative to PREFIX)
  upload DIR BUCKET PREFIX      upload every file under DIR as PREFIX/<relative path>
  junk BUCKET PREFIX N          put N small objects PREFIX00000..PREFIX<N-1>
  sha256 BUCKET KEY             print the sha256 of an object as boto3 downloads it
  checksums BUCKET PREFIX PART  check that every object over PART bytes under PREFIX has the
                                composite SHA-256 checksum of its PART-sized parts recorded
  cat BUCKET KEY                print an object's bytes
  mpu-create BUCKET KEY...      start a multipart upload of each KEY with one part, never
                                completed (what a writer killed mid-upload leaves); print the ids
  uploads BUCKET PREFIX         print "KEY<TAB>UPLOAD_ID" of every unfinished multipart upload
                                under PREFIX (paginated)
  setup-auth                    (moto auth mode) create an IAM user and print "KEY SECRET"
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (any for moto without auth).
"""
import base64
import hashlib
import json
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig


def client(endpoint, service="s3"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    return out


def main():
    endpoint, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "wait":  # a TCP connect, so that no request counts against moto's free actions
        import socket
        from urllib.parse import urlparse
        u = urlparse(endpoint)
        for _ in range(150):
            try:
                socket.create_connection((u.hostname, u.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("server did not start")
    if cmd == "setup-auth":
        iam = client(endpoint, "iam")
        iam.create_user(UserName="hfsync")
        policy = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="hfsync", PolicyName="all", PolicyDocument=json.dumps(policy))
        k = iam.create_access_key(UserName="hfsync")["AccessKey"]
        print(k["AccessKeyId"], k["SecretAccessKey"])
        return
    s3 = client(endpoint)
    if cmd == "mkbucket":
        s3.create_bucket(Bucket=args[0])
    elif cmd == "keys":
        for k, size in keys(s3, args[0], args[1]):
            print(f"{k}\t{size}")
    elif cmd == "download":
        bucket, prefix, dest = args
        for k, _ in keys(s3, bucket, prefix):
            path = os.path.join(dest, k[len(prefix):].lstrip("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(bucket, k, path)
    elif cmd == "upload":
        src, bucket, prefix = args
        cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
        for root, _, files in os.walk(src):
            for f in files:
                full = os.path.join(root, f)
                rel = os.path.relpath(full, src)
                s3.upload_file(full, bucket, f"{prefix}/{rel}" if prefix else rel, Config=cfg)
    elif cmd == "junk":
        bucket, prefix, n = args[0], args[1], int(args[2])
        for i in range(n):
            s3.put_object(Bucket=bucket, Key=f"{prefix}{i:05d}", Body=b"x")
    elif cmd == "mpu-create":
        bucket = args[0]
        for key in args[1:]:
            up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=b"p" * 1024)
            print(up)
    elif cmd == "uploads":
        bucket, prefix = args
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket,
                                                                          Prefix=prefix):
            for u in page.get("Uploads", []):
                print(f"{u['Key']}\t{u['UploadId']}")
    elif cmd == "cat":
        sys.stdout.buffer.write(s3.get_object(Bucket=args[0], Key=args[1])["Body"].read())
    elif cmd == "checksums":
        # Every object larger than one part must carry the composite SHA-256 checksum of its
        # parts (reference/s3-api.md §2.6): SHA-256 over the parts' raw SHA-256 digests, computed
        # here from the bytes downloaded and compared with what the server recorded.
        bucket, prefix, part = args[0], args[1], int(args[2])
        checked = 0
        for k, size in keys(s3, bucket, prefix):
            if size <= part:
                continue
            attrs = s3.get_object_attributes(Bucket=bucket, Key=k, ObjectAttributes=["Checksum"])
            got = attrs.get("Checksum", {})
            body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
            digests = b"".join(hashlib.sha256(body[i:i + part]).digest()
                               for i in range(0, len(body), part))
            want = base64.b64encode(hashlib.sha256(digests).digest()).decode()
            if got.get("ChecksumSHA256", "").split("-")[0] != want or \
                    got.get("ChecksumType") != "COMPOSITE":
                sys.exit(f"{k}: the server recorded {got}, expected a COMPOSITE ChecksumSHA256 "
                         f"{want} over {len(digests) // 32} parts")
            print(f"{k}\t{want}")
            checked += 1
        if checked == 0:
            sys.exit(f"no object under {prefix} is larger than one part of {part} bytes")
    elif cmd == "sha256":
        body = s3.get_object(Bucket=args[0], Key=args[1])["Body"].read()
        print(hashlib.sha256(body).hexdigest())
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
