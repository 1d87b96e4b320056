"""Describing and checking media files: structured probing (PyAV) and decode checks (ffmpeg).

``probe`` reads numbers from the container and codec (``include.video_publishing.probe``), never the
text ``ffmpeg -i`` prints. The checks decode with the ffmpeg binary and inspect the decoded bytes.
Nothing heavy is imported at module level: DAG files may import this module at parse time.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class MediaError(ValueError):
    """A media file cannot be read, or is not what it should be.

    A ValueError: bad input that retrying will not fix (an unreadable upload, a sting that is not a
    video). The render wraps a failed verification of its own output in RenderError instead.
    """


@dataclass(frozen=True)
class MediaInfo:
    """What a pipeline needs to know about a media file.

    ``duration`` is the container's duration (0.0 when the container does not state one, as for
    a still image); ``width``/``height``/``fps``/``pix_fmt`` describe the first video stream.
    """

    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    pix_fmt: str = ""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: env ``FFMPEG_BINARY``, else ``ffmpeg`` on PATH, else imageio-ffmpeg's."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str], *, binary: bool = False) -> subprocess.CompletedProcess:
    """Run ffmpeg with ``args`` (no stdin, errors only on stderr) and return the finished process."""
    return subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
        capture_output=True,
        text=not binary,
        check=False,
    )


def _last_lines(text: str | bytes, count: int = 5) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def probe(path: Path) -> MediaInfo:
    """Describe ``path`` from the container and codec fields PyAV reads (see ``probe``): no text parsing.

    Raises MediaError when the file is missing, is not media ffmpeg can open, or has no video stream.
    """
    from include.video_publishing.probe import ProbeError, probe_streams

    path = Path(path)
    try:
        info = probe_streams(path)
    except ProbeError as error:
        raise MediaError(str(error)) from None
    if info.video is None:
        raise MediaError(f"{path}: has no video stream")
    video = info.video
    return MediaInfo(
        duration=info.duration,
        width=video.width,
        height=video.height,
        fps=float(video.fps),
        has_audio=info.has_audio,
        pix_fmt=video.pix_fmt,
    )


def decoded_duration(path: Path) -> float:
    """Decode every stream of ``path`` and return the last decoded timestamp in seconds.

    Raises MediaError with ffmpeg's messages when decoding reports any error.
    """
    result = _run(
        ["-v", "error", "-i", str(path), "-map", "0", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    )
    if result.returncode != 0 or result.stderr.strip():
        raise MediaError(f"{path}: does not decode cleanly: {_last_lines(result.stderr)}")
    out_times = re.findall(r"^out_time_us=(\d+)$", result.stdout, re.MULTILINE)
    if not out_times:
        raise MediaError(f"{path}: decoded nothing")
    return int(out_times[-1]) / 1_000_000


def verify_output(path: Path, expected_duration: float, tolerance: float = 0.1) -> MediaInfo:
    """Check a rendered file before anyone sees it: right duration, audio present, decodes cleanly.

    Both the duration the container states and the duration actually decoded must be within
    ``tolerance`` seconds of ``expected_duration`` (a truncated upload keeps its header but decodes
    short). Raises MediaError saying which check failed.
    """
    path = Path(path)
    info = probe(path)
    if abs(info.duration - expected_duration) > tolerance:
        raise MediaError(
            f"{path}: duration {info.duration:.2f} s, expected {expected_duration:.2f} ± {tolerance:.2f} s"
        )
    if not info.has_audio:
        raise MediaError(f"{path}: has no audio stream")
    decoded = decoded_duration(path)
    if abs(decoded - expected_duration) > tolerance:
        raise MediaError(
            f"{path}: decodes to {decoded:.2f} s although its header says {info.duration:.2f} s "
            f"(expected {expected_duration:.2f} ± {tolerance:.2f} s)"
        )
    log.info(
        "verified %s: %.2f s, %dx%d @ %g fps", path.name, info.duration, info.width, info.height, info.fps
    )
    return info


def frame_luma(path: Path, at_seconds: float, region: tuple[int, int, int, int] | None = None) -> float:
    """Mean luma (0 black … 255 white, full range) of the frame shown at ``at_seconds``.

    ``region`` = (x, y, width, height) restricts the mean to that rectangle. Raises MediaError when
    no frame is decoded at that time (for example past the end).
    """
    filters = f"crop={region[2]}:{region[3]}:{region[0]}:{region[1]},format=gray" if region else "format=gray"
    seek = ["-ss", f"{at_seconds:.3f}", "-i", str(path)]
    result = _run(
        ["-v", "error", *seek, "-frames:v", "1", "-vf", filters, "-f", "rawvideo", "pipe:1"], binary=True
    )
    if result.returncode != 0 or not result.stdout:
        raise MediaError(f"{path}: no frame at {at_seconds:.3f} s: {_last_lines(result.stderr)}")
    return sum(result.stdout) / len(result.stdout)


def audio_rms_db(path: Path, start: float, duration: float) -> float:
    """Loudness of the audio between ``start`` and ``start + duration``, as RMS in dBFS (mono mix).

    Digital silence gives -120.0. Raises MediaError when the file has no audio in that window.
    """
    window = ["-ss", f"{start:.3f}", "-t", f"{duration:.3f}", "-i", str(path)]
    mono = ["-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "pipe:1"]
    result = _run(["-v", "error", *window, *mono], binary=True)
    if result.returncode != 0 or len(result.stdout) < 4:
        raise MediaError(
            f"{path}: no audio between {start:.3f} s and {start + duration:.3f} s: "
            f"{_last_lines(result.stderr)}"
        )
    samples = array("f")
    samples.frombytes(result.stdout[: len(result.stdout) // 4 * 4])
    if sys.byteorder != "little":
        samples.byteswap()
    mean_square = math.fsum(value * value for value in samples) / len(samples)
    if mean_square <= 1e-12:
        return -120.0
    return 10 * math.log10(mean_square)
