"""Probing and checking media files with the ffmpeg binary alone.

The static ffmpeg shipped by imageio-ffmpeg has no ffprobe, so everything here either parses the
stream summary ``ffmpeg -i`` prints or decodes with ffmpeg and inspects the decoded bytes. Nothing
heavy is imported at module level: DAG files may import this module at parse time.
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

_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #0:\d+.*?: (Video|Audio): (.*)$", re.MULTILINE)
_SIZE = re.compile(r", (\d+)x(\d+)(?=[ ,]|$)")
_FPS = re.compile(r", ([\d.]+) fps")
_TBR = re.compile(r", ([\d.]+) tbr")
_PIX_FMT = re.compile(r"^[^,]+, ([a-z0-9_]+)")


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
    """Describe ``path`` from the stream summary ``ffmpeg -i`` prints.

    Raises MediaError when the file is missing, is not media ffmpeg can open, or has no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    # Without an output ffmpeg prints the input summary, then exits 1 ("At least one output file").
    summary = _run(["-i", str(path)]).stderr
    if "Input #0" not in summary:
        raise MediaError(f"{path}: not a media file ffmpeg can read: {_last_lines(summary, 2)}")

    duration = 0.0
    match = _DURATION.search(summary)
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)

    video: str | None = None
    has_audio = False
    for kind, details in _STREAM.findall(summary):
        if kind == "Audio":
            has_audio = True
        elif video is None and "(attached pic)" not in details:
            video = details
    if video is None:
        raise MediaError(f"{path}: has no video stream")

    size = _SIZE.search(video)
    if not size:
        raise MediaError(f"{path}: not a media file ffmpeg can read (no frame size in {video!r})")
    rate = _FPS.search(video) or _TBR.search(video)
    pix_fmt = _PIX_FMT.search(_strip_codec(video))
    return MediaInfo(
        duration=duration,
        width=int(size.group(1)),
        height=int(size.group(2)),
        fps=float(rate.group(1)) if rate else 0.0,
        has_audio=has_audio,
        pix_fmt=pix_fmt.group(1) if pix_fmt else "",
    )


def _strip_codec(details: str) -> str:
    """Drop the parenthesised parts of a stream description, so ``h264 (High) (avc1 / 0x..), yuv420p(..)``
    reads ``h264, yuv420p``."""
    depth, kept = 0, []
    for char in details:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


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
