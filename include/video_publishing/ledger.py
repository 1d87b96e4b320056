"""The ledger: one JSON record per uploaded object version, kept in S3 next to the library.

Location: ``s3://<library_bucket>/_talkbot/ledger/<uuid>/<identity>.json`` where ``identity`` is
``naming.object_identity(bucket, key, etag)`` (the same hash that ends the run id). Uploads of a configured
conference whose name breaks the convention are recorded at ``s3://<library_bucket>/_talkbot/rejected/
<identity>.json``.

A record holds the uuid, raw bucket/key/ETag/version, the run ids that worked on it, ``status``
(processing, processed, published, excluded, superseded, failed), the library key, the YouTube video id
and resumable-upload session, the link, per-address email state and the last error, plus a short history.

It is what makes retries and duplicate deliveries safe: every side effect (YouTube upload, each email) is
written here before and after it happens, and every task reads it first. Writes go through
``include.common.s3_objects.update_object`` (read-modify-write with a conditional ``PutObject``, retried on
conflict), so two writers never silently overwrite each other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from include.common.s3_objects import update_object
from include.ui_views.summaries import note_ledger_record

log = logging.getLogger(__name__)

PREFIX = "_talkbot/ledger/"
REJECTED_PREFIX = "_talkbot/rejected/"
FINISHED = frozenset({"published", "excluded", "superseded"})
HISTORY_LIMIT = 50


def now() -> str:
    """UTC timestamp as stored in records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_key(uuid: str, identity: str) -> str:
    """Key of one object version's record inside the library bucket."""
    return f"{PREFIX}{uuid}/{identity}.json"


class Ledger:
    """Records of one library bucket, read and written through ``aws_conn_id``."""

    def __init__(self, bucket: str, aws_conn_id: str = "aws_default", client: Any = None) -> None:
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            self._client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        return self._client

    def read(self, uuid: str, identity: str) -> dict[str, Any] | None:
        """The record, or None when this object version was never seen."""
        record, _ = self._get(record_key(uuid, identity))
        return record

    def update(self, uuid: str, identity: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to the record (an empty dict when new) and store it; returns the stored record.

        ``change`` may run more than once (on a write conflict it is re-applied to the fresh record), so it
        must only set fields, never count or send anything.
        """

        def apply(body: bytes | None) -> bytes:
            record = json.loads(body) if body else {}
            record = record or {"uuid": uuid, "identity": identity, "created_at": now(), "history": []}
            before = record.get("status")
            change(record)
            record["updated_at"] = now()
            if record.get("status") != before:
                history = record.setdefault("history", [])
                history.append({"at": record["updated_at"], "status": record.get("status")})
                del history[:-HISTORY_LIMIT]
            return json.dumps(record, indent=2, sort_keys=True).encode()

        stored = update_object(
            self.client, self.bucket, record_key(uuid, identity), apply, content_type="application/json"
        )
        return note_ledger_record(self, json.loads(stored))

    def record_rejected(self, identity: str, details: dict[str, Any]) -> None:
        """Note an upload that breaks the naming convention (overwriting is harmless: same content)."""
        body = {**details, "status": "rejected", "recorded_at": now()}
        self.client.put_object(
            Bucket=self.bucket,
            Key=f"{REJECTED_PREFIX}{identity}.json",
            Body=json.dumps(body, indent=2).encode(),
            ContentType="application/json",
        )

    def _get(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None, None
        return json.loads(obj["Body"].read()), obj["ETag"]
