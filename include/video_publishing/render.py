"""Cutting a talk out of a recording with one ffmpeg run: fades, optional sting and watermark.

The command follows what was measured on this stack (see ENVIRONMENT.md, "ffmpeg"):

* input seeking (``-ss START`` before ``-i``) with ``-t DURATION``: frame-accurate when transcoding
  and far faster than output seeking deep into a long recording. Timestamps then restart at 0, so
  the fades start at 0 and at ``DURATION - fade`` (a wrong ``st`` fails silently);
* the sting is scaled/padded to the talk's frame, given square pixels and the talk's frame rate,
  its audio resampled to 48 kHz stereo, and concatenated in front; fades and watermark belong to
  the talk part, so the picture fades in after the sting;
* output per YouTube's recommended upload settings: MP4 with ``+faststart``, H.264 High, yuv420p,
  closed GOP of half the frame rate, 2 B-frames, AAC-LC 48 kHz stereo.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from include.video_publishing.media import MediaError, MediaInfo, ffmpeg_exe, probe, verify_output

log = logging.getLogger(__name__)

AUDIO_RATE = 48000
VIDEO_PRESET = "veryfast"
VIDEO_CRF = 20
AUDIO_BITRATE = "192k"
WATERMARK_MARGIN = 16
PROGRESS_LOG_INTERVAL = 5.0
# Pixel formats ffmpeg reports for images that carry transparency (pal8: PNG with a tRNS palette).
ALPHA_PIXEL_FORMATS = ("rgba", "bgra", "argb", "abgr", "ya", "yuva", "gbrap", "pal8")

ProgressCallback = Callable[[float, float, float], None]


class RenderError(Exception):
    """ffmpeg failed, or its output did not pass verification."""


@dataclass(frozen=True)
class RenderSpec:
    """What to cut and how: ``start``/``end`` in seconds from the start of the recording."""

    start: float
    end: float
    fade_seconds: float = 3.0
    sting: Path | None = None
    watermark: Path | None = None

    @property
    def duration(self) -> float:
        """Length of the talk cut, without the sting."""
        return self.end - self.start


@dataclass(frozen=True)
class RenderResult:
    """The verified output: its duration, the render's wall seconds and speed (media s / wall s)."""

    output: Path
    duration: float
    seconds: float
    speed: float


