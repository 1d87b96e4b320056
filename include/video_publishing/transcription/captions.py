"""WebVTT captions from a transcript, cut the way players and broadcasters expect.

Rules (the common subtitle guidance of YouTube, the BBC and Netflix): at most two lines of at most
``MAX_LINE_CHARS`` characters, broken between words; a cue lasts ``MIN_CUE_SECONDS`` to
``MAX_CUE_SECONDS``; a new cue starts after a sentence ends or a pause of ``PAUSE_SECONDS``; cues never
overlap. The output is checked by parsing it with webvtt-py before it is returned.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import webvtt

from include.video_publishing.transcription.model import Transcript, Word

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_SECONDS = 1.0
MAX_CUE_SECONDS = 7.0
PAUSE_SECONDS = 0.8
_SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def cues(transcript: Transcript) -> list[Cue]:
    """Group the transcript's words into cues that respect the line, length and timing rules."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in transcript.words:
        if current and _starts_new_cue(current, word):
            groups.append(current)
            current = []
        current.append(word)
    if current:
        groups.append(current)
    result: list[Cue] = []
    for index, group in enumerate(groups):
        start = group[0].start if not result else max(group[0].start, result[-1].end)
        end = max(group[-1].end, start + MIN_CUE_SECONDS)
        if index + 1 < len(groups):
            end = min(end, groups[index + 1][0].start)
        end = max(end, start + 0.1)  # a word squeezed between neighbours still shows
        lines = tuple(textwrap.wrap(" ".join(w.text for w in group), MAX_LINE_CHARS, break_long_words=True))
        result.append(Cue(start, min(end, start + MAX_CUE_SECONDS), lines))
    return result


def _starts_new_cue(current: list[Word], word: Word) -> bool:
    text = " ".join(w.text for w in [*current, word])
    if len(textwrap.wrap(text, MAX_LINE_CHARS, break_long_words=True)) > MAX_LINES:
        return True
    if word.end - current[0].start > MAX_CUE_SECONDS:
        return True
    if word.start - current[-1].end >= PAUSE_SECONDS:
        return True
    return current[-1].text.endswith(_SENTENCE_END) and word.start - current[0].start >= MIN_CUE_SECONDS


def timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` as WebVTT writes it."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def to_webvtt(transcript: Transcript) -> str:
    """The transcript as a WebVTT document (``Kind``/``Language`` headers as YouTube writes them), validated by parsing it back."""
    document = webvtt.WebVTT(
        captions=[
            webvtt.Caption(timestamp(c.start), timestamp(c.end), list(c.lines)) for c in cues(transcript)
        ],
        metadata=["Kind: captions", f"Language: {transcript.language}"],
    )
    text = document.content
    webvtt.from_string(text)  # raises MalformedFileError rather than storing what a player would reject
    return text


def vtt_to_srt(vtt_text: str) -> str:
    """SubRip from WebVTT (Facebook takes captions only as ``.srt``)."""
    buffer = io.StringIO()
    webvtt.from_string(vtt_text).write(buffer, format="srt")
    return buffer.getvalue().rstrip("\n") + "\n"
