"""Full re-encodes split into chunks that any worker renders, then one join.

When every frame must be re-encoded (a watermark, or a source the smart render cannot join) and the
cut is longer than the conference's ``chunk_minutes``, the cut is split at source keyframes (so
each chunk's input seek decodes no GOP twice) into chunks of about that length. Each chunk is one
ffmpeg run over an exact frame count, with the watermark and the part of the fades that falls in
it, encoded per YouTube's recommended settings; the chunks are then joined exactly like the smart
render's pieces (``smart_render.join_pieces``), after the sting, with the audio of the whole cut
encoded once (AAC chunks joined end to end would each carry their own priming samples).

Chunk boundaries are kept at least one fade away from both ends, so a fade never spans two chunks.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from include.video_publishing.probe import ProbeError, VideoParams, open_media, probe_streams
from include.video_publishing.render import (
    VIDEO_CRF,
    VIDEO_PRESET,
    WATERMARK_MARGIN,
    RenderSpec,
    gop_size,
    run_ffmpeg,
)
from include.video_publishing.smart_render import (
    Piece,
    RenderPlan,
    _quiet,
    audio_command,
    join_pieces,
    piece_command,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    """Frames ``first_frame`` … ``first_frame + frames - 1`` of the cut (0 = the cut's first frame)."""

    index: int
    first_frame: int
    frames: int
    total_frames: int
    fade_frames: int

    @property
    def label(self) -> str:
        """How the chunk is named in the UI (map index) and in the log."""
        return f"chunk {self.index + 1} (frames {self.first_frame}–{self.first_frame + self.frames - 1})"

    def as_dict(self) -> dict:
        """JSON-safe form (XCom between tasks), with the label."""
        return {**asdict(self), "label": self.label}


def output_params(source: VideoParams) -> VideoParams:
    """The parameters of a full render of ``source``: its frame, rate and colours; High, yuv420p."""
    fps = source.fps
    time_base = Fraction(1, fps.numerator * 512) if fps.denominator == 1 else Fraction(1, fps.numerator)
    return VideoParams(
        codec="h264", profile="High", level=0, width=source.width, height=source.height,
        pix_fmt="yuv420p", fps=fps, time_base=time_base, sar=source.sar or Fraction(1),
        color_range=source.color_range, color_primaries=source.color_primaries,
        color_trc=source.color_trc, colorspace=source.colorspace, has_b_frames=True, progressive=True,
    )  # fmt: skip


def cut_plan(source: Path, spec: RenderSpec) -> RenderPlan:
    """The frame grid of a full render of ``spec``: frames at the source's rate from ``spec.start``."""
    info = probe_streams(source)
    if info.video is None:
        raise ProbeError(f"{source}: has no video stream")
    params = output_params(info.video)
    frames = round(Fraction(spec.end - spec.start).limit_denominator(1000) * params.fps)
    return RenderPlan(
        path="chunked",
        reason="",
        params=params,
        start_time=Fraction(info.start_time).limit_denominator(1_000_000),
        frames=frames,
        first_pts=round(
            (Fraction(spec.start).limit_denominator(1000) + Fraction(info.start_time)) / params.time_base
        ),
        fade_frames=round(spec.fade_seconds * params.fps),
        has_audio=info.has_audio,
    )


def plan_chunks(source: Path, spec: RenderSpec, chunk_seconds: float) -> list[Chunk]:
    """Split the cut into chunks of about ``chunk_seconds``, each starting at a source keyframe."""
    plan = cut_plan(source, spec)
    fps = plan.params.fps
    with open_media(source) as container:
        video = container.streams.video[0]
        tb = Fraction(video.time_base)
        base = plan.start_time
        entries = video.index_entries
        # the index holds decode times; B-frames show a keyframe that much later (the first sample's shift)
        delay = (video.start_time or 0) - entries[0].timestamp if len(entries) else 0
        keys = sorted(Fraction(e.timestamp + delay) * tb - base for e in entries if e.is_keyframe)
    # keyframe times as frame numbers of the cut, away from the fades
    low, high = plan.fade_frames + 1, plan.frames - plan.fade_frames - 1
    candidates = sorted({round((t - Fraction(spec.start).limit_denominator(1000)) * fps) for t in keys})
    candidates = [frame for frame in candidates if low <= frame <= high]
    step = max(1, round(chunk_seconds * fps))
    starts = [0]
    for frame in candidates:
        if frame - starts[-1] >= step and plan.frames - frame >= step // 2:
            starts.append(frame)
    ends = [*starts[1:], plan.frames]
    return [
        Chunk(index, first, end - first, plan.frames, plan.fade_frames)
        for index, (first, end) in enumerate(zip(starts, ends, strict=True))
    ]


def chunk_filter(chunk: Chunk, *, watermark: bool) -> str:
    """The chunk's graph: watermark overlay, then the part of the fades inside the chunk."""
    steps = []
    video = "[0:v]"
    chains = []
    if watermark:
        chains.append("[1:v]format=rgba[wm]")
        video = "[0:v][wm]"
        steps.append(f"overlay=W-w-{WATERMARK_MARGIN}:H-h-{WATERMARK_MARGIN}")
    fade = chunk.fade_frames
    if fade and chunk.first_frame == 0:
        steps.append(f"fade=t=in:s=0:n={fade}")
    fade_out = chunk.total_frames - fade - chunk.first_frame
    if fade and 0 <= fade_out < chunk.frames:
        steps.append(f"fade=t=out:s={fade_out}:n={fade}")
    steps.append("format=yuv420p")
    chains.append(f"{video}{','.join(steps)}[v]")
    return ";".join(chains)


def chunk_encoder(params: VideoParams) -> list[str]:
    """YouTube's recommended video settings (as the single-task full render) at ``params``."""
    gop = str(gop_size(float(params.fps)))
    return [
        *params.x264_args(), "-preset", VIDEO_PRESET, "-crf", str(VIDEO_CRF),
        "-g", gop, "-keyint_min", gop, "-bf", "2", "-flags", "+cgop", "-sc_threshold", "0",
    ]  # fmt: skip


def render_chunk(
    source: Path,
    output: Path,
    spec: RenderSpec,
    chunk: Chunk,
    *,
    threads: int | None = None,
) -> Path:
    """Encode one chunk (video only) to ``output``; idempotent (the file is rewritten whole)."""
    plan = cut_plan(source, spec)
    first_pts = plan.first_pts + chunk.first_frame * plan.params.frame_ticks
    extra = ["-i", str(spec.watermark)] if spec.watermark else None
    command = piece_command(
        source, output, plan, first_pts=first_pts, frames=chunk.frames,
        video_filter=chunk_filter(chunk, watermark=spec.watermark is not None),
        encoder=chunk_encoder(plan.params), threads=threads, extra_inputs=extra,
    )  # fmt: skip
    seconds = run_ffmpeg(command, float(chunk.frames / plan.params.fps), _quiet)
    log.info("%s rendered in %.1f s", chunk.label, seconds)
    return output


def encode_cut_audio(
    source: Path, output: Path, spec: RenderSpec, *, sting: tuple[Path, int] | None = None
) -> Path:
    """The whole cut's audio (after the sting's) for a chunked render, exactly the cut's frames long."""
    plan = cut_plan(source, spec)
    fps = plan.params.fps
    command = audio_command(
        source, output, start=spec.start, duration=plan.duration, has_audio=plan.has_audio,
        fade_seconds=spec.fade_seconds, sting=sting[0] if sting else None,
        sting_seconds=float(sting[1] / fps) if sting else 0.0,
    )  # fmt: skip
    run_ffmpeg(command, plan.duration, _quiet)
    return output


def join_chunks(
    chunks: list[tuple[Path, int]],
    audio: Path,
    output: Path,
    params: VideoParams,
    *,
    sting: tuple[Path, int] | None = None,
) -> Path:
    """Join rendered chunks ((file, frames), in order) after the sting, with the audio, into ``output``."""
    pieces = [Piece(path, frames) for path, frames in chunks]
    if sting:
        pieces.insert(0, Piece(*sting))
    join_pieces(pieces, audio, output, params)
    return output
