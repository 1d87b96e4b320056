"""Amazon Transcribe: a job on the library object, waited for in the triggerer, its result read from S3.

providers-amazon has neither a Transcribe hook nor a trigger (and botocore has no waiter for plain
transcription jobs), so ``TranscriptionJobTrigger`` lives here: it polls ``GetTranscriptionJob`` with
aiobotocore through ``AwsGenericHook`` (the same ``aws_default`` connection as every other AWS call) and
fires once the job is COMPLETED or FAILED, or when ``timeout_seconds`` have passed. Its classpath is in
``include/``, which the triggerer has on its path like the workers.

Idempotent under retry: the job name is deterministic (talk uuid + source version), so a retried
``submit`` finds the job it started (``ConflictException``) instead of paying for a second one, and the
result document is written to a fixed key (``<output_prefix><job name>.json`` in the output bucket).
Language: a BCP 47 code per talk (``en-US``, ``de-DE``…), or ``auto`` to let Transcribe identify it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.video_publishing.transcription.engines import Media, Pending, TranscriptionFailed
from include.video_publishing.transcription.model import Transcript, Word

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "_talkbot/transcripts/"
_JOB_NAME = re.compile(r"^[0-9a-zA-Z._-]{1,200}$")


class AmazonTranscribeEngine:
    """Starts a Transcribe job and hands back the trigger to wait on; ``collect`` reads the result."""

    name = "aws"

    def __init__(
        self,
        *,
        aws_conn_id: str = "aws_default",
        output_bucket: str | None = None,
        output_prefix: str = DEFAULT_PREFIX,
        poll_seconds: float = 30.0,
        timeout_hours: float = 6.0,
    ) -> None:
        self.aws_conn_id = aws_conn_id
        self.output_bucket = output_bucket
        self.output_prefix = output_prefix
        self.poll_seconds = float(poll_seconds)
        self.timeout_hours = float(timeout_hours)

    def _client(self) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="transcribe").get_conn()

    def submit(self, media: Media, language: str, job_name: str) -> Pending:
        """Start (or find) the job for ``media``; the caller defers on ``Pending.trigger``."""
        if not _JOB_NAME.match(job_name):
            raise ValueError(f"job_name {job_name!r}: only letters, digits, '.', '_' and '-' (≤ 200)")
        client = self._client()
        request: dict[str, Any] = {
            "TranscriptionJobName": job_name,
            "Media": {"MediaFileUri": media.s3_uri},
            "OutputBucketName": self.output_bucket or media.bucket,
            "OutputKey": f"{self.output_prefix}{job_name}.json",
        }
        if language == "auto":
            request["IdentifyLanguage"] = True
        else:
            request["LanguageCode"] = language
        try:
            client.start_transcription_job(**request)
            log.info("started Amazon Transcribe job %s on %s (%s)", job_name, media.s3_uri, language)
        except client.exceptions.ConflictException:
            log.info("Amazon Transcribe job %s already exists; waiting for it", job_name)
        trigger = TranscriptionJobTrigger(
            job_name=job_name,
            aws_conn_id=self.aws_conn_id,
            poll_seconds=self.poll_seconds,
            timeout_seconds=self.timeout_hours * 3600,
        )
        return Pending(job_name=job_name, trigger=trigger)

    def collect(self, event: dict[str, Any]) -> Transcript:
        """The transcript of the job the trigger reported on; raises ``TranscriptionFailed`` otherwise."""
        if event.get("status") != "completed":
            reason = event.get("failure_reason") or event.get("status")
            raise TranscriptionFailed(f"Amazon Transcribe job {event.get('job_name')}: {reason}")
        job = self._client().get_transcription_job(TranscriptionJobName=event["job_name"])["TranscriptionJob"]
        if job["TranscriptionJobStatus"] != "COMPLETED":
            raise TranscriptionFailed(
                f"Amazon Transcribe job {event['job_name']} is {job['TranscriptionJobStatus']}: "
                f"{job.get('FailureReason', '')}"
            )
        bucket, key = result_location(job["Transcript"]["TranscriptFileUri"])
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        body = (
            S3Hook(aws_conn_id=self.aws_conn_id).get_conn().get_object(Bucket=bucket, Key=key)["Body"].read()
        )
        language = job.get("LanguageCode") or "und"
        return parse_result(json.loads(body), language)


def result_location(uri: str) -> tuple[str, str]:
    """Bucket and key of a ``TranscriptFileUri`` (path-style ``https://s3.<region>.amazonaws.com/b/k``,
    virtual-hosted ``https://b.s3.<region>.amazonaws.com/k`` or ``s3://b/k``)."""
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        return parts.netloc, unquote(parts.path.lstrip("/"))
    host = parts.hostname or ""
    if host.startswith("s3.") or host.startswith("s3-") or host == "s3.amazonaws.com":
        bucket, _, key = parts.path.lstrip("/").partition("/")
        return bucket, unquote(key)
    if ".s3." in host or ".s3-" in host:
        return host.split(".s3")[0], unquote(parts.path.lstrip("/"))
    raise ValueError(f"TranscriptFileUri {uri!r} is not an S3 location")


def parse_result(document: dict[str, Any], language: str) -> Transcript:
    """Timed words from Transcribe's result JSON (``results.items``; punctuation joins the word before)."""
    words: list[Word] = []
    for item in document.get("results", {}).get("items", []):
        best = (item.get("alternatives") or [{}])[0]
        content = str(best.get("content", "")).strip()
        if not content:
            continue
        if item.get("type") == "punctuation":
            if words:
                last = words[-1]
                words[-1] = Word(last.text + content, last.start, last.end, last.confidence)
            continue
        confidence = best.get("confidence")
        words.append(
            Word(
                text=content,
                start=float(item["start_time"]),
                end=float(item["end_time"]),
                confidence=float(confidence) if confidence not in (None, "") else None,
            )
        )
    return Transcript(
        language=language,
        words=tuple(words),
        engine="aws",
        duration=words[-1].end if words else 0.0,
        details={"job_name": document.get("jobName", "")},
    )


class TranscriptionJobTrigger(BaseTrigger):
    """Fires when a Transcribe job finishes (event ``status``: completed, failed or timeout)."""

    def __init__(
        self,
        job_name: str,
        *,
        aws_conn_id: str = "aws_default",
        region_name: str | None = None,
        poll_seconds: float = 30.0,
        timeout_seconds: float = 6 * 3600,
        started_at: float | None = None,
    ) -> None:
        super().__init__()
        self.job_name = job_name
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        # wall-clock start, serialized: a triggerer restart does not restart the timeout
        self.started_at = started_at if started_at is not None else time.time()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_seconds": self.poll_seconds,
                "timeout_seconds": self.timeout_seconds,
                "started_at": self.started_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

        hook = AwsGenericHook(
            aws_conn_id=self.aws_conn_id, client_type="transcribe", region_name=self.region_name
        )
        async with await hook.get_async_conn() as client:
            while True:
                answer = await client.get_transcription_job(TranscriptionJobName=self.job_name)
                job = answer["TranscriptionJob"]
                status = job["TranscriptionJobStatus"]
                if status in ("COMPLETED", "FAILED"):
                    yield TriggerEvent(
                        {
                            "status": status.lower(),
                            "job_name": self.job_name,
                            "failure_reason": job.get("FailureReason", ""),
                            "language": job.get("LanguageCode", ""),
                        }
                    )
                    return
                if time.time() - self.started_at > self.timeout_seconds:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "job_name": self.job_name,
                            "failure_reason": f"still {status} after {self.timeout_seconds:.0f} s",
                        }
                    )
                    return
                self.log.info(
                    "Transcribe job %s is %s; checking again in %.0f s",
                    self.job_name,
                    status,
                    self.poll_seconds,
                )
                await asyncio.sleep(self.poll_seconds)
