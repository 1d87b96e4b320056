"""Generated media for tests, the demo and benchmarks: talk recordings, a sting and a watermark.

Everything comes from ffmpeg's lavfi sources, so no binary media lives in the repository. The talk
is a moving test pattern with a steady tone (bright picture, loud audio everywhere, which makes
fades measurable); the sting deliberately differs from talks in size, frame rate, aspect ratio and
audio format so renders prove they convert it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np

from include.video_publishing.media import ffmpeg_exe

# Numbered talks: a band on top of the picture, 20 blocks wide, says the frame number in binary.
# Block 0 is always white and block 1 always black (references that survive fades and
# compression); blocks 2… are bits 0…17 of the frame number. Drawn at 320x180, scaled up with
# nearest-neighbour, so a block is 16x24 source pixels (96x144 at 1080p).
CODE_WIDTH, CODE_HEIGHT, CODE_BLOCKS, CODE_BAND = 320, 180, 20, 24
BEEP_SECONDS, BEEP_HZ = 0.05, 1000


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


def _numbered_picture(size: str, fps: int, duration: float) -> str:
    """lavfi graph: a moving pattern with the frame-number band, scaled to ``size``."""
    block = CODE_WIDTH // CODE_BLOCKS
    bit = f"mod(floor(N/pow(2\\,floor(X/{block})-2))\\,2)"
    luma = (
        f"if(lt(Y\\,{CODE_BAND})\\, if(lt(X\\,{block})\\,235\\, if(lt(X\\,{2 * block})\\,16\\,"
        f" if({bit}\\,235\\,16)))\\, lum(X\\,Y))"
    )
    chroma = f"if(lt(Y\\,{CODE_BAND // 2})\\,128\\,{{plane}}(X\\,Y))"
    width, height = size.split("x")
    return (
        f"testsrc2=size={CODE_WIDTH}x{CODE_HEIGHT}:rate={fps}:duration={duration},format=yuv420p,"
        f"geq=lum='{luma}':cb='{chroma.format(plane='cb')}':cr='{chroma.format(plane='cr')}',"
        f"scale={width}:{height}:flags=neighbor,setsar=1"
    )


def make_numbered_talk(
    path: Path,
    duration: float = 20.0,
    size: str = "640x360",
    fps: int = 25,
    *,
    gop_seconds: float = 5.0,
    bframes: int = 2,
    codec: str = "libx264",
    preset: str = "veryfast",
    crf: int = 23,
    vfr: bool = False,
    open_gop: bool = False,
) -> Path:
    """A talk whose every frame shows its own number (``frame_numbers`` reads it back after encoding).

    Audio: silence with a 1 kHz beep of 50 ms starting at every whole second, so at frame
    ``k * fps``: a render that shifts sound against picture moves the beep away from its frame.
    Colour properties are written explicitly (BT.709, limited range) so a re-encode that loses them
    is visible. ``vfr=True`` drops every seventh frame and keeps the gaps (variable frame rate);
    ``open_gop=True`` lets B-frames before a keyframe refer across it (no IDR cut points after the first).
    """
    picture = _numbered_picture(size, fps, duration)
    if vfr:
        picture += ",select='not(eq(mod(n\\,7)\\,3))'"
    beep = f"0.5*sin(2*PI*{BEEP_HZ}*t)*lt(mod(t\\,1)\\,{BEEP_SECONDS})"
    video = ["-c:v", codec, "-pix_fmt", "yuv420p"]
    if codec == "libx264":
        video += [
            "-preset",
            preset,
            "-crf",
            str(crf),
            "-bf",
            str(bframes),
            "-g",
            str(round(fps * gop_seconds)),
        ]
        video += ["-keyint_min", str(round(fps * gop_seconds)), "-sc_threshold", "0"]
        if open_gop:
            video += ["-x264-params", "open-gop=1"]
    colour = [
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-colorspace",
        "bt709",
        "-color_range",
        "tv",
    ]
    return _ffmpeg(
        path,
        [
            "-f", "lavfi", "-i", picture,
            "-f", "lavfi", "-i", f"aevalsrc='{beep}':s=48000:c=stereo:d={duration}",
            *video, *colour, *(["-fps_mode", "vfr"] if vfr else []),
            "-c:a", "aac", "-b:a", "128k", "-shortest",
        ],
    )  # fmt: skip


def read_frame_number(luma: np.ndarray) -> int | None:
    """The number a numbered talk's frame shows (a 2-D luma array), or None when it is too dark to read.

    Each bit is judged against the white and black reference blocks of the same frame, so numbers
    stay readable well into a fade.
    """
    height, width = luma.shape
    row = int(CODE_BAND / 2 / CODE_HEIGHT * height)
    half_h = max(1, int(CODE_BAND / 4 / CODE_HEIGHT * height))
    block = width / CODE_BLOCKS
    means = [
        float(luma[row - half_h : row + half_h, int((k + 0.3) * block) : int((k + 0.7) * block)].mean())
        for k in range(CODE_BLOCKS)
    ]
    white, black = means[0], means[1]
    if white - black < 12:
        return None
    middle = (white + black) / 2
    return sum(1 << (k - 2) for k in range(2, CODE_BLOCKS) if means[k] > middle)


def frame_numbers(path: Path) -> list[tuple[float, int | None]]:
    """(presentation time in seconds, number shown) for every decoded video frame, in display order."""
    found: list[tuple[float, int | None]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            plane = frame.planes[0]
            rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
            found.append((float(frame.time), read_frame_number(rows[: frame.height, : frame.width])))
    return found


def beep_onsets(path: Path, threshold: float = 0.05) -> list[float]:
    """Times (s) where a beep starts in the first audio stream: silence, then a sample above ``threshold``."""
    onsets: list[float] = []
    last_loud = -1.0
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples = frame.to_ndarray()
            mono = np.abs(samples).max(axis=0) if samples.ndim == 2 else np.abs(samples)
            loud = np.flatnonzero(mono > threshold)
            if loud.size == 0:
                continue
            times = float(frame.time) + loud / frame.sample_rate
            gaps = np.diff(np.concatenate(([last_loud], times)))
            onsets.extend(float(t) for t in times[gaps > 0.2])
            last_loud = float(times[-1])
    return onsets
