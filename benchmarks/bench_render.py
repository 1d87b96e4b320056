"""Talk render: the project's render against a bare ffmpeg command, and deep cuts against early ones.

A 60 s clip is cut from a generated 10-minute 1280x720 25 fps recording (cached in
``.bench-cache/``; the first run spends about 35 s generating it).

1. ``render_talk`` vs the reference ffmpeg command typed out by hand with identical settings
   (input seek, ``-t``, fades, libx264 veryfast High/yuv420p, AAC 48 kHz), both at offset 8 min.
   The project's wall time includes probing the source and parsing progress. Target ≤ 1.05×.
2. ``render_talk`` at offset 8 min vs offset 0: input seeking makes the offset nearly free.
   Target ≤ 1.15×.

Verification (full decode of the output) is timed separately: it is a second pass over the
output, not part of the render. Measurements alternate within each repetition (order reversed
every other repetition) and the medians are compared. ``BENCH_RENDER_REPS`` sets the
repetitions (default 3).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import REPO, table
from devstack.media import make_talk_video
from include.video_publishing.media import ffmpeg_exe, verify_output
from include.video_publishing.render import RenderSpec, render_talk

SOURCE = REPO / ".bench-cache" / "talk-600s-1280x720-25fps.mp4"
SOURCE_SECONDS = 600.0
CLIP_SECONDS = 60.0
DEEP, EARLY = 480.0, 0.0
FADE = 3.0
REFERENCE_TARGET = 1.05
OFFSET_TARGET = 1.15


def source() -> Path:
    """The cached 10-minute 720p recording, generated on first use."""
    if not SOURCE.is_file():
        print(f"generating {SOURCE.relative_to(REPO)} (once)…", flush=True)
        make_talk_video(SOURCE, duration=SOURCE_SECONDS, size="1280x720", fps=25)
    return SOURCE


def reference_command(path: Path, output: Path, start: float) -> list[str]:
    """What a person would type: the same cut and encoder settings, without the project's code."""
    out = CLIP_SECONDS - FADE
    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error",
        "-ss", f"{start:.3f}", "-t", f"{CLIP_SECONDS:.3f}", "-i", str(path),
        "-vf", f"fade=t=in:st=0:d={FADE:g},fade=t=out:st={out:.3f}:d={FADE:g},format=yuv420p",
        "-af", "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,"
        f"afade=t=in:st=0:d={FADE:g},afade=t=out:st={out:.3f}:d={FADE:g}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-g", "12", "-bf", "2", "-flags", "+cgop",
        "-c:a", "aac", "-profile:a", "aac_low", "-b:a", "192k", "-ar", "48000", "-ac", "2",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ]  # fmt: skip


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    path = source()
    reps = int(os.environ.get("BENCH_RENDER_REPS", "3"))
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch:
        out = Path(scratch)

        def project(start: float) -> Callable[[], object]:
            spec = RenderSpec(start, start + CLIP_SECONDS, FADE)
            return lambda: render_talk(
                path, out / f"project-{start:g}.mp4", spec, progress=_quiet, verify=False
            )

        def reference(start: float) -> Callable[[], object]:
            command = reference_command(path, out / f"reference-{start:g}.mp4", start)
            return lambda: subprocess.run(command, check=True)

        cases = {
            "reference @ 8 min": reference(DEEP),
            "render_talk @ 8 min": project(DEEP),
            "render_talk @ 0 min": project(EARLY),
        }
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        for rep in range(reps):
            order = list(cases) if rep % 2 == 0 else list(reversed(cases))
            for name in order:
                seconds[name].append(timed(cases[name]))
                print(f"  rep {rep + 1}/{reps} {name}: {seconds[name][-1]:.2f} s", flush=True)
        verify_seconds = timed(lambda: verify_output(out / f"project-{DEEP:g}.mp4", CLIP_SECONDS))

    median = {name: statistics.median(values) for name, values in seconds.items()}
    rows = [
        [
            name,
            f"{median[name]:.2f}",
            " ".join(f"{v:.2f}" for v in seconds[name]),
            f"{CLIP_SECONDS / median[name]:.2f}x",
        ]
        for name in cases
    ]
    rows.append(["verify_output (full decode)", f"{verify_seconds:.2f}", "", ""])
    print(table(rows, ["case (60 s clip of 10 min 1280x720)", "median s", "runs s", "speed"]))
    reference_ratio = median["render_talk @ 8 min"] / median["reference @ 8 min"]
    offset_ratio = median["render_talk @ 8 min"] / median["render_talk @ 0 min"]
    print(
        table(
            [
                ["render_talk / reference ffmpeg", f"{reference_ratio:.3f}", f"≤ {REFERENCE_TARGET}",
                 _verdict(reference_ratio, REFERENCE_TARGET)],
                ["offset 8 min / offset 0", f"{offset_ratio:.3f}", f"≤ {OFFSET_TARGET}",
                 _verdict(offset_ratio, OFFSET_TARGET)],
            ],
            ["ratio", "value", "target", "verdict"],
        )
    )  # fmt: skip


def _quiet(done: float, total: float, speed: float) -> None:
    """Progress sink for timing runs: the reference command logs nothing either."""


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


if __name__ == "__main__":
    main()
