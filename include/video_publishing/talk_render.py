"""The render step of a publish run: pick the path, read the source from S3, render, verify.

Which path a talk takes (recorded in the ledger as ``render.path`` and ``render.reason``, and logged):

* ``smart`` — no watermark and a source that can be joined (``smart_render.plan_render``): only the
  GOPs under the fades are re-encoded, the rest is copied. Seconds for a long talk.
* ``full`` — everything re-encoded in one ffmpeg run (``render.render_talk``), when the smart path is
  refused and the cut is no longer than ``chunk_minutes``.
* ``chunked`` — the same full re-encode split into chunks (``chunked_render``) rendered by mapped
  ``render_chunk`` tasks in the ``render`` pool on any worker, then ``join_chunks``.

The source is read with ranged GETs (``source_range``): the index and the cut's bytes only. The sting is
encoded to the talk's parameters once per conference, sting version and parameter set, and cached at
``s3://<library_bucket>/_talkbot/stings/<conference>/``. Chunks and the chunked render's audio travel
between tasks under ``_talkbot/chunks/<uuid>/<identity>/`` and are deleted after the join.

Errors: a bad cut or an unreadable upload is a ValueError (the task fails without retries); a
render whose output does not verify is retried, unless the upload itself does not decode cleanly in
the cut (``SourceError``, a ValueError: a corrupt upload is not rendered three more times).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from include.common import s3
from include.video_publishing.chunked_render import (
    Chunk,
    encode_cut_audio,
    join_chunks,
    output_params,
    plan_chunks,
    render_chunk,
)
from include.video_publishing.config import Conference, load_config
from include.video_publishing.media import MediaError, ffmpeg_exe, verify_output
from include.video_publishing.probe import VideoParams, probe_streams
from include.video_publishing.render import RenderError, RenderSpec, render_talk
from include.video_publishing.smart_render import (
    CHUNKED,
    FULL,
    SMART,
    encode_sting,
    plan_render,
    render_smart,
)
from include.video_publishing.source_range import SourceCopy, fetch_cut

log = logging.getLogger(__name__)

STING_PREFIX = "_talkbot/stings/"
CHUNK_PREFIX = "_talkbot/chunks/"
FRAMES_METADATA = "talkbot-frames"
T = TypeVar("T")


class SourceError(MediaError):
    """The upload itself is damaged where the talk is: retrying the render cannot help."""


@dataclass
class RenderOutcome:
    """What the render step did: the path and why, the output (none yet for ``chunked``), the cost."""

    path: str
    reason: str
    output: Path | None = None
    duration: float = 0.0
    seconds: float = 0.0
    bytes_read: int = 0
    object_size: int = 0
    chunks: list[dict] = field(default_factory=list)

    def ledger(self) -> dict[str, Any]:
        """The ledger's ``render`` field."""
        return {
            "path": self.path,
            "reason": self.reason,
            "seconds": round(self.seconds, 1),
            "bytes_read": self.bytes_read,
            "object_size": self.object_size,
            "chunks": len(self.chunks),
        }


def source_pin(job: dict[str, Any]) -> dict[str, str]:
    """GET arguments that pin the exact version the event announced (412 if it was replaced)."""
    return {"VersionId": job["version_id"]} if job.get("version_id") else {"IfMatch": f'"{job["etag"]}"'}


def sting_cache_key(conference: str, sting_etag: str, params: VideoParams) -> str:
    """Where the sting encoded to ``params`` lives in the library bucket."""
    return f"{STING_PREFIX}{conference}/{s3_safe(sting_etag)}-{params.cache_key()}.mp4"


def s3_safe(etag: str) -> str:
    """An ETag as a key part (quotes and dashes of multipart ETags dropped)."""
    return "".join(ch for ch in etag if ch.isalnum())[:32]


