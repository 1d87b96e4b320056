"""The ledger: one JSON record per uploaded object version, plus one per talk, kept in private S3.

Location: ``talkbot_config.ledger`` (``s3://bucket/prefix/``, one for every conference):

- ``<prefix>ledger/<uuid>/<identity>.json`` — one object version (``identity`` is
  ``naming.object_identity(bucket, key, etag)``, the hash that ends the run id);
- ``<prefix>talks/<uuid>.json`` — the talk: ``versions`` (``identity``, ``key``, ``etag``, ``version_id``,
  ``last_modified``, ``sequencer``), ``current`` (the newest version's identity: S3 ``LastModified``, then
  the event sequencer), ``published`` (``identity``, ``destinations.<d>`` = ``{video_id, link}``, ``at``) and
  ``previous`` (the published entries a recut replaced). Talks published before talk records existed
  have none: their newest ``published`` version record stands in (``publish.replaces``);
- ``<prefix>rejected/<identity>.json`` — uploads of a configured conference whose name breaks the
  convention.

It names speakers' addresses and holds YouTube upload-session URIs, so it lives apart from the library
bucket (which a ``library`` publisher links publicly). Records written before the move, at
``s3://<library_bucket>/_talkbot/ledger/…``, are still read from there (``legacy_bucket``); the next write
of such a record stores it, changed, in the new location. Without ``talkbot_config.ledger`` the old
location stays in use.

A version record holds the uuid, raw bucket/key/ETag/version, the run ids that worked on it, ``status``
(uploaded, processing, processed, published, excluded, superseded, failed), the library key, the YouTube
video id and resumable-upload session, the link, per-address email state and the last error, plus a short
history.

It is what makes retries and duplicate deliveries safe: every side effect (YouTube upload, each email) is
written here before and after it happens, and every task reads it first. Writes go through
``include.common.s3.update_object`` (read-modify-write with a conditional ``PutObject``, retried on
conflict), so two writers never silently overwrite each other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from include.common import s3
from include.ui_views.summaries import note_ledger_record

log = logging.getLogger(__name__)

LEGACY_PREFIX = "_talkbot/"
FINISHED = frozenset({"published", "excluded", "superseded"})
HISTORY_LIMIT = 50
_WARNED: set[str] = set()  # library buckets already warned about in this process


def now() -> str:
    """UTC timestamp as stored in records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


SECRET_STATE = frozenset({"upload_session", "facebook_session"})  # bearer credentials of open uploads


