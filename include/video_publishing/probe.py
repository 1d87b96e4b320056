"""Structured media probing with PyAV: streams, codec parameters, packets and keyframes.

PyAV opens files with the FFmpeg libraries of its own wheel and hands back numbers, never text to
parse: a title reading "Duration: 99:00:00.00" is metadata, not the duration, and nothing here
changes when the ``ffmpeg -i`` summary changes between FFmpeg versions. The same calls work on
every machine, with or without an ``ffprobe`` binary.

``VideoParams`` is what a re-encoded piece must share with the source to be joined to it:
profile, level, frame size, pixel format, frame rate, time base, sample aspect ratio and colour
properties. ``scan_packets`` lists the video packets of a window (timestamps, keyframe flag, IDR,
byte position) without decoding a frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

AV_TIME_BASE = 1_000_000
NAL_IDR, NAL_SPS, NAL_PPS = 5, 7, 8
# x264 / ffmpeg profile names as PyAV reports them → the ``-profile:v`` value libx264 takes.
X264_PROFILES = {"Baseline": "baseline", "Constrained Baseline": "baseline", "Main": "main", "High": "high"}


class ProbeError(ValueError):
    """The file cannot be opened as media, or lacks what was asked for (a ValueError: bad input)."""


@dataclass(frozen=True)
class VideoParams:
    """The codec parameters a joined piece must share with the source (ints are FFmpeg enum values)."""

    codec: str
    profile: str
    level: int
    width: int
    height: int
    pix_fmt: str
    fps: Fraction
    time_base: Fraction
    sar: Fraction
    color_range: int
    color_primaries: int
    color_trc: int
    colorspace: int
    has_b_frames: bool
    progressive: bool

    @property
    def frame_ticks(self) -> int:
        """One frame's duration in ``time_base`` units (0 when the time base cannot express it)."""
        ticks = 1 / (self.fps * self.time_base)
        return int(ticks) if ticks.denominator == 1 else 0

    def cache_key(self) -> str:
        """A short stable hash of every field: equal keys mean interchangeable encodes."""
        text = ";".join(f"{k}={v}" for k, v in sorted(asdict(self).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def x264_args(self) -> list[str]:
        """ffmpeg output options that make libx264 write a stream with these parameters."""
        args = ["-c:v", "libx264", "-pix_fmt", self.pix_fmt, "-profile:v", X264_PROFILES[self.profile]]
        if self.level > 0:
            args += ["-level:v", f"{self.level / 10:g}"]
        if self.profile in ("Baseline", "Constrained Baseline"):
            args += ["-bf", "0"]
        for option, value in (
            ("-color_range", self.color_range),
            ("-color_primaries", self.color_primaries),
            ("-color_trc", self.color_trc),
            ("-colorspace", self.colorspace),
        ):
            if value not in (0, 2):  # 0/2: unspecified (range 0 is unspecified, 2 is "unspecified" elsewhere)
                args += [option, str(value)]
        args += ["-video_track_timescale", str(self.time_base.denominator), "-fps_mode", "passthrough"]
        return args


@dataclass(frozen=True)
class StreamsInfo:
    """A file's duration (container, seconds), start time and its first video and audio streams."""

    duration: float
    start_time: float
    format_name: str
    video: VideoParams | None
    avcc: bytes
    has_audio: bool
    audio_codec: str


@dataclass(frozen=True)
class PacketInfo:
    """One video packet: timestamps in the stream's time base, keyframe flag, IDR NAL, file position."""

    pts: int
    dts: int
    keyframe: bool
    idr: bool
    pos: int
    size: int


def open_media(path: Path | str) -> av.container.InputContainer:
    """Open ``path`` for reading; ProbeError naming the file when it is missing or not media."""
    if isinstance(path, Path) and not path.is_file():
        raise ProbeError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise ProbeError(f"{path}: not a media file ffmpeg can read: {error}") from None


def video_params(stream: av.video.stream.VideoStream) -> VideoParams:
    """The parameters of a video stream, from its codec context (nothing decoded)."""
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(0)
    return VideoParams(
        codec=context.name,
        profile=context.profile or "",
        level=context.level if context.level and context.level > 0 else 0,
        width=context.width,
        height=context.height,
        pix_fmt=context.pix_fmt or "",
        fps=Fraction(rate),
        time_base=Fraction(stream.time_base),
        sar=Fraction(context.sample_aspect_ratio or 0),
        color_range=int(context.color_range),
        color_primaries=int(context.color_primaries),
        color_trc=int(context.color_trc),
        colorspace=int(context.colorspace),
        has_b_frames=bool(context.has_b_frames),
        progressive=int(context.field_order or 0) in (0, 1),  # unknown or progressive
    )


def probe_streams(path: Path | str) -> StreamsInfo:
    """Describe ``path`` from the container and codec fields (no frame is decoded)."""
    with open_media(path) as container:
        videos = [
            s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
        ]
        audios = list(container.streams.audio)
        video = video_params(videos[0]) if videos else None
        if video is not None and not (video.width and video.height):
            # a demuxer chosen by file name alone (image2 for ".png") opens anything; no frame size = not media
            raise ProbeError(f"{path}: not a media file ffmpeg can read (no frame size)")
        return StreamsInfo(
            duration=(container.duration or 0) / AV_TIME_BASE,
            start_time=(container.start_time or 0) / AV_TIME_BASE,
            format_name=container.format.name,
            video=video,
            avcc=bytes(videos[0].codec_context.extradata or b"") if videos else b"",
            has_audio=bool(audios),
            audio_codec=audios[0].codec_context.name if audios else "",
        )


def avcc_parameter_sets(avcc: bytes) -> tuple[int, list[bytes]]:
    """(NAL length size, [SPS…, PPS…]) from an ``avcC`` record (ISO/IEC 14496-15 §5.2.4.1)."""
    if len(avcc) < 7 or avcc[0] != 1:
        raise ProbeError("the H.264 stream has no avcC record (Annex B in-band only)")
    length_size = (avcc[4] & 0x03) + 1
    sets: list[bytes] = []
    offset = 5
    for mask in (0x1F, 0xFF):  # SPS count (low 5 bits), then PPS count
        count = avcc[offset] & mask
        offset += 1
        for _ in range(count):
            size = int.from_bytes(avcc[offset : offset + 2], "big")
            sets.append(avcc[offset + 2 : offset + 2 + size])
            offset += 2 + size
    return length_size, sets


def nal_units(data: bytes, length_size: int = 4) -> Iterator[bytes]:
    """The NAL units of one length-prefixed (AVCC) H.264 sample."""
    offset = 0
    while offset + length_size <= len(data):
        size = int.from_bytes(data[offset : offset + length_size], "big")
        offset += length_size
        yield data[offset : offset + size]
        offset += size


def nal_types(data: bytes, length_size: int = 4) -> set[int]:
    """The NAL unit types present in one AVCC sample."""
    return {nal[0] & 0x1F for nal in nal_units(data, length_size) if nal}


def scan_packets(
    path: Path | str, start: float, end: float, *, read_data: bool = True, length_size: int = 4
) -> list[PacketInfo]:
    """Video packets from the keyframe at or before ``start`` until a keyframe past ``end``.

    Times are seconds from the container's start. The list is in decode order and ends with the
    first keyframe whose timestamp is past ``end`` (so the GOP holding ``end`` is complete).
    ``read_data=False`` trusts the index alone (positions, sizes, flags) and reports ``idr`` as the
    keyframe flag: for planning byte ranges before the bytes are there.
    """
    found: list[PacketInfo] = []
    with open_media(path) as container:
        stream = container.streams.video[0]
        base = container.start_time or 0
        tb = Fraction(stream.time_base)
        seek_to = int((Fraction(start) * AV_TIME_BASE + base) / AV_TIME_BASE / tb)
        container.seek(max(seek_to, stream.start_time or 0), stream=stream, backward=True, any_frame=False)
        end_ts = (Fraction(end) + Fraction(base, AV_TIME_BASE)) / tb
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            keyframe = bool(packet.is_keyframe)
            if keyframe and found and packet.pts > end_ts:
                found.append(_packet_info(packet, keyframe, read_data, length_size))
                break
            found.append(_packet_info(packet, keyframe, read_data, length_size))
    return found


def _packet_info(packet: av.Packet, keyframe: bool, read_data: bool, length_size: int) -> PacketInfo:
    if read_data and keyframe:
        idr = NAL_IDR in nal_types(bytes(packet), length_size)
    else:
        idr = keyframe and not read_data
    return PacketInfo(
        pts=packet.pts,
        dts=packet.dts if packet.dts is not None else packet.pts,
        keyframe=keyframe,
        idr=idr,
        pos=packet.pos if packet.pos is not None else -1,
        size=packet.size,
    )