def cached_sting(
    client: Any, conference: Conference, params: VideoParams, scratch: Path
) -> tuple[Path, int] | None:
    """The conference's sting encoded to ``params``: from the cache, else encoded once and cached.

    Idempotent: the key is derived from the sting's ETag and the parameters, so concurrent runs write
    the same content to the same key.
    """
    if not conference.sting:
        return None
    bucket, key = s3.parse_url(conference.sting, field=f"conferences.{conference.slug}.sting")
    etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    cache_key = sting_cache_key(conference.slug, etag, params)
    target = scratch / "sting-encoded.mp4"
    try:
        head = client.head_object(Bucket=conference.library_bucket, Key=cache_key)
        s3.download(client, conference.library_bucket, cache_key, target)
        log.info("sting from cache %s", s3.url(conference.library_bucket, cache_key))
        return target, int(head["Metadata"][FRAMES_METADATA])
    except Exception as err:  # a missing key, or an entry without the frame count: encode again
        if not (s3.is_missing(err) or isinstance(err, KeyError)):
            raise
    raw = s3.download(client, bucket, key, scratch / "sting-source.mp4", IfMatch=f'"{etag}"')
    target, frames = encode_sting(raw, target, params)
    s3.upload(
        client, target, conference.library_bucket, cache_key, content_type="video/mp4",
        metadata={FRAMES_METADATA: str(frames)},
    )  # fmt: skip
    log.info(
        "sting encoded (%d frames) and cached at %s", frames, s3.url(conference.library_bucket, cache_key)
    )
    return target, frames


def cut_decodes_cleanly(source: Path, spec: RenderSpec) -> str:
    """ffmpeg's complaints when decoding the cut of the source ('' when none)."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-ss", f"{spec.start:.3f}",
         "-t", f"{spec.duration:.3f}", "-i", str(source), "-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stderr.strip() if result.returncode == 0 else result.stderr.strip() or "ffmpeg failed"


def blame_source(render: Callable[[], T], source: Path, spec: RenderSpec) -> T:
    """Run ``render``; when its output fails verification, SourceError if the upload is what is broken."""
    try:
        return render()
    except RenderError as error:
        complaints = cut_decodes_cleanly(source, spec)
        if complaints:
            raise SourceError(
                f"the upload does not decode cleanly between {spec.start:.3f} s and {spec.end:.3f} s "
                f"(not retrying): {complaints.splitlines()[-1]}"
            ) from error
        raise


def chunk_prefix(job: dict[str, Any]) -> str:
    """Where one object version's chunks and audio wait for the join."""
    return f"{CHUNK_PREFIX}{job['uuid']}/{job['identity']}/"


def _fetch(client: Any, job: dict[str, Any], scratch: Path, start: float, end: float) -> SourceCopy:
    return fetch_cut(
        client, job["bucket"], job["key"], scratch / f"{job['uuid']}-source.mp4",
        start=start, end=end, extra=source_pin(job),
    )  # fmt: skip


def _watermark(client: Any, conference: Conference, scratch: Path) -> Path | None:
    if not conference.watermark:
        return None
    return s3.download(client, *s3.parse_url(conference.watermark), scratch / "watermark.png")


def render_upload(client: Any, job: dict[str, Any], conference: Conference, scratch: Path) -> RenderOutcome:
    """Render ``job``'s cut into ``scratch``, by the smart, full or (planned only) chunked path.

    For ``chunked`` nothing is rendered here: the chunk list comes back (``outcome.chunks``) and the
    whole cut's audio is encoded now and stored under ``chunk_prefix(job)``.
    """
    start, end = job["start"], job["end"]
    source = _fetch(client, job, scratch, start, end)
    spec = RenderSpec(start, end, conference.fade_seconds, watermark=_watermark(client, conference, scratch))
    plan = plan_render(source.path, spec)
    cost = {"bytes_read": source.bytes_read, "object_size": source.object_size}
    output = scratch / f"{job['uuid']}.mp4"
    if plan.path == SMART:
        log.info("render path smart: %s", plan.reason)
        sting = cached_sting(client, conference, plan.params, scratch)
        result = blame_source(
            lambda: render_smart(source.path, output, spec, plan, sting=sting), source.path, spec
        )
        return RenderOutcome(SMART, plan.reason, output, result.duration, result.seconds, **cost)
    chunk_seconds = conference.chunk_minutes * 60
    if spec.duration > chunk_seconds:
        chunks = plan_chunks(source.path, spec, chunk_seconds)
        if len(chunks) > 1:
            reason = f"{plan.reason}; {len(chunks)} chunks of about {conference.chunk_minutes:g} min"
            log.info("render path chunked: %s", reason)
            params = output_params(plan.params or probe_streams(source.path).video)
            sting = cached_sting(client, conference, params, scratch)
            audio = encode_cut_audio(source.path, scratch / "audio.m4a", spec, sting=sting)
            s3.upload(client, audio, conference.library_bucket, chunk_prefix(job) + "audio.m4a",
                      content_type="audio/mp4")  # fmt: skip
            fps = float(params.fps)
            listed = [
                {
                    **c.as_dict(),
                    "window": [start + c.first_frame / fps, start + (c.first_frame + c.frames) / fps],
                }
                for c in chunks
            ]
            return RenderOutcome(CHUNKED, reason, chunks=listed, **cost)
    log.info("render path full: %s", plan.reason)
    sting_raw = None
    if conference.sting:
        sting_raw = s3.download(client, *s3.parse_url(conference.sting), scratch / "sting.mp4")
    full_spec = RenderSpec(start, end, conference.fade_seconds, sting=sting_raw, watermark=spec.watermark)
    result = blame_source(lambda: render_talk(source.path, output, full_spec), source.path, spec)
    return RenderOutcome(FULL, plan.reason, output, result.duration, result.seconds, **cost)


