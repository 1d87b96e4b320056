"""Talk render: smart vs full re-encode, smart vs its physical floor, chunked vs single task, S3 bytes.

Sources (generated once, cached in ``.bench-cache/``): a 60 s 1920x1080 30 fps numbered talk
(``devstack.media.make_numbered_talk``, x264 ultrafast with 2 B-frames, 2 s closed GOPs — a camera's
structure at a synthetic picture's price), stream-copied end to end into a 20-minute and a 2-hour
recording. The cut is 15 minutes (``BENCH_RENDER_CUT_MINUTES``) with 3 s fades.

1. ``render_smart`` vs today's full re-encode (``render_talk``, libx264 veryfast, both with the
   machine's 2 threads). Target ≥ 20×.
2. ``render_smart`` vs its physical floor: a bare ``ffmpeg -c copy`` of the cut (with ``+faststart``,
   which the product needs too) plus bare encodes of just the re-encoded head, tail and the audio,
   one after another. Target ≤ 1.3×. (The smart render runs its three encodes at the same time.)
3. Chunked full render (``chunked_render``: 5-minute chunks rendered one after another with the same
   2 threads, audio once, join) vs the single-task full render. Target overhead ≤ 1.1×. On separate
   hosts the chunks run in parallel: with n workers the wall time is about (single / n) × overhead
   + the join.
4. Bytes read from S3 (moto) for the 15-minute cut of the 2-hour recording (``fetch_cut``) vs the
   object's size and the cut's own bytes (every stream's samples inside the cut, from the index).
   Target ≤ 1.2 × cut bytes + index.

Renders skip verification (a second, full decode pass of the output, which every path pays).
Run with ``nice``; on a shared machine set ``BENCH_RENDER_FULL_MINUTES``/``BENCH_RENDER_CHUNK_SECONDS``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

from benchmarks.common import REPO, table
from devstack.media import make_numbered_talk
from devstack.net import free_port
from include.video_publishing.chunked_render import (
    cut_plan,
    encode_cut_audio,
    join_chunks,
    plan_chunks,
    render_chunk,
)
from include.video_publishing.media import ffmpeg_exe
from include.video_publishing.render import RenderSpec, render_talk
from include.video_publishing.smart_render import fade_filter, piece_command, plan_render, render_smart
from include.video_publishing.source_range import fetch_cut

CACHE = REPO / ".bench-cache"
SEGMENT = CACHE / "numbered-60s-1920x1080-30fps.mp4"
FPS = 30
THREADS = 2
CUT_MINUTES = float(os.environ.get("BENCH_RENDER_CUT_MINUTES", "15"))
# The full re-encodes (single task and chunked) take real time or longer; on a shared machine they can
# run on a shorter cut starting at the same point, and the 15-minute figure is scaled from it (printed
# as such). Default: the same cut.
FULL_MINUTES = float(os.environ.get("BENCH_RENDER_FULL_MINUTES", str(CUT_MINUTES)))
CUT_START = 120.0
LONG_CUT_START = 3600.0
CHUNK_SECONDS = float(os.environ.get("BENCH_RENDER_CHUNK_SECONDS", "300"))
FADE = 3.0
REPS = int(os.environ.get("BENCH_RENDER_REPS", "3"))
FULL_REPS = int(os.environ.get("BENCH_RENDER_FULL_REPS", "2"))


def recording(minutes: int) -> Path:
    """A ``minutes`` long 1080p30 recording: the cached 60 s segment stream-copied end to end."""
    CACHE.mkdir(exist_ok=True)
    if not SEGMENT.is_file():
        print(f"generating {SEGMENT.relative_to(REPO)} (once)…", flush=True)
        make_numbered_talk(
            SEGMENT, duration=60.0, size="1920x1080", fps=FPS, gop_seconds=2.0, preset="ultrafast", crf=30
        )
    path = CACHE / f"recording-{minutes}min-1920x1080-30fps.mp4"
    if not path.is_file():
        print(f"generating {path.relative_to(REPO)} (once, stream copy)…", flush=True)
        listing = CACHE / "segments.txt"
        listing.write_text(f"file '{SEGMENT.name}'\n" * minutes)
        partial = path.with_name(path.name + ".part")
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c", "copy", "-f", "mp4", str(partial)],
            check=True,
        )  # fmt: skip
        partial.replace(path)
    return path


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def floor_seconds(source: Path, spec: RenderSpec, out: Path) -> dict[str, float]:
    """Bare ffmpeg: copy of the cut, encodes of exactly the head and tail frames, the audio."""
    plan = plan_render(source, spec)
    ff = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    copy = [*ff, "-ss", f"{spec.start}", "-i", str(source), "-t", f"{spec.duration}", "-c", "copy",
            "-movflags", "+faststart", "-f", "mp4", str(out / "floor-copy.mp4")]  # fmt: skip
    audio = [*ff, "-ss", f"{spec.start}", "-t", f"{spec.duration}", "-i", str(source), "-vn",
             "-af", f"afade=t=in:d={FADE},afade=t=out:st={spec.duration - FADE}:d={FADE}",
             "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2", "-f", "mp4", str(out / "floor-a.m4a")]  # fmt: skip
    head = piece_command(source, out / "floor-head.mp4", plan, first_pts=plan.first_pts, frames=plan.head_frames,
                         video_filter=fade_filter(1, None, plan.fade_frames), threads=THREADS)  # fmt: skip
    tail = piece_command(source, out / "floor-tail.mp4", plan, first_pts=plan.tail_pts, frames=plan.tail_frames,
                         video_filter=fade_filter(0, plan.tail_frames - plan.fade_frames, plan.fade_frames),
                         threads=THREADS)  # fmt: skip
    return {
        name: timed(lambda command=command: subprocess.run(command, check=True, capture_output=True))
        for name, command in (("copy", copy), ("head", head), ("tail", tail), ("audio", audio))
    }


def chunked_seconds(source: Path, spec: RenderSpec, out: Path) -> tuple[float, int]:
    """The chunked full render done by one host: chunks one after another, audio, join."""
    started = time.perf_counter()
    chunks = plan_chunks(source, spec, CHUNK_SECONDS)
    files = [
        (render_chunk(source, out / f"chunk-{c.index}.mp4", spec, c, threads=THREADS), c.frames)
        for c in chunks
    ]
    audio = encode_cut_audio(source, out / "chunk-audio.m4a", spec)
    join_chunks(files, audio, out / "chunked.mp4", cut_plan(source, spec).params)
    return time.perf_counter() - started, len(chunks)


def cut_bytes(path: Path, start: float, end: float) -> tuple[int, int]:
    """(bytes of every stream's samples inside [start, end), bytes of the moov index)."""
    total = 0
    with av.open(str(path)) as container:
        for stream in container.streams:
            tb = Fraction(stream.time_base)
            total += sum(e.size for e in stream.index_entries if start <= Fraction(e.timestamp) * tb < end)
    data = path.open("rb")
    offset, size = 0, path.stat().st_size
    index = 0
    while offset < size:
        data.seek(offset)
        header = data.read(16)
        box = int.from_bytes(header[:4], "big")
        box = int.from_bytes(header[8:16], "big") if box == 1 else box or size - offset
        if header[4:8] == b"moov":
            index = box
        offset += box
    data.close()
    return total, index


def s3_bytes(path: Path, start: float, end: float) -> dict[str, int]:
    """Bytes read through ``fetch_cut`` from a moto server holding ``path``."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106 - moto
        )  # fmt: skip
        client.create_bucket(Bucket="bench-raw")
        client.upload_file(str(path), "bench-raw", "session.mp4")
        with tempfile.TemporaryDirectory(prefix="bench-s3-") as scratch:
            copy = fetch_cut(
                client, "bench-raw", "session.mp4", Path(scratch) / "s.mp4", start=start, end=end
            )
    finally:
        server.stop()
    own, index = cut_bytes(path, start, end)
    return {
        "object": copy.object_size,
        "read": copy.bytes_read,
        "cut": own,
        "index": index,
        "requests": copy.requests,
    }


def main() -> None:
    twenty, two_hours = recording(20), recording(120)
    cut = CUT_MINUTES * 60
    spec = RenderSpec(CUT_START, CUT_START + cut, FADE)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch:
        out = Path(scratch)
        plan = plan_render(twenty, spec)
        print(f"plan: {plan.path} — {plan.reason}", flush=True)
        full_spec = RenderSpec(CUT_START, CUT_START + FULL_MINUTES * 60, FADE)
        runs: dict[str, list] = {"smart": [], "floor": [], "full": [], "chunked": []}
        # side by side: alternate the cases, reversing the order every other repetition; medians compared
        for rep in range(REPS):
            pairs = [("smart", "floor"), ("full", "chunked")] if rep < FULL_REPS else [("smart", "floor")]
            for pair in pairs:
                for name in pair if rep % 2 == 0 else reversed(pair):
                    if name == "smart":
                        started = time.perf_counter()
                        parts = render_smart(
                            twenty, out / "smart.mp4", spec, plan, threads=THREADS, verify=False
                        )
                        runs[name].append((time.perf_counter() - started, parts.timings))
                    elif name == "floor":
                        runs[name].append(floor_seconds(twenty, spec, out))
                    elif name == "full":
                        runs[name].append(
                            timed(
                                lambda: render_talk(
                                    twenty, out / "full.mp4", full_spec, threads=THREADS, verify=False
                                )
                            )
                        )
                    else:
                        runs[name].append(chunked_seconds(twenty, full_spec, out))
                    print(f"  rep {rep + 1} {name}: {runs[name][-1]}", flush=True)
        smart_runs = sorted(runs["smart"], key=lambda r: r[0])
        smart, parts = smart_runs[len(smart_runs) // 2]
        floor = sorted(runs["floor"], key=lambda f: sum(f.values()))[len(runs["floor"]) // 2]
        full_measured = statistics.median(runs["full"])
        chunked_measured = statistics.median(r[0] for r in runs["chunked"])
        chunks = runs["chunked"][0][1]
    scale = CUT_MINUTES / FULL_MINUTES
    full, chunked = full_measured * scale, chunked_measured * scale
    scaled = "" if scale == 1 else f" (measured on {FULL_MINUTES:g} min: {full_measured:.1f} s, × {scale:g})"
    reads = s3_bytes(two_hours, LONG_CUT_START, LONG_CUT_START + cut)

    floor_total = sum(floor.values())
    minutes = f"{CUT_MINUTES:g}-min cut of 20-min 1080p30"
    print(
        table(
            [
                [f"smart render ({plan.head_frames + plan.tail_frames} frames encoded, {plan.middle_frames} copied)",
                 f"{smart:.1f}", f"{cut / smart:.0f}x"],
                ["  smart: head, tail and audio encodes (run together)",
                 f"{max(parts['head'], parts['tail'], parts['audio']):.1f}", ""],
                ["  smart: join (copy of the middle, mux)", f"{parts['join']:.1f}", ""],
                ["  floor: ffmpeg -c copy of the cut", f"{floor['copy']:.1f}", ""],
                ["  floor: bare encode of the head", f"{floor['head']:.1f}", ""],
                ["  floor: bare encode of the tail", f"{floor['tail']:.1f}", ""],
                ["  floor: bare encode of the audio", f"{floor['audio']:.1f}", ""],
                ["floor total", f"{floor_total:.1f}", f"{cut / floor_total:.0f}x"],
                [f"full re-encode, one task (render_talk){scaled}", f"{full:.1f}", f"{cut / full:.2f}x"],
                [f"chunked full re-encode ({chunks} chunks in a row + join)"
                 + ("" if scale == 1 else f" (measured {chunked_measured:.1f} s, × {scale:g})"),
                 f"{chunked:.1f}", f"{cut / chunked:.2f}x"],
            ],
            [minutes, "wall s", "speed"],
        )
    )  # fmt: skip
    bound = 1.2 * reads["cut"] + reads["index"]
    print(
        table(
            [
                ["object (2-hour recording)", f"{reads['object'] / 1e6:.1f}"],
                [f"cut's own samples ({CUT_MINUTES:g} min)", f"{reads['cut'] / 1e6:.1f}"],
                ["index (moov)", f"{reads['index'] / 1e6:.2f}"],
                [f"read by fetch_cut ({reads['requests']} GETs)", f"{reads['read'] / 1e6:.1f}"],
            ],
            ["S3 bytes", "MB"],
        )
    )  # fmt: skip
    print(
        table(
            [
                ["full / smart", f"{full / smart:.1f}", "≥ 20", _verdict(full / smart >= 20)],
                ["smart / floor", f"{smart / floor_total:.2f}", "≤ 1.3", _verdict(smart / floor_total <= 1.3)],
                ["chunked / single task", f"{chunked / full:.3f}", "≤ 1.1", _verdict(chunked / full <= 1.1)],
                ["read / (1.2 × cut + index)", f"{reads['read'] / bound:.3f}", "≤ 1", _verdict(reads["read"] <= bound)],
                ["read / object", f"{reads['read'] / reads['object']:.3f}", "", ""],
            ],
            ["ratio", "value", "target", "verdict"],
        )
    )  # fmt: skip
    print(
        f"expected on {chunks} separate hosts (chunks in parallel): about {chunked / chunks:.0f} s "
        f"(chunked {chunked:.0f} s / {chunks}), i.e. {full / (chunked / chunks):.1f}x faster than one task"
    )


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    main()
