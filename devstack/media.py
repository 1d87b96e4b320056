"""Generated media for tests, the demo and benchmarks: talk recordings, a sting and a watermark.

Everything comes from ffmpeg's lavfi sources, so no binary media lives in the repository. The talk
is a moving test pattern with a steady tone (bright picture, loud audio everywhere, which makes
fades measurable); the sting deliberately differs from talks in size, frame rate, aspect ratio and
audio format so renders prove they convert it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from include.video_publishing.media import ffmpeg_exe


def _ffmpeg(path: Path, args: list[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args]
    container = "image2" if path.suffix == ".png" else "mp4"
    result = subprocess.run(
        [*command, "-f", container, str(partial)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"generating {path.name} failed: {result.stderr.strip()[-2000:]}")
    partial.replace(path)
    return path


def make_talk_video(path: Path, duration: float = 20.0, size: str = "640x360", fps: int = 25) -> Path:
    """A talk recording: ``testsrc2`` pattern (with a running clock) and a 440 Hz tone, H.264 + AAC stereo.

    Encoded like a camera file (ultrafast, keyframe every 10 s), so seeking into it costs what it
    would with a real recording.
    """
    return _ffmpeg(
        path,
        [
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={duration}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps * 10),
            "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest",
        ],
    )  # fmt: skip


def make_sting(path: Path, duration: float = 2.0, size: str = "320x240", fps: int = 30) -> Path:
    """An intro sting in a different format from talks: 4:3 SMPTE bars, 30 fps, 880 Hz mono at 44.1 kHz."""
    return _ffmpeg(
        path,
        [
            "-f", "lavfi", "-i", f"smptebars=size={size}:rate={fps}:duration={duration}",
            "-f", "lavfi", "-i", f"sine=frequency=880:sample_rate=44100:duration={duration}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-ac", "1", "-shortest",
        ],
    )  # fmt: skip


def make_watermark(path: Path, size: str = "120x40") -> Path:
    """A PNG with a real alpha channel: a translucent white plate with a transparent 4 px border."""
    width, height = (int(side) for side in size.split("x"))
    plate = f"color=c=white@0.7:size={width - 8}x{height - 8},format=rgba"
    return _ffmpeg(
        path,
        [
            "-f", "lavfi", "-i", f"{plate},pad={width}:{height}:4:4:color=black@0",
            "-frames:v", "1", "-c:v", "png", "-pix_fmt", "rgba",
        ],
    )  # fmt: skip
