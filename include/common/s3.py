"""S3 access shared by both pipelines: one client factory, one ``s3://`` parser, streaming transfers
that log their progress, and the conditional read-modify-write of a shared object.

Why the read-modify-write lives here: S3 has no locks, but it has conditional writes. ``PutObject`` with
``If-Match: <etag>`` only succeeds if nobody replaced the object since it was read, and
``If-None-Match: *`` only if it still does not exist. The talk ledger and S3-CSV sheets are shared by
parallel DAG runs, so they update through ``update_object``: read, apply the change, write
conditionally, and on a conflict start again from the fresh object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

AWS_CONN_ID = "aws_default"
CHUNK_BYTES = 8 * 1024 * 1024
PROGRESS_EVERY_SECONDS = 5.0
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
MAX_ATTEMPTS = 8
RETRY_ATTEMPTS = 8


class WriteConflict(RuntimeError):
    """Other writers kept replacing the object; the change was not stored."""


def hook(aws_conn_id: str = AWS_CONN_ID, concurrency: int | None = None) -> Any:
    """An ``S3Hook`` for the connection; with ``concurrency``, its client has that many pooled
    connections and botocore's standard retries (the connection's own ``config_kwargs`` are kept)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    if concurrency is None:
        return S3Hook(aws_conn_id=aws_conn_id)
    from botocore.config import Config

    ours = Config(
        max_pool_connections=max(10, concurrency),
        retries={"mode": "standard", "max_attempts": RETRY_ATTEMPTS},
    )
    base = S3Hook(aws_conn_id=aws_conn_id).conn_config.botocore_config
    return S3Hook(aws_conn_id=aws_conn_id, config=base.merge(ours) if base else ours)


def client(aws_conn_id: str = AWS_CONN_ID, concurrency: int | None = None) -> Any:
    """A boto3 S3 client built from the Airflow connection (endpoint, region, credentials)."""
    return hook(aws_conn_id, concurrency).get_conn()


def parse_url(url: str, *, field: str = "location") -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; ValueError naming ``field`` for anything else.

    The key may be empty (``s3://bucket/`` names a bucket or a prefix).
    """
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ValueError(f"{field}: must be an s3://bucket/key location, got {url!r}")
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{field}: no bucket in {url!r}")
    return bucket, key


def url(bucket: str, key: str = "") -> str:
    """The ``s3://`` form of a location (for logs and records)."""
    return f"s3://{bucket}/{key}"


def is_missing(err: Exception) -> bool:
    """True when a botocore ClientError says the object (or bucket) does not exist."""
    response = getattr(err, "response", None) or {}
    return response.get("Error", {}).get("Code") in MISSING_CODES


class ByteProgress:
    """Logs ``what: done/total MB (percent)`` at most every 5 seconds and once at the end.

    Usable as a boto3 transfer ``Callback`` (called with the bytes just moved).
    """

    def __init__(self, what: str, total: int, logger: logging.Logger | None = None) -> None:
        self.what, self.total, self.done, self.last = what, total, 0, 0.0
        self.log = logger or log

    def __call__(self, amount: int) -> None:
        self.done += amount
        if time.monotonic() - self.last >= PROGRESS_EVERY_SECONDS or self.done >= self.total:
            self.last = time.monotonic()
            percent = 100 * self.done / self.total if self.total else 100
            self.log.info("%s: %.1f/%.1f MB (%.0f%%)", self.what, self.done / 1e6, self.total / 1e6, percent)


def download(s3: Any, bucket: str, key: str, target: Path, **extra: str) -> Path:
    """Stream an object to ``target`` in 8 MB chunks (constant memory), logging progress.

    ``extra`` (``VersionId``, ``IfMatch``) pins the exact version; a replaced object fails with 412.
    """
    response = s3.get_object(Bucket=bucket, Key=key, **extra)
    progress = ByteProgress(f"download {url(bucket, key)}", response.get("ContentLength") or 0)
    with target.open("wb") as out:
        for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
            out.write(chunk)
            progress(len(chunk))
    return target


def upload(
    s3: Any,
    path: Path,
    bucket: str,
    key: str,
    *,
    content_type: str,
    metadata: dict[str, str] | None = None,
) -> None:
    """Upload a file with boto3's managed (multipart, parallel) transfer, logging progress."""
    extra: dict[str, Any] = {"ContentType": content_type}
    if metadata:
        extra["Metadata"] = metadata
    s3.upload_file(
        str(path),
        bucket,
        key,
        ExtraArgs=extra,
        Callback=ByteProgress(f"upload {url(bucket, key)}", path.stat().st_size),
    )


def update_object(
    s3: Any,
    bucket: str,
    key: str,
    change: Callable[[bytes | None], bytes],
    *,
    content_type: str,
    attempts: int = MAX_ATTEMPTS,
) -> bytes:
    """Store ``change(current body or None)`` without losing a concurrent writer's update.

    ``change`` may run several times (once per conflict), so it must be a pure function of the body it is
    given. Returns the body that was stored.
    """
    from botocore.exceptions import ClientError

    for attempt in range(1, attempts + 1):
        try:
            obj = s3.get_object(Bucket=bucket, Key=key)
            current, condition = obj["Body"].read(), {"IfMatch": obj["ETag"]}
        except s3.exceptions.NoSuchKey:
            current, condition = None, {"IfNoneMatch": "*"}
        body = change(current)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **condition)
            return body
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in CONFLICT_CODES:
                raise
        log.info("%s changed while writing (attempt %d), re-reading", url(bucket, key), attempt)
    raise WriteConflict(f"{url(bucket, key)}: gave up after {attempts} concurrent-write conflicts")
