"""The S3 side of the sync: listings, concurrent server-side copies, batched deletes.

The client comes from the shared factory ``include.common.s3.hook`` (providers-amazon's
``S3Hook`` on a connection id, so the same code talks to AWS or to the local moto server),
with botocore's *standard* retry mode (throttling and 5xx are retried with backoff) and a
connection pool as large as the copy concurrency, otherwise the threads would queue on
urllib3's default pool of 10.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

log = logging.getLogger(__name__)

DELETE_BATCH = 1000  # DeleteObjects accepts at most 1000 keys per request


def split_source(source: str) -> tuple[str, str]:
    """``bucket/key`` (the planner's scheme-less form of a source) → ``(bucket, key)``."""
    bucket, _, key = source.partition("/")
    return bucket, key


def minimal_prefixes(prefixes: Iterable[str]) -> list[str]:
    """Drop prefixes already covered by a shorter one (``b/a/`` covers ``b/a/x/``), sorted."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not kept or not prefix.startswith(kept[-1]):
            kept.append(prefix)
    return kept


def list_keys(client, bucket: str, prefix: str) -> list[str]:
    """Every key under a prefix: one paginated ListObjectsV2 walk (1000 keys per request)."""
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", ()))
    return keys


def list_sources(client, source_prefixes: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """``bucket/key`` of every object under the given ``bucket/prefix/`` prefixes, one walk each.

    A bucket that does not exist holds no sources (its frames count as missing). Any other
    error (access denied, throttling beyond the retries) is returned per prefix,
    ``{prefix: error}``, so only the episodes reading from that prefix are affected.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    found: list[str] = []
    failed: dict[str, str] = {}
    for full_prefix in minimal_prefixes(source_prefixes):
        bucket, prefix = split_source(full_prefix)
        try:
            keys = list_keys(client, bucket, prefix)
        except client.exceptions.NoSuchBucket:
            log.warning("Source bucket %s does not exist; its frames count as missing", bucket)
            continue
        except (BotoCoreError, ClientError) as err:
            log.error("Listing s3://%s failed: %s", full_prefix, err)
            failed[full_prefix] = str(err)
            continue
        log.info("Listed %d source objects under s3://%s", len(keys), full_prefix)
        found.extend(f"{bucket}/{k}" for k in keys)
    return found, failed


class _Progress:
    """Logs ``done/total`` about every tenth of the work and at least every 30 s."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.step = max(1, total // 10)
        self.started = self.last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.done == self.total or self.done % self.step < n or now - self.last > 30:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            log.info("%s %d/%d (%.0f/s)", self.what, self.done, self.total, rate)


def copy_objects(
    client,
    pairs: Sequence[tuple[str, str]],
    dest_bucket: str,
    *,
    concurrency: int = 32,
    on_error: Callable[[str, Exception], None] | None = None,
) -> int:
    """Server-side CopyObject of each ``(source "bucket/key", dest key)``, ``concurrency`` at a time.

    Copying the same source to the same key again yields the same object, so a retried
    chunk converges. Returns the number copied; raises RuntimeError naming a few failures
    after every other copy of the chunk was attempted.
    """
    progress = _Progress("copied", len(pairs))
    failures: list[str] = []

    def copy(pair: tuple[str, str]) -> None:
        src_bucket, src_key = split_source(pair[0])
        client.copy_object(Bucket=dest_bucket, Key=pair[1], CopySource={"Bucket": src_bucket, "Key": src_key})

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3copy") as pool:
        futures = {pool.submit(copy, pair): pair for pair in pairs}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                failures.append(f"{futures[future][0]} -> {futures[future][1]}: {error}")
                if on_error:
                    on_error(futures[future][1], error)
            progress.advance()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(pairs)} copies failed, e.g. {failures[:3]}")
    return len(pairs)


def delete_keys(hook, bucket: str, keys: Sequence[str]) -> int:
    """Delete keys with DeleteObjects, 1000 per request, in quiet mode.

    Deleting a key that is already gone succeeds, so a retried chunk converges. This is
    ``S3Hook.delete_objects`` less its log line naming every deleted key (10 MB of log for
    200,000 deletes) and with ``Quiet`` so S3 answers with the errors only.
    """
    client = hook.get_conn()
    progress = _Progress("deleted", len(keys))
    for start in range(0, len(keys), DELETE_BATCH):
        batch = list(keys[start : start + DELETE_BATCH])
        response = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
        errors = response.get("Errors") or []
        if errors:
            raise RuntimeError(f"{len(errors)} of {len(batch)} deletes failed, e.g. {errors[:3]}")
        progress.advance(len(batch))
    return len(keys)


def put_json(client, bucket: str, key: str, data: Any) -> None:
    """Write a JSON document (report, chunk, summary)."""
    body = json.dumps(data, indent=1, sort_keys=True, default=str).encode()
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(client, bucket: str, key: str) -> Any:
    """Read a JSON document written by ``put_json``."""
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def get_json_or_none(client, bucket: str, key: str) -> Any:
    """Like ``get_json``, None when the object does not exist."""
    try:
        return get_json(client, bucket, key)
    except client.exceptions.NoSuchKey:
        return None


def put_bytes(client, bucket: str, key: str, body: bytes, content_type: str) -> None:
    """Write raw bytes."""
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def get_bytes(client, bucket: str, key: str) -> bytes:
    """Read raw bytes."""
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()
