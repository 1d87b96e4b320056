"""Local transcription speed: pocketsphinx's real-time factor on the committed test speech.

Real-time factor = wall time to transcribe / audio duration (below 1 is faster than real time). Measured
twice side by side in one run: the speech file itself (Opus), and the same speech inside a talk-like MP4
(H.264 + AAC 48 kHz stereo, as the library holds), so the cost of decoding and resampling a video's audio
shows as the ratio of the two. CPU seconds per audio second are printed beside the wall-clock factor: on a
shared machine the wall clock includes waiting for a core, the CPU time does not. Model loading is timed separately (once per worker process). Repetitions:
``BENCH_TRANSCRIBE_REPS`` (default 3), medians reported. Run it with ``nice`` on a shared machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, table
from include.video_publishing.media import ffmpeg_exe
from include.video_publishing.transcription.local import PocketsphinxEngine

SPEECH = REPO / "tests" / "video_publishing" / "media" / "speech_en.opus"


def _talk_video(folder: Path) -> Path:
    path = folder / "speech_talk.mp4"
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-i", str(SPEECH), "-shortest",
            "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-ar", "48000", "-ac", "2", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def main() -> None:
    reps = int(os.environ.get("BENCH_TRANSCRIBE_REPS", "3"))
    engine = PocketsphinxEngine()
    started = time.perf_counter()
    engine._load("en-US")
    load_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as scratch:
        inputs = {
            "speech (Opus, 16 kHz mono)": SPEECH,
            "talk MP4 (AAC 48 kHz stereo)": _talk_video(Path(scratch)),
        }
        walls: dict[str, list[float]] = {name: [] for name in inputs}
        cpus: dict[str, list[float]] = {name: [] for name in inputs}
        durations: dict[str, float] = {}
        words: dict[str, int] = {}
        for rep in range(reps):
            order = list(inputs.items()) if rep % 2 == 0 else list(reversed(inputs.items()))
            for name, path in order:
                started, cpu_started = time.perf_counter(), time.process_time()
                transcript = engine.transcribe(path)
                walls[name].append(time.perf_counter() - started)
                cpus[name].append(time.process_time() - cpu_started)
                durations[name] = transcript.duration or 0.0
                words[name] = len(transcript.words)
    rows = []
    factors = {}
    cpu_factors = {}
    for name in inputs:
        wall = statistics.median(walls[name])
        factors[name] = wall / durations[name]
        cpu_factor = cpu_factors[name] = statistics.median(cpus[name]) / durations[name]
        rows.append(
            [
                name,
                f"{durations[name]:.1f}",
                f"{wall:.2f}",
                f"{factors[name]:.2f}",
                f"{cpu_factor:.2f}",
                words[name],
            ]
        )
    print(f"model load: {load_seconds:.2f} s (once per worker process); {reps} repetitions, medians")
    print(table(rows, ["input", "audio s", "wall s", "real-time factor", "CPU s per audio s", "words"]))
    (opus, mp4), (opus_cpu, mp4_cpu) = factors.values(), cpu_factors.values()
    print(
        f"video-audio decode overhead (talk MP4 vs speech file): {mp4 / opus:.3f}x wall, {mp4_cpu / opus_cpu:.3f}x CPU"
    )
    print(f"an hour of talk ≈ {60 * mp4_cpu:.0f} CPU minutes of one worker core")