def render_chunk_upload(job: dict[str, Any], chunk: dict) -> dict:
    """Render one chunk of ``job`` and store it under ``chunk_prefix(job)``; returns {index, key, frames}.

    Idempotent: a chunk already stored for this object version (same key) is not rendered again.
    """
    with tempfile.TemporaryDirectory(prefix=f"talkbot-{job['uuid']}-chunk-") as folder:
        return _render_chunk(job, load_config().conference(job["conference"]), chunk, Path(folder))


def _render_chunk(job: dict[str, Any], conference: Conference, chunk: dict, scratch: Path) -> dict:
    client = s3.client()
    piece = Chunk(**{name: chunk[name] for name in Chunk.__dataclass_fields__})
    key = f"{chunk_prefix(job)}{piece.index:04d}.mp4"
    done = {"index": piece.index, "key": key, "frames": piece.frames}
    try:
        client.head_object(Bucket=conference.library_bucket, Key=key)
        log.info("%s is already stored at %s", piece.label, s3.url(conference.library_bucket, key))
        return done
    except Exception as err:
        if not s3.is_missing(err):
            raise
    source = _fetch(client, job, scratch, *chunk["window"])
    spec = RenderSpec(
        job["start"], job["end"], conference.fade_seconds, watermark=_watermark(client, conference, scratch)
    )
    output = render_chunk(source.path, scratch / "chunk.mp4", spec, piece)
    s3.upload(client, output, conference.library_bucket, key, content_type="video/mp4",
              metadata={FRAMES_METADATA: str(piece.frames)})  # fmt: skip
    log.info("%s: read %.1f MB of %.1f MB", piece.label, source.bytes_read / 1e6, source.object_size / 1e6)
    return done


def join_chunk_uploads(
    job: dict[str, Any], conference: Conference, chunks: list[dict], scratch: Path
) -> RenderOutcome:
    """Join the stored chunks (after the cached sting) with the stored audio into ``scratch``, verified.

    Idempotent: reads only; the caller uploads the result and ``delete_chunks`` removes the parts.
    """
    client = s3.client()
    bucket = conference.library_bucket
    parts = []
    for done in sorted(chunks, key=lambda c: c["index"]):
        path = s3.download(client, bucket, done["key"], scratch / f"chunk-{done['index']:04d}.mp4")
        parts.append((path, int(done["frames"])))
    audio = s3.download(client, bucket, chunk_prefix(job) + "audio.m4a", scratch / "audio.m4a")
    params = output_params(probe_streams(parts[0][0]).video)
    sting = cached_sting(client, conference, params, scratch)
    output = scratch / f"{job['uuid']}.mp4"
    partial = scratch / f"{job['uuid']}.mp4.part"
    join_chunks(parts, audio, partial, params, sting=sting)
    frames = sum(f for _, f in parts) + (sting[1] if sting else 0)
    try:
        verify_output(partial, float(frames / params.fps), tolerance=float(1 / params.fps) + 0.03)
    except MediaError as error:
        raise RenderError(f"joined chunks of {job['uuid']} did not verify: {error}") from error
    partial.replace(output)
    return RenderOutcome(CHUNKED, "", output, float(frames / params.fps), 0.0, chunks=chunks)


def delete_chunks(job: dict[str, Any], conference: Conference) -> None:
    """Remove the chunk parts of ``job`` once the library holds the joined render (idempotent)."""
    client = s3.client()
    listing = client.list_objects_v2(Bucket=conference.library_bucket, Prefix=chunk_prefix(job))
    keys = [{"Key": o["Key"]} for o in listing.get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=conference.library_bucket, Delete={"Objects": keys, "Quiet": True})


__all__ = [
    "delete_chunks",
    "join_chunk_uploads",
    "render_chunk_upload",
    "render_upload",
]
