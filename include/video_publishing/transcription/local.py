"""Local transcription on the worker with pocketsphinx: no network, no download.

pocketsphinx 5 wheels carry a US English acoustic model, language model and dictionary, so the worker
image needs nothing else. The audio is decoded with PyAV (its own FFmpeg libraries) to 16 kHz mono
16-bit PCM as a stream, split into utterances by pocketsphinx's voice-activity segmenter, and each
utterance is decoded with word times. Memory stays bounded by the longest utterance, not the talk.
Progress is logged every ``PROGRESS_SECONDS`` of audio.

Another model (another language) is a directory laid out like the wheel's (``<lang>/`` acoustic model,
``<lang>.lm.bin``, ``cmudict-<lang>.dict``) baked into the image and named by ``model_dir``.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from include.video_publishing.transcription.engines import Media, TranscriptionFailed
from include.video_publishing.transcription.model import Transcript, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_RATE = 100  # pocketsphinx frames per second (its default -frate)
PROGRESS_SECONDS = 300
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+)$")
_ALTERNATIVE = re.compile(r"\(\d+\)$")


class PocketsphinxEngine:
    """Runs on the worker; ``submit`` returns the transcript directly."""

    name = "local"

    def __init__(self, model_dir: Path | None = None) -> None:
        self.model_dir = model_dir
        self._decoder: Any = None

    def submit(self, media: Media, language: str, job_name: str = "") -> Transcript:
        """Transcribe ``media.path`` (downloading the library object first when there is no local copy)."""
        if media.path is not None:
            return self.transcribe(media.path, language)
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        with tempfile.TemporaryDirectory(prefix="transcribe-") as scratch:
            path = Path(scratch) / Path(media.key).name
            S3Hook().get_conn().download_file(media.bucket, media.key, str(path))
            return self.transcribe(path, language)

    def collect(self, event: dict[str, Any]) -> Transcript:
        raise TranscriptionFailed("the local engine never defers; there is nothing to collect")

    def transcribe(self, path: Path, language: str = "en-US") -> Transcript:
        """Timed words of the audio in ``path`` (any container/codec FFmpeg reads)."""
        from pocketsphinx import Segmenter

        decoder = self._load(language)
        segmenter = Segmenter(sample_rate=SAMPLE_RATE)
        words: list[Word] = []
        started = time.monotonic()
        next_report = PROGRESS_SECONDS
        audio_seconds = 0.0
        for segment in segmenter.segment(_PcmStream(path)):
            decoder.start_utt()
            decoder.process_raw(segment.pcm, full_utt=True)
            decoder.end_utt()
            for seg in decoder.seg():
                text = _ALTERNATIVE.sub("", seg.word)
                if _FILLER.match(text):
                    continue
                words.append(
                    Word(
                        text=text,
                        start=round(segment.start_time + seg.start_frame / FRAME_RATE, 3),
                        end=round(segment.start_time + (seg.end_frame + 1) / FRAME_RATE, 3),
                        confidence=None,
                    )
                )
            audio_seconds = segment.end_time
            if audio_seconds >= next_report:
                log.info("transcribed %.0f s of audio in %.0f s", audio_seconds, time.monotonic() - started)
                next_report += PROGRESS_SECONDS
        log.info("transcribed %s: %d words in %.1f s", path.name, len(words), time.monotonic() - started)
        return Transcript(language=language, words=tuple(words), engine=self.name, duration=audio_seconds)

    def _load(self, language: str) -> Any:
        from pocketsphinx import Decoder, get_model_path

        if self._decoder is not None:
            return self._decoder
        lang = language.lower()
        if self.model_dir is None:
            if not lang.startswith("en"):
                raise TranscriptionFailed(
                    f"transcription.language: the local engine's built-in model is English only, got "
                    f"{language!r}; set transcription.model_dir to a model for that language"
                )
            root, code = Path(get_model_path("en-us")), "en-us"
        else:
            root, code = self.model_dir, lang
        self._decoder = Decoder(
            hmm=str(root / code),
            lm=str(root / f"{code}.lm.bin"),
            dict=str(root / f"cmudict-{code}.dict"),
            samprate=SAMPLE_RATE,
            loglevel="ERROR",
        )
        return self._decoder


class _PcmStream:
    """A file-like ``read(n)`` over the audio of a media file, decoded as 16 kHz mono s16 PCM."""

    def __init__(self, path: Path) -> None:
        self._chunks = _decode(path)
        self._buffer = bytearray()

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer.extend(chunk)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _decode(path: Path) -> Iterator[bytes]:
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise TranscriptionFailed(f"cannot read {path.name}: {err}") from err
    with container:
        if not container.streams.audio:
            raise TranscriptionFailed(f"{path.name} has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().tobytes()
        for out in resampler.resample(None):
            yield out.to_ndarray().tobytes()
