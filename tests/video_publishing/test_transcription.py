"""Transcripts → captions and keywords: the local engine on real (synthetic) speech, the caption and tag
rules, and the results arriving at the YouTube and Facebook stand-ins.

The speech is ``media/speech_en.opus`` (espeak-ng, see ``media/README.md``), spoken text ``SPOKEN``.
"""

from __future__ import annotations

import io
import itertools
import re
import subprocess
from pathlib import Path

import pytest
import webvtt

from include.video_publishing import facebook, youtube
from include.video_publishing.media import ffmpeg_exe
from include.video_publishing.transcription import captions, destinations, keywords
from include.video_publishing.transcription.engines import Media, TranscriptionFailed, engine_from_settings
from include.video_publishing.transcription.local import PocketsphinxEngine
from include.video_publishing.transcription.model import Transcript, Word

SPEECH = Path(__file__).parent / "media" / "speech_en.opus"
SPOKEN = (
    "Welcome to the conference. Today we talk about video publishing with Apache Airflow. "
    "Every recorded talk gets captions and keywords. The speech recognizer runs on the worker "
    "without any network."
)
TITLE = "Publishing talks"
DESCRIPTION = "How a small team ships every recording."
STOPWORDS = {"the", "to", "we", "about", "with", "and", "on", "any", "every", "gets", "a"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS}


@pytest.fixture(scope="module")
def speech_talk(tmp_path_factory) -> Path:
    """A talk recording whose audio is the speech: test pattern + the Opus speech, H.264/AAC MP4."""
    path = tmp_path_factory.mktemp("speech") / "speech_talk.mp4"
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10", "-i", str(SPEECH),
            "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ar", "48000", "-ac", "2",
            str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def transcript(stack, speech_talk) -> Transcript:
    """The local engine's transcript of the talk, read from the library bucket like a worker would."""
    s3 = stack.boto3_client("s3")
    bucket = "transcription-tests-library"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(speech_talk), bucket, "ws26/speech.mp4")
    engine = engine_from_settings({"engine": "local", "language": "en-US"})
    return engine.submit(Media(bucket, "ws26/speech.mp4"), "en-US", "unused")


def test_local_engine_hears_the_spoken_sentence(transcript):
    heard = _words(transcript.text)
    spoken = _words(SPOKEN)
    assert len(heard & spoken) >= 5, f"heard {sorted(heard)}"
    assert transcript.engine == "local"
    assert 12.0 < transcript.duration < 15.5
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(w.end > w.start for w in transcript.words)


def test_webvtt_from_speech_parses_and_follows_player_rules(transcript):
    text = captions.to_webvtt(transcript)
    document = webvtt.from_buffer(io.StringIO(text))
    assert document.captions
    cue_words = _words(" ".join(c.text for c in document.captions))
    assert len(cue_words & _words(SPOKEN)) >= 5
    previous_end = 0.0
    for cue in document.captions:
        lines = cue.text.splitlines()
        assert 1 <= len(lines) <= captions.MAX_LINES
        assert all(len(line) <= captions.MAX_LINE_CHARS for line in lines)
        assert cue.start_in_seconds >= previous_end
        assert 0 < cue.end_in_seconds - cue.start_in_seconds <= captions.MAX_CUE_SECONDS
        previous_end = cue.end_in_seconds
    assert "Language: en-US" in text.splitlines()[:3]


def test_tags_contain_keywords_from_the_speech(transcript):
    tags = keywords.keyword_tags(transcript.text, TITLE, DESCRIPTION, fixed_tags=["ws26"])
    assert tags[0] == "ws26"
    only_spoken = _words(SPOKEN) - _words(f"{TITLE} {DESCRIPTION}")
    assert _words(" ".join(tags)) & only_spoken, tags
    assert keywords.tags_length(tags) <= keywords.MAX_TAGS_CHARS


