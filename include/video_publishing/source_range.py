"""Read only the bytes a cut needs from a recording in S3: the index, then the cut's byte range.

A raw upload is often a whole session, far longer than the talk. An MP4 keeps its index (``moov``)
apart from the media data (``mdat``), and the index says where every sample lives. So:

1. walk the top-level boxes with 16-byte ranged GETs (ftyp, moov, mdat, …: a handful);
2. fetch ``moov`` (and any other small box) whole, and write everything at its own offset into a
   *sparse* local file of the object's size, so every offset in the index stays right;
3. read the index with PyAV (``index_entries``: position, size, timestamp of every sample, no
   media data needed) and find the byte range holding every stream's samples from the keyframe
   before the cut (less a margin) to the keyframe after it (plus a margin);
4. fetch that range with ranged GETs into the same file.

ffmpeg and PyAV then open the local file as if it were whole and read only the parts that are
there: the render is exactly the one a full download would give. When the container is not a plain
MP4 (fragmented MP4, Matroska, MPEG-TS) the object is downloaded whole instead. Progress in the log
counts bytes read. Every GET carries the pinning ``VersionId``/``IfMatch`` of the caller, so a
replaced object fails (412) instead of mixing two uploads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from include.common import s3

log = logging.getLogger(__name__)

PART_BYTES = 8 * 1024 * 1024
SMALL_BOX_BYTES = 4 * 1024 * 1024  # boxes other than mdat up to this size are fetched whole
PROBE_BYTES = 64 * 1024  # the start of mdat: what opening the file reads to probe the streams
MARGIN_SECONDS = 1.0
RANGED, DOWNLOAD = "ranged", "download"


@dataclass(frozen=True)
class SourceCopy:
    """The local copy of a source: where it is, and what crossing the network cost."""

    path: Path
    object_size: int
    bytes_read: int
    mode: str  # ranged | download
    requests: int
    reason: str = ""


class _Reader:
    """Ranged GETs of one pinned object, writing into a local file and counting bytes."""

    def __init__(self, client: Any, bucket: str, key: str, extra: dict[str, str], size: int) -> None:
        self.client, self.bucket, self.key, self.extra = client, bucket, key, extra
        self.bytes_read = self.requests = 0
        self.progress = s3.ByteProgress(f"ranged read {s3.url(bucket, key)}", size, log)

    def get(self, first: int, last: int) -> bytes:
        response = self.client.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={first}-{last}", **self.extra
        )
        data = response["Body"].read()
        self.requests += 1
        self.bytes_read += len(data)
        return data

    def copy(self, out: Any, first: int, end: int) -> None:
        """Fetch ``[first, end)`` into ``out`` at the same offsets, in parts, logging progress."""
        for part in range(first, end, PART_BYTES):
            data = self.get(part, min(part + PART_BYTES, end) - 1)
            out.seek(part)
            out.write(data)
            self.progress(len(data))


def top_level_boxes(reader: _Reader, size: int) -> list[tuple[str, int, int]]:
    """(type, offset, size) of every top-level MP4 box, read from 16-byte headers."""
    boxes = []
    offset = 0
    while offset + 8 <= size:
        header = reader.get(offset, min(offset + 15, size - 1))
        box_size = int.from_bytes(header[:4], "big")
        kind = header[4:8].decode("latin-1")
        if box_size == 1:
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:
            box_size = size - offset
        if box_size < 8 or not kind.isprintable():
            raise ValueError(f"not an MP4 box at offset {offset}")
        boxes.append((kind, offset, box_size))
        offset += box_size
    return boxes


def cut_byte_range(path: Path, start: float, end: float, margin: float = MARGIN_SECONDS) -> tuple[int, int]:
    """[first, end) byte range holding every stream's samples for a cut of ``start``–``end`` s.

    From the video keyframe at or before ``start`` (less ``margin``) to the keyframe after ``end``
    (plus ``margin``), for all streams; read from the index alone.
    """
    with av.open(str(path)) as container:
        base = Fraction(container.start_time or 0, 1_000_000)
        video = container.streams.video[0]
        vtb = Fraction(video.time_base)
        keys = [Fraction(e.timestamp) * vtb - base for e in video.index_entries if e.is_keyframe]
        before = max((t for t in keys if t <= start), default=Fraction(0))
        after = min((t for t in keys if t > end), default=Fraction(10**9))
        low, high = before - Fraction(margin), after + Fraction(margin)
        first, last = None, 0
        for stream in container.streams:
            tb = Fraction(stream.time_base)
            for entry in stream.index_entries:
                if low <= Fraction(entry.timestamp) * tb - base <= high:
                    first = entry.pos if first is None else min(first, entry.pos)
                    last = max(last, entry.pos + entry.size)
    if first is None:
        raise ValueError(f"no samples between {float(low):.3f} s and {float(high):.3f} s")
    return first, last


def fetch_cut(
    client: Any,
    bucket: str,
    key: str,
    target: Path,
    *,
    start: float,
    end: float,
    extra: dict[str, str] | None = None,
) -> SourceCopy:
    """Copy what a cut of ``start``–``end`` s needs from ``s3://bucket/key`` to ``target``.

    Ranged for a plain MP4 (index + cut range, sparse file); a whole download otherwise.
    Idempotent: ``target`` is rewritten from scratch.
    """
    extra = dict(extra or {})
    started = time.monotonic()
    size = client.head_object(Bucket=bucket, Key=key, **extra)["ContentLength"]
    reader = _Reader(client, bucket, key, extra, size)
    try:
        boxes = top_level_boxes(reader, size)
        kinds = {kind for kind, _, _ in boxes}
        why = None
        if "moov" not in kinds or "mdat" not in kinds:
            why = "not a plain MP4 (no moov/mdat)"
        elif "moof" in kinds:
            why = "fragmented MP4: the index is spread through the file"
    except ValueError as error:
        why = f"not an MP4: {error}"
    if why is not None:
        log.info("downloading %s whole: %s", s3.url(bucket, key), why)
        s3.download(client, bucket, key, target, **extra)
        return SourceCopy(target, size, size + reader.bytes_read, DOWNLOAD, reader.requests + 1, why)
    with target.open("wb") as out:
        out.truncate(size)
        for kind, offset, box_size in boxes:
            if kind == "mdat":
                header = 16 if box_size > 2**32 else 8
                reader.copy(out, offset, min(offset + header + PROBE_BYTES, offset + box_size))
            elif box_size <= SMALL_BOX_BYTES or kind == "moov":
                reader.copy(out, offset, offset + box_size)
    index_bytes = reader.bytes_read
    first, last = cut_byte_range(target, start, end)
    with target.open("r+b") as out:
        reader.copy(out, first, last)
    log.info(
        "read %.1f MB of %.1f MB from %s in %d requests (index %.2f MB, cut range %.1f MB) in %.1f s",
        reader.bytes_read / 1e6, size / 1e6, s3.url(bucket, key), reader.requests,
        index_bytes / 1e6, (last - first) / 1e6, time.monotonic() - started,
    )  # fmt: skip
    return SourceCopy(target, size, reader.bytes_read, RANGED, reader.requests)
