"""Talk recording file names and the deterministic identity of one uploaded object version.

Recordings are named ``<anything>_<uuid>_<HHMMSS>_<HHMMSS>.mp4``: the uuid is the third field from the
end, then the start and end of the talk measured from the start of the file. Only the file name counts;
any folders in the key are ignored.

One *object version* (bucket, key, ETag) is published exactly once. Its identity hash names both the
``talkbot_publish_video`` run id and the ledger record, so the SQS listener, the daily reconcile and a
person triggering by hand all arrive at the same run and the same record. The ETag is used, not the
version id, because both an S3 event and a plain bucket listing carry it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_UUID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")  # always fullmatch: "$" would accept a final "\n"
_HHMMSS = re.compile(r"[0-9]{6}")  # ASCII digits only ("\d" takes any Unicode digit)
# Airflow's default ``scheduler.allowed_run_id_pattern`` (``^[A-Za-z0-9_.~:+-]+$``), matched in full
RUN_ID = re.compile(r"[A-Za-z0-9_.~:+-]+")
EXPECTED = "<anything>_<uuid>_<HHMMSS>_<HHMMSS>.mp4"


class TalkNameError(ValueError):
    """A key does not follow the talk naming convention; the message says what is wrong."""


@dataclass(frozen=True)
class TalkFile:
    """What a conforming file name says: which talk, and which part of the recording."""

    uuid: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def is_video_key(key: str) -> bool:
    """True when the key names an MP4 file (the only uploads the pipeline considers)."""
    return key.lower().endswith(".mp4") and not key.endswith("/")


def parse_talk_key(key: str) -> TalkFile:
    """Parse ``…/<anything>_<uuid>_<HHMMSS>_<HHMMSS>.mp4``; TalkNameError with the reason otherwise."""
    name = key.rsplit("/", 1)[-1]
    if not name.lower().endswith(".mp4"):
        raise TalkNameError(f"{name!r} is not an .mp4 file (expected {EXPECTED})")
    fields = name[: -len(".mp4")].split("_")
    if len(fields) < 4:
        raise TalkNameError(f"{name!r} has {len(fields) - 1} '_' separators, expected {EXPECTED}")
    uuid, start_text, end_text = fields[-3:]
    if not _UUID.fullmatch(uuid):
        raise TalkNameError(
            f"{name!r}: talk uuid {uuid!r} must be letters, digits and '-' (expected {EXPECTED})"
        )
    start = _seconds(start_text, "start", name)
    end = _seconds(end_text, "end", name)
    if end <= start:
        raise TalkNameError(f"{name!r}: end {end_text} is not after start {start_text}")
    return TalkFile(uuid=uuid, start=float(start), end=float(end))


def _seconds(text: str, what: str, name: str) -> int:
    if not _HHMMSS.fullmatch(text):
        raise TalkNameError(f"{name!r}: {what} time {text!r} is not HHMMSS (expected {EXPECTED})")
    hours, minutes, seconds = int(text[:2]), int(text[2:4]), int(text[4:])
    if minutes > 59 or seconds > 59:
        raise TalkNameError(f"{name!r}: {what} time {text!r} has minutes or seconds above 59")
    return hours * 3600 + minutes * 60 + seconds


def normalise_etag(etag: str | None) -> str:
    """ETag without the quotes S3 puts around it in listings and HEAD responses."""
    return (etag or "").strip().strip('"')


def object_identity(bucket: str, key: str, etag: str) -> str:
    """Stable 16-hex-digit hash of one object version."""
    text = "\0".join((bucket, key, normalise_etag(etag)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def message_identity(body: str) -> str:
    """Stable 16-hex-digit hash of an SQS message body (names the record of a message that was dropped)."""
    return hashlib.sha256(body.encode(errors="surrogatepass")).hexdigest()[:16]


def publish_run_id(uuid: str, bucket: str, key: str, etag: str) -> str:
    """The ``talkbot_publish_video`` run id of one object version.

    TalkNameError unless it is a run id Airflow accepts (the whole id matches ``RUN_ID``, no ``..``), so a
    bad id is refused here, for its one upload, instead of failing the trigger.
    """
    run_id = f"talk__{uuid}__{object_identity(bucket, key, etag)}"
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise TalkNameError(f"talk uuid {uuid!r} makes run id {run_id!r}, which Airflow refuses")
    return run_id
