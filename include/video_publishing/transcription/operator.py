"""The transcription step as an operator: the same two calls for every engine, deferring when it waits.

``execute`` builds the engine from the conference's ``transcription`` settings and submits the talk; an
engine on the worker (``local``) returns the transcript at once, a managed one (``aws``) returns a job to
wait for, and the task *defers* on its trigger — no worker slot is held while Amazon Transcribe works.
``execute_complete`` reads the result. The returned value (XCom) is ``Transcript.to_dict()``.

Idempotent under retry: the job name is deterministic per talk and source version, so a cleared task finds
the job it started instead of starting (and paying for) another.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from include.video_publishing.transcription.engines import Media, Pending, engine_from_settings


class TranscribeOperator(BaseOperator):
    """Transcribe ``s3://bucket/key`` in ``language`` with the engine ``settings`` name."""

    template_fields = ("bucket", "key", "language", "job_name")
    ui_color = "#e0f0ff"

    def __init__(
        self, *, settings: dict[str, Any], bucket: str, key: str, language: str, job_name: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.bucket = bucket
        self.key = key
        self.language = language
        self.job_name = job_name

    def execute(self, context: Any) -> dict[str, Any]:
        engine = engine_from_settings(self.settings)
        result = engine.submit(Media(self.bucket, self.key), self.language, self.job_name)
        if isinstance(result, Pending):
            self.log.info("transcription job %s started; deferring until it finishes", result.job_name)
            self.defer(trigger=result.trigger, method_name="execute_complete")
        self.log.info("transcribed %s: %d words", self.key, len(result.words))
        return result.to_dict()

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        transcript = engine_from_settings(self.settings).collect(event)
        self.log.info("transcription job %s finished: %d words", event.get("job_name"), len(transcript.words))
        return transcript.to_dict()
