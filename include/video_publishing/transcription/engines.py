"""The engine interface and the factory that builds an engine from a conference's settings.

An engine's ``submit`` either returns the ``Transcript`` (an engine that runs on the worker) or a
``Pending`` job with the trigger to defer on (an engine that runs elsewhere); after the trigger fires,
``collect(event)`` reads the result. A task therefore runs the same two calls for every engine and never
sleeps in a worker slot while a managed service works.

Settings (``"transcription"`` of a conference): ``{"engine": "local" | "aws", "language": "en-US"}``
plus engine options — ``local``: ``model_dir`` (a pocketsphinx model directory holding ``<lang>/``,
``<lang>.lm.bin`` and ``cmudict-<lang>.dict``; default: the English model inside the wheel);
``aws``: ``output_bucket``, ``output_prefix``, ``poll_seconds``, ``timeout_hours``, ``aws_conn_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from include.video_publishing.transcription.model import Transcript

ENGINES = ("local", "aws")


class TranscriptionFailed(Exception):
    """The engine could not produce a transcript (the reason is in the message)."""


@dataclass(frozen=True)
class Media:
    """The talk to transcribe: the library object, and a local copy when the worker already has one."""

    bucket: str
    key: str
    path: Path | None = None

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Pending:
    """A job started elsewhere: defer on ``trigger``, then pass its event to ``collect``."""

    job_name: str
    trigger: Any


class TranscriptionEngine(Protocol):
    name: str

    def submit(self, media: Media, language: str, job_name: str) -> Transcript | Pending:
        """Transcribe now, or start a job and return how to wait for it. ``job_name`` is deterministic per
        talk and source version, so a retried submit finds the job it already started."""

    def collect(self, event: dict[str, Any]) -> Transcript:
        """The transcript of a finished job (``event`` is what the trigger yielded)."""


def engine_from_settings(settings: dict[str, Any], *, field: str = "transcription") -> TranscriptionEngine:
    """The configured engine; errors name the exact field (``<field>.engine``, ``<field>.model_dir``)."""
    engine = settings.get("engine")
    options = {k: v for k, v in settings.items() if k not in ("engine", "language")}
    if engine == "local":
        from include.video_publishing.transcription.local import PocketsphinxEngine

        unknown = set(options) - {"model_dir"}
        if unknown:
            raise ValueError(f"{field}: unknown option(s) {sorted(unknown)} for the local engine")
        model_dir = options.get("model_dir")
        if model_dir is not None and not Path(model_dir).is_dir():
            raise ValueError(f"{field}.model_dir: {model_dir!r} is not a directory on this worker")
        return PocketsphinxEngine(model_dir=Path(model_dir) if model_dir else None)
    if engine == "aws":
        from include.video_publishing.transcription.aws import AmazonTranscribeEngine

        allowed = {"output_bucket", "output_prefix", "poll_seconds", "timeout_hours", "aws_conn_id"}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"{field}: unknown option(s) {sorted(unknown)} for the aws engine")
        return AmazonTranscribeEngine(**options)
    raise ValueError(f"{field}.engine: must be one of {list(ENGINES)}, got {engine!r}")