def test_captions_and_tags_arrive_at_youtube_and_facebook(stack, speech_talk, transcript):
    client = youtube.build_client("youtube_default")
    meta = youtube.VideoMetadata(title=TITLE, description=DESCRIPTION, tags=("ws26",))
    video_id = youtube.upload_video(
        client, speech_talk, meta, chunk_size=256 * 1024, session_uri=None, on_session=lambda uri: None
    )
    vtt = captions.to_webvtt(transcript)

    caption_id = destinations.youtube_captions(client, video_id, vtt, "en-US")
    again = destinations.youtube_captions(client, video_id, vtt, "en-US")  # a retry updates, never adds
    tags = keywords.keyword_tags(transcript.text, TITLE, DESCRIPTION, fixed_tags=["ws26"])
    destinations.youtube_tags(client, video_id, tags)

    tracks = [c for c in stack.google.youtube.captions if c["snippet"]["videoId"] == video_id]
    assert again == caption_id
    assert len(tracks) == 1
    assert tracks[0]["snippet"]["language"] == "en-US"
    assert webvtt.from_buffer(io.StringIO(tracks[0]["content"])).captions
    record = next(u for u in stack.google.youtube.uploads if u["id"] == video_id)
    assert record["snippet"]["tags"] == tags
    assert record["snippet"]["title"] == TITLE  # the rest of the snippet survives videos.update
    assert record["snippet"]["description"] == DESCRIPTION

    graph = facebook.GraphClient.from_connection("facebook_default")
    fb_video = facebook.upload_video(
        graph,
        speech_talk,
        facebook.VideoMetadata(TITLE, DESCRIPTION),
        session=None,
        on_session=lambda s: None,
    )
    destinations.facebook_captions(graph, fb_video, vtt, "en-US")
    srt = stack.facebook.store.videos[fb_video]["captions"][0]["srt"]
    assert webvtt.from_srt(_tmp_srt(srt)).captions


def _tmp_srt(text: str) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".srt", delete=False) as fh:
        fh.write(text)
    return fh.name


# -- caption and keyword rules on constructed transcripts ---------------------------------------------
def _transcript(words: list[tuple[str, float, float]]) -> Transcript:
    return Transcript("en-US", tuple(Word(t, s, e) for t, s, e in words), "test")


def test_long_speech_is_cut_into_two_line_cues_of_at_most_seven_seconds():
    words = [(f"word{i % 7}", i * 0.3, i * 0.3 + 0.25) for i in range(200)]
    cues = captions.cues(_transcript(words))
    assert sum(len(" ".join(c.lines).split()) for c in cues) == 200  # every word shown once
    for cue in cues:
        assert len(cue.lines) <= 2
        assert all(len(line) <= 42 for line in cue.lines)
        assert cue.end - cue.start <= 7.0
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))


def test_a_pause_or_a_sentence_end_starts_a_new_cue():
    words = [
        ("Hello", 0.0, 0.4),
        ("there.", 0.5, 1.2),
        ("New", 1.3, 1.6),
        ("idea", 1.7, 2.0),
        ("later", 5.0, 5.4),
    ]
    cues = captions.cues(_transcript(words))
    assert [c.lines for c in cues] == [("Hello there.",), ("New idea",), ("later",)]
    assert cues[-1].end - cues[-1].start >= captions.MIN_CUE_SECONDS  # a short last word stays readable


def test_timestamps_and_subrip():
    assert captions.timestamp(3725.0429) == "01:02:05.043"
    srt = captions.vtt_to_srt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n")
    assert srt == "1\n00:00:01,000 --> 00:00:02,000\nhi\n"


def test_tags_fit_youtube_limit_counting_quotes_and_commas():
    syllables = ["ka", "lo", "mi", "ner", "tus", "vel", "dra", "quin", "so", "pax"]
    vocabulary = [a + b + c for a in syllables for b in syllables for c in syllables[:3]]
    text = ". ".join(" ".join(vocabulary[i : i + 3]) for i in range(0, len(vocabulary), 2))
    tags = keywords.keyword_tags(text, "A title", "A description", fixed_tags=["ws26", "WS26", "<b>x</b>"])
    assert tags[0] == "ws26"
    assert "WS26" not in tags  # case-insensitive duplicates dropped
    assert not any("<" in t or ">" in t for t in tags)
    assert keywords.tags_length(tags) <= 500
    assert keywords.tags_length(tags) > 400  # the budget is used, not left empty
    assert keywords.tag_length("two words") == 11
    assert keywords.tags_length(["a b", "c"]) == 5 + 1 + 1


def test_engine_settings_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match=r"transcription\.engine: must be one of"):
        engine_from_settings({"engine": "whisper"})
    with pytest.raises(ValueError, match=r"transcription\.model_dir"):
        engine_from_settings({"engine": "local", "model_dir": str(tmp_path / "missing")})
    with pytest.raises(ValueError, match="unknown option"):
        engine_from_settings({"engine": "aws", "bucket": "x"})


def test_local_engine_refuses_languages_its_model_lacks():
    with pytest.raises(TranscriptionFailed, match=r"transcription\.language"):
        PocketsphinxEngine().transcribe(SPEECH, "de-DE")


def test_media_without_audio_is_a_clear_failure(tmp_path):
    silent = tmp_path / "silent.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64:rate=5",
            "-t",
            "1",
            str(silent),
        ],
        check=True,
    )
    with pytest.raises(TranscriptionFailed, match="no audio stream"):
        PocketsphinxEngine().transcribe(silent)
