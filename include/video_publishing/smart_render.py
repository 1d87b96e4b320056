"""Smart render: re-encode only the pictures that change, copy the rest, join them into one MP4.

A talk's picture changes only in the fades (and under a watermark). When nothing else changes it,
the cut is built from pieces that share the source's codec parameters:

* **head** — cut start → the first clean keyframe at or after the end of the fade-in, re-encoded
  with the fade-in;
* **middle** — that keyframe → the last clean keyframe at or before the start of the fade-out,
  copied packet for packet from the source (no decode, no encode);
* **tail** — that keyframe → cut end, re-encoded with the fade-out;
* the **sting**, when configured, encoded once to the same parameters (cached by ``talk_render``) and
  joined in front;
* the **audio** of the whole cut (and the sting) re-encoded with its fades in one AAC stream.

Frames are chosen by timestamp, never by rounding seconds: the cut is the source's frames with
``start <= t < end`` (``t`` from the container start), and each re-encoded piece is asked for an
exact frame count. The audio starts at the first frame's time and lasts exactly that many frames.

**Parameter sets.** The re-encoded pieces carry libx264's SPS/PPS, the middle carries the source
encoder's. An ``avc1`` sample entry holds one set that must stay valid for the whole track
(ISO/IEC 14496-15); ``avc3`` lets parameter sets travel in-band and change at any IDR. The joined
track is therefore written as ``avc3`` and every IDR of every piece carries its own SPS and PPS in
front of the slice data. Chromium, FFmpeg and the YouTube ingest decode this; the browser test in
``tests/video_publishing/test_smart_render.py`` plays, seeks into the copied middle and ends.

A **clean keyframe** is an IDR whose GOP has no leading pictures (nothing after it in decode order
shows before it), so cutting there loses no reference. When the source cannot be joined safely
(not H.264 in MP4/MKV with an avcC record, not yuv420p, interlaced, variable frame rate, a profile
libx264 cannot write, or no clean keyframe between the fades), ``plan_render`` says so in
``reason`` and the caller re-encodes everything (``render.render_talk`` or chunks).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from include.video_publishing.media import MediaError, ffmpeg_exe, verify_output
from include.video_publishing.probe import (
    NAL_SPS,
    X264_PROFILES,
    PacketInfo,
    ProbeError,
    StreamsInfo,
    VideoParams,
    avcc_parameter_sets,
    nal_types,
    open_media,
    probe_streams,
    scan_packets,
)
from include.video_publishing.render import (
    AUDIO_BITRATE,
    AUDIO_RATE,
    RenderError,
    RenderSpec,
    _ProgressLogger,
    run_ffmpeg,
)

log = logging.getLogger(__name__)

PIECE_PRESET = "veryfast"
PIECE_CRF = 18  # the pieces sit next to the camera's own picture: a little better than the full render
JOINED_TAG = "avc3"
SMART, FULL, CHUNKED = "smart", "full", "chunked"


@dataclass(frozen=True)
class RenderPlan:
    """Which path a cut takes and why; for the smart path, where the pieces begin (source pts)."""

    path: str
    reason: str
    params: VideoParams | None = None
    start_time: Fraction = Fraction(0)  # container start, seconds
    frames: int = 0  # frames in the cut
    first_pts: int = 0  # pts of the cut's first frame
    middle_pts: int = 0  # first clean keyframe after the fade-in (smart)
    tail_pts: int = 0  # last clean keyframe before the fade-out (smart)
    head_frames: int = 0
    middle_frames: int = 0
    tail_frames: int = 0
    fade_frames: int = 0
    has_audio: bool = True
    keyframes: tuple[int, ...] = ()  # clean keyframe pts inside the cut (chunk boundaries)

    def seconds(self, pts: int) -> float:
        """Seconds from the container start of a source pts."""
        return float(pts * self.params.time_base - self.start_time)

    @property
    def duration(self) -> float:
        """Length of the cut in seconds (frames × frame duration)."""
        return float(self.frames / self.params.fps) if self.params else 0.0


@dataclass(frozen=True)
class Piece:
    """A run of video packets to join: a whole file, or the packets of ``path`` from ``first_pts``
    (a clean keyframe) up to, not including, the keyframe ``stop_pts``."""

    path: Path
    frames: int
    first_pts: int | None = None
    stop_pts: int | None = None


@dataclass
class JoinStats:
    """What a join wrote: frames per piece and packet bytes copied."""

    frames: list[int] = field(default_factory=list)
    bytes_copied: int = 0


def full_plan(reason: str, info: StreamsInfo | None = None) -> RenderPlan:
    """A plan for the full re-encode, with the reason the smart path was not taken."""
    return RenderPlan(path=FULL, reason=reason, params=info.video if info else None)


def plan_render(source: Path, spec: RenderSpec) -> RenderPlan:
    """Decide smart vs full for ``spec`` of ``source``; never raises for a source it cannot join.

    Raises ProbeError (a ValueError) only when the source is not media at all.
    """
    info = probe_streams(source)
    params = info.video
    if params is None:
        raise ProbeError(f"{source}: has no video stream")
    if spec.watermark is not None:
        return full_plan("a watermark is configured: every frame changes", info)
    refusal = _unjoinable(info)
    if refusal:
        return full_plan(refusal, info)
    packets = scan_packets(source, spec.start, spec.end, length_size=avcc_parameter_sets(info.avcc)[0])
    return plan_from_packets(packets, spec, info)


def _unjoinable(info: StreamsInfo) -> str | None:
    """Why the source's video cannot be joined to re-encoded pieces, or None when it can."""
    params = info.video
    checks = (
        (params.codec != "h264", f"video codec is {params.codec}, not H.264"),
        (params.pix_fmt != "yuv420p", f"pixel format is {params.pix_fmt}, not yuv420p"),
        (
            params.profile not in X264_PROFILES,
            f"H.264 profile {params.profile!r} is not one libx264 writes at 8-bit 4:2:0",
        ),
        (not params.progressive, "the video is interlaced"),
        (
            not params.frame_ticks,
            f"frame rate {params.fps} does not divide time base {params.time_base} (variable frame rate)",
        ),
        (
            not info.avcc.startswith(b"\x01"),
            "H.264 without an avcC record (Annex B stream): parameter sets cannot be carried over",
        ),
    )
    return next((reason for failed, reason in checks if failed), None)


