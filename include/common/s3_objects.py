"""Optimistic read-modify-write of one S3 object.

S3 has no locks, but it has conditional writes: ``PutObject`` with ``If-Match: <etag>``
only succeeds if nobody replaced the object since we read it, and ``If-None-Match: *``
only if it still does not exist. Both the talk ledger and S3-CSV talk sheets are shared
by parallel DAG runs, so they update through here: read, apply the change, write
conditionally, and on a conflict start again from the fresh object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
MAX_ATTEMPTS = 8


class WriteConflict(RuntimeError):
    """Other writers kept replacing the object; the change was not stored."""


def update_object(
    client,
    bucket: str,
    key: str,
    change: Callable[[bytes | None], bytes],
    *,
    content_type: str,
    attempts: int = MAX_ATTEMPTS,
) -> bytes:
    """Store ``change(current body or None)`` without losing a concurrent writer's update.

    ``change`` may run several times (once per conflict), so it must be a pure function of
    the body it is given. Returns the body that was stored.
    """
    from botocore.exceptions import ClientError

    for attempt in range(1, attempts + 1):
        try:
            obj = client.get_object(Bucket=bucket, Key=key)
            current, condition = obj["Body"].read(), {"IfMatch": obj["ETag"]}
        except client.exceptions.NoSuchKey:
            current, condition = None, {"IfNoneMatch": "*"}
        body = change(current)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **condition)
            return body
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in CONFLICT_CODES:
                raise
        log.info("s3://%s/%s changed while writing (attempt %d), re-reading", bucket, key, attempt)
    raise WriteConflict(f"s3://{bucket}/{key}: gave up after {attempts} concurrent-write conflicts")
