#!/usr/bin/env python3
"""Small boto3 client for the S3 test harness (tests/support/s3.rs) and benches/compare_s3.sh.

Usage: s3tool.py --endpoint http://127.0.0.1:PORT COMMAND ARGS...

Commands:
  ready [BUCKET]              wait (up to --timeout s) until a signed ListBuckets (or, with
                              BUCKET, a signed ListObjectsV2 on BUCKET) succeeds
  create-bucket BUCKET        create BUCKET (an existing one is fine), wait until it lists
  list BUCKET [PREFIX]        print every key under PREFIX as a JSON array of
                              [key, size, etag-without-quotes]
  put BUCKET KEY              store stdin as KEY
  get BUCKET KEY              print the content of KEY in hex
  copy-bucket SRC DST         create DST and copy every key of SRC into it (server-side)
  create-multipart BUCKET KEY start a multipart upload of KEY (no part); print its id
  list-multipart BUCKET       print the keys of the incomplete multipart uploads (JSON)
  delete-bucket BUCKET        delete every key of BUCKET (DeleteObjects, 1,000 a request),
                              then BUCKET itself; a missing bucket is fine
  upload-dir BUCKET PREFIX DIR
                              upload every regular file below DIR as PREFIX + its
                              /-separated relative path (empty directories have no key)

Credentials are test/test unless AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set; the
region is us-east-1, path-style addressing. --jobs N (default 16) requests in flight for
copy-bucket and upload-dir.
"""
import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import urllib3
from botocore.config import Config


def client(endpoint, jobs):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        # the harness's TLS servers (S3Server::moto_tls) have self-signed certificates
        verify=False,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(
            s3={"addressing_style": "path"},
            max_pool_connections=max(jobs, 10),
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def list_keys(s3, bucket, prefix=""):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out.append([o["Key"], o["Size"], o.get("ETag", "").strip('"')])
    return out


def ready(s3, args):
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            if args.rest:
                s3.list_objects_v2(Bucket=args.rest[0], MaxKeys=1)
            else:
                s3.list_buckets()
            return
        except Exception as e:  # connection refused, NoSuchBucket while it appears, ...
            if time.monotonic() > deadline:
                sys.exit("s3tool: not ready after %ss: %s" % (args.timeout, e))
            time.sleep(0.1)


def create_bucket(s3, bucket, timeout):
    """Creates the bucket (an existing one is fine) and waits until listing it works
    (SeaweedFS makes buckets asynchronously)."""
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except s3.exceptions.BucketAlreadyExists:
        pass
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
            return
        except s3.exceptions.NoSuchBucket:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--jobs", type=int, default=16)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("command")
    p.add_argument("rest", nargs="*")
    args = p.parse_args()
    s3 = client(args.endpoint, args.jobs)
    cmd, rest = args.command, args.rest
    if cmd == "ready":
        ready(s3, args)
    elif cmd == "create-bucket":
        create_bucket(s3, rest[0], args.timeout)
    elif cmd == "list":
        json.dump(list_keys(s3, rest[0], rest[1] if len(rest) > 1 else ""), sys.stdout)
    elif cmd == "put":
        s3.put_object(Bucket=rest[0], Key=rest[1], Body=sys.stdin.buffer.read())
    elif cmd == "get":
        print(s3.get_object(Bucket=rest[0], Key=rest[1])["Body"].read().hex())
    elif cmd == "copy-bucket":
        src, dst = rest
        create_bucket(s3, dst, args.timeout)
        keys = [k for k, _, _ in list_keys(s3, src)]
        with ThreadPoolExecutor(args.jobs) as ex:
            list(ex.map(lambda k: s3.copy_object(Bucket=dst, Key=k, CopySource={"Bucket": src, "Key": k}), keys))
        print(len(keys))
    elif cmd == "create-multipart":
        print(s3.create_multipart_upload(Bucket=rest[0], Key=rest[1])["UploadId"])
    elif cmd == "list-multipart":
        r = s3.list_multipart_uploads(Bucket=rest[0])
        json.dump(sorted(u["Key"] for u in r.get("Uploads", [])), sys.stdout)
    elif cmd == "delete-bucket":
        bucket = rest[0]
        try:
            keys = [k for k, _, _ in list_keys(s3, bucket)]
        except s3.exceptions.NoSuchBucket:
            return
        batches = [keys[i : i + 1000] for i in range(0, len(keys), 1000)]

        def delete(batch):
            r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            if r.get("Errors"):
                sys.exit("s3tool: delete-bucket %s: %s" % (bucket, r["Errors"][:3]))

        with ThreadPoolExecutor(args.jobs) as ex:
            list(ex.map(delete, batches))
        s3.delete_bucket(Bucket=bucket)
    elif cmd == "upload-dir":
        bucket, prefix, top = rest
        files = []
        for d, _, names in os.walk(top):
            for n in names:
                path = os.path.join(d, n)
                if os.path.isfile(path) and not os.path.islink(path):
                    files.append((path, prefix + os.path.relpath(path, top).replace(os.sep, "/")))

        def up(item):
            path, key = item
            with open(path, "rb") as f:
                s3.put_object(Bucket=bucket, Key=key, Body=f.read())

        with ThreadPoolExecutor(args.jobs) as ex:
            list(ex.map(up, files))
        print(len(files))
    else:
        sys.exit("s3tool: unknown command %s" % cmd)


if __name__ == "__main__":
    main()