def plan_from_packets(packets: list[PacketInfo], spec: RenderSpec, info: StreamsInfo) -> RenderPlan:
    """The plan for ``spec`` from the source's video packets around the cut (see ``scan_packets``)."""
    params = info.video
    tb, ticks = params.time_base, params.frame_ticks
    start_time = Fraction(info.start_time).limit_denominator(1_000_000)
    ordered = sorted(p.pts for p in packets)
    gaps = {b - a for a, b in itertools.pairwise(ordered)}
    if gaps - {ticks}:
        return full_plan(f"variable frame rate: frame intervals {sorted(gaps)[:4]} ≠ {ticks} ticks", info)
    start_ts, end_ts = (Fraction(spec.start) + start_time) / tb, (Fraction(spec.end) + start_time) / tb
    cut = [pts for pts in ordered if start_ts <= pts < end_ts]
    if not cut:
        return full_plan("no video frame inside the cut", info)
    fade_frames = round(spec.fade_seconds * params.fps)
    base = {
        "params": params,
        "start_time": start_time,
        "frames": len(cut),
        "first_pts": cut[0],
        "fade_frames": fade_frames,
        "has_audio": info.has_audio,
    }
    clean = _clean_keyframes(packets)
    inside = tuple(pts for pts in clean if cut[0] <= pts <= cut[-1])
    fade_in_end = cut[min(fade_frames, len(cut) - 1)]
    # no fade-out (fade_seconds 0): nothing to re-encode at the end but the last GOP, not cut[len(cut)]
    fade_out_start = cut[max(len(cut) - fade_frames, 0)] if fade_frames > 0 else cut[-1]
    middle = next((pts for pts in inside if pts >= fade_in_end), None)
    tail = next((pts for pts in reversed(inside) if pts <= fade_out_start), None)
    if middle is None or tail is None or middle >= tail:
        keys = [p for p in packets if p.keyframe and cut[0] <= p.pts <= cut[-1]]
        why = (
            "open GOP: keyframes between the fades are not clean IDR cut points"
            if len(keys) > len(inside)
            else "no two keyframes between the fades (GOP too long for this cut)"
        )
        return RenderPlan(path=FULL, reason=why, keyframes=inside, **base)
    head_frames = sum(1 for pts in cut if pts < middle)
    tail_frames = sum(1 for pts in cut if pts >= tail)
    return RenderPlan(
        path=SMART,
        reason=(
            f"H.264 {params.profile} {params.width}x{params.height} yuv420p at {params.fps} fps, "
            f"closed GOPs: re-encode {head_frames + tail_frames} of {len(cut)} frames"
        ),
        middle_pts=middle,
        tail_pts=tail,
        head_frames=head_frames,
        middle_frames=len(cut) - head_frames - tail_frames,
        tail_frames=tail_frames,
        keyframes=inside,
        **base,
    )