def validate_spec(spec: RenderSpec, info: MediaInfo) -> None:
    """Reject a cut that cannot be rendered, with a message naming the bad value, before any ffmpeg run."""
    if spec.start < 0:
        raise ValueError(f"start {spec.start:.3f} s is negative")
    if spec.end <= spec.start:
        raise ValueError(f"end {spec.end:.3f} s is not after start {spec.start:.3f} s")
    if spec.end > info.duration + 1e-3:
        raise ValueError(f"end {spec.end:.3f} s is beyond the end of the recording ({info.duration:.3f} s)")
    if spec.fade_seconds < 0:
        raise ValueError(f"fade_seconds {spec.fade_seconds} is negative")
    if spec.fade_seconds > spec.duration / 2:
        raise ValueError(
            f"fade of {spec.fade_seconds} s is longer than half the {spec.duration:.3f} s clip "
            "(fade-in and fade-out would overlap)"
        )
    if info.fps <= 0 or info.width <= 0 or info.height <= 0:
        raise ValueError(f"the recording has no usable video stream ({info})")
    for name, path in (("sting", spec.sting), ("watermark", spec.watermark)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{name} file {path} does not exist")


def gop_size(fps: float) -> int:
    """Keyframe interval for a closed GOP of half the frame rate (YouTube's recommendation)."""
    return max(1, round(fps / 2))


def _fades(kind: str, duration: float, fade: float) -> list[str]:
    """Fade-in at 0 and fade-out ending at ``duration``: timestamps restart at 0 after input seeking."""
    if fade <= 0:
        return []
    return [f"{kind}=t=in:st=0:d={fade:g}", f"{kind}=t=out:st={duration - fade:.3f}:d={fade:g}"]


def build_filter_graph(spec: RenderSpec, info: MediaInfo, *, sting_has_audio: bool = True) -> str:
    """The ``-filter_complex`` graph: talk (watermark, fades) optionally preceded by the sting.

    Inputs are the talk (0), then the sting and the watermark when present; ``[v]`` and ``[a]`` are
    the outputs. The talk keeps its frame; the sting is made to match it.
    """
    sting_input = 1
    width, height, fps = info.width, info.height, f"{info.fps:g}"
    audio_format = f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    chains: list[str] = []

    video = "[0:v]"
    video_steps: list[str] = []
    if spec.watermark is not None:
        watermark_input = 2 if spec.sting is not None else 1
        chains.append(f"[{watermark_input}:v]format=rgba[wm]")
        video = f"{video}[wm]"
        video_steps.append(f"overlay=W-w-{WATERMARK_MARGIN}:H-h-{WATERMARK_MARGIN}")
    if spec.sting is not None:
        video_steps.append("setsar=1")
    video_steps += [*_fades("fade", spec.duration, spec.fade_seconds), "format=yuv420p"]

    if info.has_audio:
        audio = "[0:a:0]"
        audio_steps = [audio_format]
    else:
        audio = ""
        audio_steps = [f"anullsrc=r={AUDIO_RATE}:cl=stereo:d={spec.duration:.3f}", "aformat=sample_fmts=fltp"]
    audio_steps += _fades("afade", spec.duration, spec.fade_seconds)

    if spec.sting is None:
        chains.append(f"{video}{','.join(video_steps)}[v]")
        chains.append(f"{audio}{','.join(audio_steps)}[a]")
        return ";".join(chains)

    chains.append(f"{video}{','.join(video_steps)}[tv]")
    chains.append(f"{audio}{','.join(audio_steps)}[ta]")
    chains.append(
        f"[{sting_input}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps={fps},format=yuv420p[sv]"
    )
    if sting_has_audio:
        chains.append(f"[{sting_input}:a:0]{audio_format}[sa]")
    else:
        # concat pads a segment's shorter stream with silence, so an empty silent track is enough.
        chains.append(f"anullsrc=r={AUDIO_RATE}:cl=stereo:d=0.02,aformat=sample_fmts=fltp[sa]")
    chains.append("[sv][sa][tv][ta]concat=n=2:v=1:a=1[v][a]")
    return ";".join(chains)


def encoder_args(fps: float, threads: int | None = None) -> list[str]:
    """Output options per YouTube's recommended upload settings."""
    args = [
        "-c:v", "libx264", "-preset", VIDEO_PRESET, "-crf", str(VIDEO_CRF),
        "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-g", str(gop_size(fps)), "-bf", "2", "-flags", "+cgop",
        "-c:a", "aac", "-profile:a", "aac_low", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE), "-ac", "2",
        "-movflags", "+faststart",
    ]  # fmt: skip
    if threads:
        args += ["-threads", str(threads)]
    return args


def build_ffmpeg_command(
    source: Path,
    output: Path,
    spec: RenderSpec,
    info: MediaInfo,
    ffmpeg: str | None = None,
    *,
    sting_info: MediaInfo | None = None,
    threads: int | None = None,
) -> list[str]:
    """The single ffmpeg command that renders ``spec`` of ``source`` (described by ``info``) to ``output``.

    Validates the spec first (ValueError). Progress goes to stdout as ``-progress`` key=value blocks;
    stderr carries errors only. ``sting_info`` is probed from the sting when not given.
    """
    validate_spec(spec, info)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if spec.sting is not None and sting_info is None:
        sting_info = probe(Path(spec.sting))
    command = [ffmpeg or ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    command += ["-ss", f"{spec.start:.3f}", "-t", f"{spec.duration:.3f}", "-i", str(source)]
    if spec.sting is not None:
        command += ["-i", str(spec.sting)]
    if spec.watermark is not None:
        command += ["-i", str(spec.watermark)]
    graph = build_filter_graph(spec, info, sting_has_audio=sting_info.has_audio if sting_info else True)
    command += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]"]
    command += encoder_args(info.fps, threads)
    command += ["-progress", "pipe:1", "-nostats", "-f", "mp4", str(output)]
    return command