def destination_states(record: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each destination's state in a version record (``destinations.<d>``); a record written before
    destinations existed has a top-level ``youtube`` (and maybe ``facebook``) field instead."""
    record = record or {}
    states = {d: s for d, s in (record.get("destinations") or {}).items() if isinstance(s, dict)}
    for old in ("youtube", "facebook"):
        if old not in states and isinstance(record.get(old), dict) and record[old]:
            states[old] = record[old]
    return states


class Ledger:
    """The records under ``s3://<bucket>/<prefix>``, read and written through ``aws_conn_id``.

    ``legacy_bucket``: a library bucket whose ``_talkbot/`` area may still hold older records; they are
    read from there when the new location has none.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = LEGACY_PREFIX,
        *,
        legacy_bucket: str | None = None,
        aws_conn_id: str = s3.AWS_CONN_ID,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.legacy_bucket = legacy_bucket
        self.aws_conn_id = aws_conn_id
        self._client = client
        if legacy_bucket == bucket and prefix == LEGACY_PREFIX:
            self.legacy_bucket = None  # still the old location: nothing separate to read

    @classmethod
    def at(cls, location: str | None, library_bucket: str, client: Any = None) -> Ledger:
        """The ledger at ``location`` (``talkbot_config.ledger``), reading old records from the library
        bucket; without a location, the library bucket's old ``_talkbot/`` area (logged as a warning)."""
        if not location:
            if library_bucket not in _WARNED:
                _WARNED.add(library_bucket)
                log.warning(
                    "talkbot_config.ledger is not set: the ledger stays in the library bucket s3://%s/%s; "
                    "set it to a private s3://bucket/prefix/",
                    library_bucket,
                    LEGACY_PREFIX,
                )
            return cls(library_bucket, LEGACY_PREFIX, client=client)
        bucket, prefix = s3.parse_url(location, field="talkbot_config.ledger")
        return cls(bucket, prefix, legacy_bucket=library_bucket, client=client)

    @classmethod
    def for_job(cls, job: dict[str, Any]) -> Ledger:
        """The ledger a publish run's job names (jobs from before the move have no ``ledger``)."""
        return cls.at(job.get("ledger"), job["library_bucket"])

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3.client(self.aws_conn_id)
        return self._client

    def record_key(self, uuid: str, identity: str) -> str:
        """Key of one object version's record."""
        return f"{self.prefix}ledger/{uuid}/{identity}.json"

    def talk_key(self, uuid: str) -> str:
        """Key of one talk's record."""
        return f"{self.prefix}talks/{uuid}.json"

    def read(self, uuid: str, identity: str) -> dict[str, Any] | None:
        """The record, or None when this object version was never seen."""
        return self._read(self.record_key(uuid, identity), f"{LEGACY_PREFIX}ledger/{uuid}/{identity}.json")

    def versions(self, uuid: str) -> list[dict[str, Any]]:
        """Every version record of a talk (new and old location; the new one wins), oldest first."""
        found: dict[str, dict[str, Any]] = {}
        places = [(self.legacy_bucket, f"{LEGACY_PREFIX}ledger/{uuid}/")] if self.legacy_bucket else []
        places.append((self.bucket, f"{self.prefix}ledger/{uuid}/"))
        for bucket, prefix in places:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    record = self._get(bucket, obj["Key"])
                    if record:
                        found[record.get("identity") or obj["Key"]] = record
        return sorted(found.values(), key=lambda r: r.get("created_at") or "")

    def update(self, uuid: str, identity: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to the record (an empty dict when new) and store it; returns the stored record.

        ``change`` may run more than once (on a write conflict it is re-applied to the fresh record), so it
        must only set fields, never count or send anything.
        """
        legacy_key = f"{LEGACY_PREFIX}ledger/{uuid}/{identity}.json"

        def apply(body: bytes | None) -> bytes:
            record = json.loads(body) if body else self._legacy(legacy_key) or {}
            record = record or {"uuid": uuid, "identity": identity, "created_at": now(), "history": []}
            before = record.get("status")
            change(record)
            record["updated_at"] = now()
            if record.get("status") != before:
                history = record.setdefault("history", [])
                history.append({"at": record["updated_at"], "status": record.get("status")})
                del history[:-HISTORY_LIMIT]
            return _dump(record)

        return note_ledger_record(self, json.loads(self._update(self.record_key(uuid, identity), apply)))

    def read_talk(self, uuid: str) -> dict[str, Any]:
        """The talk's record ({} when none was written yet)."""
        return self._get(self.bucket, self.talk_key(uuid)) or {}

    def update_talk(self, uuid: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to the talk's record and store it (same rules as ``update``)."""

        def apply(body: bytes | None) -> bytes:
            record = json.loads(body) if body else {"uuid": uuid, "created_at": now()}
            change(record)
            record["updated_at"] = now()
            return _dump(record)

        return json.loads(self._update(self.talk_key(uuid), apply))

    def record_rejected(self, identity: str, details: dict[str, Any]) -> None:
        """Note an upload that breaks the naming convention (overwriting is harmless: same content)."""
        body = {**details, "status": "rejected", "recorded_at": now()}
        self.client.put_object(
            Bucket=self.bucket,
            Key=f"{self.prefix}rejected/{identity}.json",
            Body=json.dumps(body, indent=2, default=str).encode(),
            ContentType="application/json",
        )

    def _update(self, key: str, apply: Callable[[bytes | None], bytes]) -> bytes:
        return s3.update_object(self.client, self.bucket, key, apply, content_type="application/json")

    def _read(self, key: str, legacy_key: str) -> dict[str, Any] | None:
        return self._get(self.bucket, key) or self._legacy(legacy_key)

    def _legacy(self, legacy_key: str) -> dict[str, Any] | None:
        return self._get(self.legacy_bucket, legacy_key) if self.legacy_bucket else None

    def _get(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            obj = self.client.get_object(Bucket=bucket, Key=key)
        except (self.client.exceptions.NoSuchKey, self.client.exceptions.NoSuchBucket):
            return None
        return json.loads(obj["Body"].read())


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, indent=2, sort_keys=True).encode()