def _clean_keyframes(packets: list[PacketInfo]) -> list[int]:
    """Pts of IDR packets that no later packet (decode order) is shown before: safe cut points."""
    clean: list[int] = []
    shown_later = None
    for packet in reversed(packets):
        if packet.idr and (shown_later is None or shown_later >= packet.pts):
            clean.append(packet.pts)
        shown_later = packet.pts if shown_later is None else min(shown_later, packet.pts)
    return sorted(clean)


# --------------------------------------------------------------------------------------- commands


def _seek(plan: RenderPlan, pts: int) -> str:
    """Input ``-ss`` that makes ffmpeg's first kept frame the one at ``pts``: half a frame before it."""
    return f"{plan.seconds(pts) - float(1 / plan.params.fps) / 2:.6f}"


def piece_command(
    source: Path,
    output: Path,
    plan: RenderPlan,
    *,
    first_pts: int,
    frames: int,
    video_filter: str,
    encoder: list[str] | None = None,
    threads: int | None = None,
    extra_inputs: list[str] | None = None,
) -> list[str]:
    """ffmpeg command re-encoding ``frames`` frames from ``first_pts`` (video only) to an MP4.

    ``encoder`` defaults to the source's own parameters (``VideoParams.x264_args``) with one GOP per
    piece. ``video_filter`` is a ``-filter_complex`` graph reading ``[0:v]`` and writing ``[v]``.
    """
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    command += ["-ss", _seek(plan, first_pts), "-i", str(source), *(extra_inputs or [])]
    command += ["-filter_complex", video_filter, "-map", "[v]", "-frames:v", str(frames)]
    if encoder is None:
        encoder = plan.params.x264_args()
        encoder += ["-preset", PIECE_PRESET, "-crf", str(PIECE_CRF), "-g", str(frames + 1)]
    command += encoder
    if threads:
        command += ["-threads", str(threads)]
    command += ["-progress", "pipe:1", "-nostats", "-f", "mp4", str(output)]
    return command


def fade_filter(fade_in: int, fade_out_start: int | None, fade_frames: int, pix_fmt: str = "yuv420p") -> str:
    """Frame-counted fades for one piece: in over its first frames, out from ``fade_out_start``."""
    steps = []
    if fade_frames and fade_in:
        steps.append(f"fade=t=in:s=0:n={fade_frames}")
    if fade_frames and fade_out_start is not None:
        steps.append(f"fade=t=out:s={fade_out_start}:n={fade_frames}")
    steps.append(f"format={pix_fmt}")
    return f"[0:v]{','.join(steps)}[v]"