class _ProgressLogger:
    """Default progress callback: logs percent, seconds and speed at most every few seconds."""

    def __init__(self, interval: float = PROGRESS_LOG_INTERVAL) -> None:
        self.interval = interval
        self.logged_at = 0.0
        self.logged_done = -1.0

    def __call__(self, done: float, total: float, speed: float) -> None:
        now = time.monotonic()
        if done == self.logged_done or (done < total and now - self.logged_at < self.interval):
            return
        self.logged_at, self.logged_done = now, done
        percent = 100 * done / total if total else 100.0
        log.info("render %.0f%% (%.1f/%.1f s) speed %.1fx", percent, done, total, speed)


def run_ffmpeg(command: list[str], total_seconds: float, progress: ProgressCallback) -> float:
    """Run an ffmpeg command that writes ``-progress pipe:1``, reporting (done, total, speed).

    Returns the wall seconds. Raises RenderError with the tail of stderr when ffmpeg fails.
    """
    started = time.monotonic()
    stderr_tail: deque[str] = deque(maxlen=20)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as process:
        drain = threading.Thread(target=lambda: stderr_tail.extend(process.stderr), daemon=True)
        drain.start()
        try:
            for line in process.stdout:
                key, _, value = line.strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    done = min(int(value) / 1_000_000, total_seconds)
                    elapsed = time.monotonic() - started
                    progress(done, total_seconds, done / elapsed if elapsed > 0 else 0.0)
        except BaseException:
            # A cancelled task (or a failing callback) must not leave ffmpeg encoding on its own.
            process.kill()
            raise
        returncode = process.wait()
        drain.join()
    seconds = time.monotonic() - started
    if returncode != 0:
        tail = "".join(stderr_tail).strip() or "(no message)"
        raise RenderError(f"ffmpeg exited with {returncode}:\n{tail}")
    progress(total_seconds, total_seconds, total_seconds / seconds if seconds > 0 else 0.0)
    return seconds


def render_talk(
    source: Path,
    output: Path,
    spec: RenderSpec,
    *,
    progress: ProgressCallback | None = None,
    threads: int | None = None,
    verify: bool = True,
) -> RenderResult:
    """Render the talk cut of ``source`` to ``output`` with one ffmpeg run, then verify it.

    Idempotent: ffmpeg writes ``<output>.part`` and the file is renamed into place only after
    ffmpeg succeeded and the result verified (duration = cut + sting within 0.1 s, clean decode),
    so a retried or interrupted render never leaves a half-written ``output`` behind; a rerun simply
    overwrites. Raises ValueError (MediaError for unreadable media) for bad input — an impossible
    spec, a source, sting or watermark ffmpeg cannot read — before running ffmpeg, and RenderError
    when ffmpeg fails or its output does not verify.
    """
    source, output = Path(source), Path(output)
    info = probe(source)
    sting_info = probe(Path(spec.sting)) if spec.sting is not None else None
    if spec.watermark is not None:
        watermark = probe(Path(spec.watermark))
        if not watermark.pix_fmt.startswith(ALPHA_PIXEL_FORMATS):
            log.warning("watermark %s has no alpha channel (%s): it covers the picture as an opaque box",
                        spec.watermark, watermark.pix_fmt)  # fmt: skip
    partial = output.with_name(output.name + ".part")
    command = build_ffmpeg_command(source, partial, spec, info, sting_info=sting_info, threads=threads)
    expected = spec.duration + (sting_info.duration if sting_info else 0.0)
    log.info(
        "rendering %s [%.3f–%.3f s] → %s (%.1f s%s%s)",
        source.name, spec.start, spec.end, output.name, expected,
        ", with sting" if spec.sting else "", ", with watermark" if spec.watermark else "",
    )  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        seconds = run_ffmpeg(command, expected, progress or _ProgressLogger())
        if verify:
            try:
                verify_output(partial, expected)
            except MediaError as error:
                raise RenderError(f"render of {source.name} did not verify: {error}") from error
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    speed = expected / seconds if seconds > 0 else 0.0
    log.info("rendered %s: %.1f s of video in %.1f s (%.1fx)", output.name, expected, seconds, speed)
    return RenderResult(output=output, duration=expected, seconds=seconds, speed=speed)