def audio_command(
    source: Path,
    output: Path,
    *,
    start: float,
    duration: float,
    has_audio: bool,
    fade_seconds: float,
    sting: Path | None = None,
    sting_seconds: float = 0.0,
) -> list[str]:
    """ffmpeg command for the cut's whole audio (and the sting's), faded, as one AAC-LC 48 kHz stereo track.

    Starts at ``start`` (the first frame's time) and lasts exactly ``duration`` (the cut's frames),
    padding with silence when the source's audio is shorter; a source without audio gets silence.
    """
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    if has_audio:
        command += ["-ss", f"{start:.6f}", "-t", f"{duration:.6f}", "-i", str(source)]
    fmt = f"aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    talk = (
        f"[0:a:0]{fmt},apad" if has_audio else f"anullsrc=r={AUDIO_RATE}:cl=stereo,aformat=sample_fmts=fltp"
    )
    fades = ""
    if fade_seconds > 0:
        fades = (
            f",afade=t=in:st=0:d={fade_seconds:g}"
            f",afade=t=out:st={duration - fade_seconds:.6f}:d={fade_seconds:g}"
        )
    chains = [f"{talk},atrim=end={duration:.6f}{fades}[{'ta' if sting else 'a'}]"]
    if sting is not None:
        command += ["-i", str(sting)]
        chains.append(f"[{1 if has_audio else 0}:a:0]{fmt},apad,atrim=end={sting_seconds:.6f}[sa]")
        chains.append("[sa][ta]concat=n=2:v=0:a=1[a]")
    command += ["-filter_complex", ";".join(chains), "-map", "[a]"]
    command += ["-c:a", "aac", "-profile:a", "aac_low", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE)]
    command += ["-ac", "2", "-progress", "pipe:1", "-nostats", "-f", "mp4", str(output)]
    return command


def sting_command(sting: Path, output: Path, params: VideoParams, *, has_audio: bool) -> list[str]:
    """ffmpeg command encoding a sting to ``params`` (frame, SAR, rate, profile, level, colour).

    Its audio (if any) becomes AAC 48 kHz stereo; the talk's audio pass re-encodes it with the talk.
    """
    width, height = params.width, params.height
    sar = params.sar if params.sar else Fraction(1)
    graph = (
        f"[0:v]scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar={sar.numerator}/{sar.denominator},"
        f"fps={params.fps.numerator}/{params.fps.denominator},format={params.pix_fmt}[v]"
    )
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error", "-i", str(sting)]
    command += ["-filter_complex", graph, "-map", "[v]"]
    if has_audio:
        command += ["-map", "0:a:0", "-c:a", "aac", "-ar", str(AUDIO_RATE), "-ac", "2"]
    command += [*params.x264_args(), "-preset", PIECE_PRESET, "-crf", str(PIECE_CRF)]
    command += ["-progress", "pipe:1", "-nostats", "-f", "mp4", str(output)]
    return command


# ------------------------------------------------------------------------------------------- join


def _piece_packets(piece: Piece) -> Iterator[av.Packet]:
    """The video packets of one piece in decode order (the container stays open while iterating)."""
    with open_media(piece.path) as container:
        stream = container.streams.video[0]
        if piece.first_pts is not None:
            container.seek(piece.first_pts, stream=stream, backward=True, any_frame=False)
        started = piece.first_pts is None
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            if not started:
                if packet.pts != piece.first_pts:
                    continue  # the seek may land one GOP early
                started = True
            if piece.stop_pts is not None and packet.pts == piece.stop_pts:
                return
            yield packet


def _piece_delay(piece: Piece, tb: Fraction) -> Fraction:
    """How far the piece's first decode time lies before its first presentation time, in ``tb`` units."""
    first = next(_piece_packets(piece), None)
    if first is None:
        raise RenderError(f"piece {piece.path.name} holds no video packet")
    return (first.pts - first.dts) * Fraction(first.time_base) / tb


def _joined_video(
    pieces: list[Piece], stream: av.VideoStream, params: VideoParams, stats: JoinStats, progress: Callable
) -> Iterator[tuple[Fraction, av.Packet]]:
    """(decode time in s, packet) of every piece's video in output order, retimed for ``join_pieces``."""
    tb, ticks = params.time_base, params.frame_ticks
    delays = [_piece_delay(piece, tb) for piece in pieces]
    delay_max = max(delays)
    total = sum(piece.frames for piece in pieces)
    offset, last_dts, done = 0, None, 0
    for piece, delay in zip(pieces, delays, strict=True):
        length_size, sets = avcc_parameter_sets(probe_streams(piece.path).avcc)
        prefix = b"".join(len(nal).to_bytes(length_size, "big") + nal for nal in sets)
        count, first_pts = 0, None
        for packet in _piece_packets(piece):
            piece_tb = Fraction(packet.time_base)
            first_pts = packet.pts if first_pts is None else first_pts
            pts = offset + round((packet.pts - first_pts) * piece_tb / tb)
            dts = offset + round((packet.dts - first_pts) * piece_tb / tb - (delay_max - delay))
            if last_dts is not None and dts <= last_dts:
                raise RenderError(f"decode times would not rise at {piece.path.name} ({dts} ≤ {last_dts})")
            last_dts = dts
            stats.bytes_copied += packet.size
            copy = packet
            if packet.is_keyframe and NAL_SPS not in nal_types(bytes(packet), length_size):
                copy = av.Packet(prefix + bytes(packet))  # only IDRs are rewritten; the rest pass as they are
                copy.is_keyframe = True
            copy.pts, copy.dts, copy.time_base = pts, dts, tb
            copy.stream = stream
            count += 1
            done += 1
            if done % 500 == 0:
                progress(done, total)
            yield Fraction(dts) * tb, copy
        if count != piece.frames:
            raise RenderError(f"piece {piece.path.name} has {count} frames, expected {piece.frames}")
        stats.frames.append(count)
        offset += count * ticks
    progress(total, total)


def join_pieces(
    pieces: list[Piece],
    audio: Path,
    output: Path,
    params: VideoParams,
    progress: Callable[[int, int], None] | None = None,
) -> JoinStats:
    """Write ``pieces`` back to back (video, ``avc3``, parameter sets in-band) with ``audio`` into an MP4.

    Presentation times are frame-exact: piece *i* starts at the sum of the frames before it. Decode
    times keep each piece's order and are moved earlier by the largest reorder delay of any piece,
    so they rise across every joint. Raises RenderError when a piece does not hold the frames it
    should or decode times would not rise. ``progress`` gets (frames written, frames in total).
    """
    stats = JoinStats()
    with (
        open_media(pieces[0].path) as template,
        open_media(audio) as audio_in,
        av.open(str(output), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        video_out = out.add_stream_from_template(template.streams.video[0])
        video_out.codec_context.codec_tag = JOINED_TAG
        video_out.time_base = params.time_base
        audio_stream = audio_in.streams.audio[0]
        audio_out = out.add_stream_from_template(audio_stream)

        def audio_packets() -> Iterator[tuple[Fraction, av.Packet]]:
            for packet in audio_in.demux(audio_stream):
                if packet.dts is None:
                    continue
                packet.stream = audio_out
                yield Fraction(packet.dts) * Fraction(packet.time_base), packet

        video = _joined_video(pieces, video_out, params, stats, progress or (lambda done, total: None))
        for _, packet in heapq.merge(video, audio_packets(), key=lambda item: item[0]):
            out.mux(packet)
    return stats


# ----------------------------------------------------------------------------------------- render


@dataclass(frozen=True)
class SmartResult:
    """The smart render's output, its wall seconds, and how the time was spent."""

    output: Path
    duration: float
    seconds: float
    encoded_frames: int
    copied_frames: int
    timings: dict[str, float]


def encode_sting(sting: Path, output: Path, params: VideoParams) -> tuple[Path, int]:
    """Encode ``sting`` to ``params``; returns the file and its frame count."""
    info = probe_streams(sting)
    run_ffmpeg(sting_command(sting, output, params, has_audio=info.has_audio), info.duration, _quiet)
    with open_media(output) as container:
        frames = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    return output, frames


def render_smart(
    source: Path,
    output: Path,
    spec: RenderSpec,
    plan: RenderPlan,
    *,
    sting: tuple[Path, int] | None = None,
    threads: int | None = None,
    verify: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SmartResult:
    """Render ``plan`` (path ``smart``) of ``source`` to ``output``: head, copied middle, tail, audio, join.

    ``sting`` is (file, frames) already encoded to the source's parameters (``encode_sting``). Pieces
    are written next to ``output`` and removed afterwards; ``output`` appears only complete and
    verified (written as ``<output>.part`` and renamed), so a retry never sees half a file.
    Raises RenderError when ffmpeg fails or the result does not verify.
    """
    if plan.path != SMART:
        raise ValueError(f"plan takes the {plan.path} path ({plan.reason}), not the smart one")
    note = progress or (lambda message: log.info("%s", message))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = output.with_name(output.name + ".pieces")
    work.mkdir(exist_ok=True)
    partial = output.with_name(output.name + ".part")
    timings: dict[str, float] = {}
    started = time.monotonic()
    fps = plan.params.fps
    try:
        head, tail, audio = work / "head.mp4", work / "tail.mp4", work / "audio.m4a"
        steps = [
            (
                "head",
                piece_command(
                    source, head, plan, first_pts=plan.first_pts, frames=plan.head_frames,
                    video_filter=fade_filter(1, None, plan.fade_frames), threads=threads,
                ),
                plan.head_frames / fps,
            ),
            (
                "tail",
                piece_command(
                    source, tail, plan, first_pts=plan.tail_pts, frames=plan.tail_frames,
                    video_filter=fade_filter(0, plan.tail_frames - plan.fade_frames, plan.fade_frames),
                    threads=threads,
                ),
                plan.tail_frames / fps,
            ),
            (
                "audio",
                audio_command(
                    source, audio, start=plan.seconds(plan.first_pts), duration=plan.duration,
                    has_audio=plan.has_audio, fade_seconds=spec.fade_seconds,
                    sting=sting[0] if sting else None, sting_seconds=float(sting[1] / fps) if sting else 0.0,
                ),
                plan.duration,
            ),
        ]  # fmt: skip
        # no fade-in on a keyframe (fade_seconds 0): the head has no frame, nothing to encode or join
        steps = [step for step in steps if step[0] == "audio" or step[2] > 0]

        # head, tail and audio are independent: run together, the single-threaded AAC encoder and
        # the x264 pieces share the cores instead of waiting for each other
        def encode(name: str, command: list[str], seconds: Fraction) -> None:
            began = time.monotonic()
            run_ffmpeg(command, float(seconds), _quiet)
            timings[name] = time.monotonic() - began
            note(f"smart render: {name} encoded in {timings[name]:.1f} s")

        with ThreadPoolExecutor(max_workers=len(steps)) as pool:
            for done in [pool.submit(encode, *step) for step in steps]:
                done.result()
        pieces = [
            Piece(head, plan.head_frames),
            Piece(source, plan.middle_frames, first_pts=plan.middle_pts, stop_pts=plan.tail_pts),
            Piece(tail, plan.tail_frames),
        ]
        pieces = [piece for piece in pieces if piece.frames > 0]
        if sting:
            pieces.insert(0, Piece(sting[0], sting[1]))
        began = time.monotonic()
        logger = _ProgressLogger()
        join_pieces(
            pieces, audio, partial, plan.params,
            progress=lambda done, total: logger(float(done / fps), float(total / fps), 0.0),
        )  # fmt: skip
        timings["join"] = time.monotonic() - began
        note(f"smart render: joined {plan.middle_frames} copied frames in {timings['join']:.1f} s")
        expected = plan.duration + (float(sting[1] / fps) if sting else 0.0)
        if verify:
            began = time.monotonic()
            try:
                verify_output(partial, expected, tolerance=float(1 / fps) + 0.03)
            except MediaError as error:
                raise RenderError(f"smart render of {source.name} did not verify: {error}") from error
            timings["verify"] = time.monotonic() - began
        partial.replace(output)
    except av.error.FFmpegError as error:
        raise RenderError(f"smart render of {source.name} failed: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return SmartResult(
        output=output,
        duration=expected,
        seconds=time.monotonic() - started,
        encoded_frames=plan.head_frames + plan.tail_frames,
        copied_frames=plan.middle_frames,
        timings=timings,
    )


def _quiet(done: float, total: float, speed: float) -> None:
    """Progress sink for the short piece encodes: the pieces log once each when done."""
