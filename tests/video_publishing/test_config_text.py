"""The talkbot_config contract, the YouTube texts and the speaker email."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from include.video_publishing.config import ConfigError, parse_config
from include.video_publishing.text import (
    join_names,
    speaker_email,
    speakers_sentence,
    split_speakers,
    youtube_description,
    youtube_title,
)
from include.video_publishing.youtube import next_attempt

VALID = {
    "queue_url": "https://sqs.eu-west-1.amazonaws.com/123/talk-uploads",
    "conferences": {
        "ws26": {
            "raw_bucket": "raw",
            "raw_prefix": "",
            "library_bucket": "lib",
            "library_prefix": "ws26/",
            "talk_sheet": "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=0",
            "speaker_sheet": "s3://sheets/speakers.csv",
            "publisher": "youtube",
            "youtube": {"playlist_id": "PL1", "privacy_status": "unlisted", "category_id": "28"},
            "fade_seconds": 3,
            "email": {"from": "talks@example.org", "subject": 'Your talk "{title}" is online'},
        },
        "ws26-keynotes": {
            "raw_bucket": "raw",
            "raw_prefix": "keynotes/",
            "library_bucket": "lib",
            "talk_sheet": "s3://sheets/keynotes.csv",
            "speaker_sheet": "s3://sheets/speakers.csv",
            "publisher": "library",
        },
    },
}


def test_valid_config_and_conference_matching():
    config = parse_config(json.dumps(VALID))
    ws26 = config.conference("ws26")
    assert ws26.youtube.playlist_id == "PL1"
    assert ws26.fade_seconds == 3.0
    assert ws26.library_key("abc") == "ws26/abc.mp4"
    assert config.conference_for("raw", "room1/x_abc_000001_000002.mp4") is ws26
    assert config.conference_for("raw", "keynotes/x_abc_000001_000002.mp4").slug == "ws26-keynotes"
    assert config.conference_for("other", "x.mp4") is None
    assert config.conference("ws26-keynotes").publisher == "library"


def test_destinations_quota_cap_and_update_subject():
    config = parse_config(json.dumps(VALID))
    ws26, keynotes = config.conference("ws26"), config.conference("ws26-keynotes")
    # one name stays valid; the defaults
    assert (ws26.publishers, ws26.publisher) == (("youtube",), "youtube")
    assert keynotes.publishers == ("library",)
    assert ws26.youtube.max_quota_wait_hours == 48.0
    assert ws26.email.update_subject == 'Updated recording of your talk "{title}"'
    assert ws26.facebook.rate_limit_wait_seconds is None
    # a list, in order; fractions of hours; a subject of its own for recuts
    changed = _with("conferences.ws26.publisher", ["facebook", "youtube", "library"])
    changed["conferences"]["ws26"]["youtube"]["max_quota_wait_hours"] = 0.25
    changed["conferences"]["ws26"]["email"]["update_subject"] = "New cut: {title}"
    changed["conferences"]["ws26"]["facebook"] = {"rate_limit_wait_seconds": 30}
    ws26 = parse_config(changed).conference("ws26")
    assert (ws26.publishers, ws26.publisher) == (("facebook", "youtube", "library"), "facebook")
    assert ws26.youtube.max_quota_wait_hours == 0.25
    assert ws26.email.update_subject == "New cut: {title}"
    assert ws26.facebook.rate_limit_wait_seconds == 30
    del changed["conferences"]["ws26"]["publisher"]
    assert parse_config(changed).conference("ws26").publishers == ("youtube",)


def test_email_lists_every_link_and_recut_wording():
    links = {
        "youtube": "https://www.youtube.com/watch?v=abc",
        "facebook": "https://www.facebook.com/1/videos/2/",
    }
    message = speaker_email(
        to_name="Ada", to_address="ada@example.org", sender="talks@example.org", subject="s",
        title="Engines", links=links, speakers=["Ada"],
    )  # fmt: skip
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert 'Your talk "Engines" is now online' in plain
    assert "YouTube: https://www.youtube.com/watch?v=abc" in plain
    assert "Facebook: https://www.facebook.com/1/videos/2/" in plain
    assert 'href="https://www.facebook.com/1/videos/2/"' in html
    assert "updated" not in plain.lower()

    updated = speaker_email(
        to_name="Ada", to_address="ada@example.org", sender="talks@example.org", subject="s",
        title="Engines", links={"youtube": links["youtube"]}, speakers=["Ada"], updated=True,
    )  # fmt: skip
    plain = updated.get_body(("plain",)).get_content()
    assert 'An updated recording of your talk "Engines" is now online' in plain
    assert "replaces the earlier one" in plain
    assert "no longer" not in plain  # on_replace may be "keep": the email must not claim the old one is gone
    assert "Please share this link from now on" in plain
    assert "\nhttps://www.youtube.com/watch?v=abc\n" in plain  # one link: shown bare


def _with(path: str, value):
    broken = copy.deepcopy(VALID)
    node = broken
    *parents, last = path.split(".")
    for name in parents:
        node = node[name]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("queue_url", KeyError, "talkbot_config.queue_url: required field is missing"),
        ("conferences", {}, "talkbot_config.conferences: at least one conference"),
        ("conferences.ws26.raw_bucket", KeyError, "talkbot_config.conferences.ws26.raw_bucket: required"),
        ("conferences.ws26.raw_bucket", 7, "conferences.ws26.raw_bucket: must be str, got int"),
        (
            "conferences.ws26.publisher",
            "vimeo",
            "conferences.ws26.publisher: must be one of 'youtube', 'facebook', 'library', got 'vimeo'",
        ),
        (
            "conferences.ws26.publisher",
            ["youtube", "tiktok"],
            "conferences.ws26.publisher: must be one of 'youtube', 'facebook', 'library', got 'tiktok'",
        ),
        ("conferences.ws26.publisher", [], "conferences.ws26.publisher: must be a destination name or"),
        ("conferences.ws26.publisher", ["youtube", "youtube"], "publisher: lists a destination twice"),
        (
            "conferences.ws26.on_replace",
            "hide",
            "conferences.ws26.on_replace: must be one of 'private', 'keep', 'delete'",
        ),
        ("conferences.ws26.youtube.max_quota_wait_hours", 0, "youtube.max_quota_wait_hours: must be > 0"),
        ("conferences.ws26.youtube.max_quota_wait_hours", "2", "max_quota_wait_hours: must be int or float"),
        ("conferences.ws26.email.update_subject", "{name}", "email.update_subject: only the placeholder"),
        ("conferences.ws26.youtube.privacy_status", "secret", "conferences.ws26.youtube.privacy_status"),
        ("conferences.ws26.fade_seconds", -1, "conferences.ws26.fade_seconds: must be >= 0"),
        ("conferences.ws26.fade_seconds", "3", "conferences.ws26.fade_seconds: must be int or float"),
        ("conferences.ws26.sting", "http://x/sting.mp4", "conferences.ws26.sting: must be an s3://"),
        (
            "conferences.ws26.email.subject",
            "Hi {name}",
            "conferences.ws26.email.subject: only the placeholder",
        ),
        ("conferences.ws26.youtube", [], "conferences.ws26.youtube: must be dict"),
        ("conferences.ws26.youtube.chunk_size_kb", 300, "chunk_size_kb: must be a multiple of 256"),
        ("ledger", "talk-ledger/prefix/", "talkbot_config.ledger: must be an s3://bucket/key location"),
        ("ledger", "s3:///prefix/", "talkbot_config.ledger: no bucket in"),
        ("ledger", 5, "talkbot_config.ledger: must be str, got int"),
    ],
)
def test_bad_config_names_the_field(path, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("'", "'")):
        parse_config(_with(path, value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://private-ledger/talkbot/", "s3://private-ledger/talkbot/"),
        ("s3://private-ledger/talkbot", "s3://private-ledger/talkbot/"),
        ("s3://private-ledger", "s3://private-ledger/"),
    ],
)
def test_ledger_location_is_one_private_prefix(value, expected):
    assert parse_config({**VALID, "ledger": value}).ledger == expected
    assert parse_config(VALID).ledger is None  # the old location, during the transition


def test_config_must_be_json():
    with pytest.raises(ConfigError, match="talkbot_config: not valid JSON"):
        parse_config("{nope")


def test_speaker_lists_and_sentences():
    assert split_speakers(" Ada Lovelace; Alan Turing ,, Grace Hopper ;") == [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
    ]
    assert join_names(["A"]) == "A"
    assert join_names(["A", "B"]) == "A and B"
    assert join_names(["A", "B", "C"]) == "A, B and C"
    assert speakers_sentence(["A"]) == "Speakers: A."
    assert speakers_sentence(["A", "B"]) == "Speakers: A and B."
    assert speakers_sentence(["A", "B", "C"]) == "Speakers: A, B and C."
    assert speakers_sentence([]) == ""


def test_youtube_description_and_title_are_safe():
    text = youtube_description("  Why <script> tags matter.\n", ["Ada", "Alan"])
    assert text == "Why ‹script› tags matter.\n\nSpeakers: Ada and Alan."
    assert youtube_description("", ["Ada"]) == "Speakers: Ada."
    assert len(youtube_description("é" * 4000, ["Ada"]).encode()) <= 5000
    assert youtube_title("A <b>bold</b>\n title") == "A ‹b›bold‹/b› title"
    assert len(youtube_title("x" * 300)) == 100


def test_speaker_email_has_text_and_escaped_html_alternative():
    message = speaker_email(
        to_name="Zoë <O'Brien>",
        to_address="zoe@example.org",
        sender="talks@example.org",
        subject='Your talk "<Rust> & You" is online',
        title="<Rust> & You",
        links={"youtube": "https://www.youtube.com/watch?v=abc&t=1"},
        speakers=["Zoë <O'Brien>", "Sam"],
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.org"
    assert parsed["To"].addresses[0].display_name == "Zoë <O'Brien>"
    plain = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert 'Your talk "<Rust> & You" is now online' in plain
    assert "https://www.youtube.com/watch?v=abc&t=1" in plain
    assert "You gave it with Sam." in plain
    assert "&lt;Rust&gt; &amp; You" in html
    assert "<Rust>" not in html
    assert "Zoë &lt;O&#x27;Brien&gt;" in html
    assert 'href="https://www.youtube.com/watch?v=abc&amp;t=1"' in html


def test_quota_waits():
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # 04:00 in Los Angeles
    assert next_attempt("quotaExceeded", now) == datetime(2026, 11, 22, 8, 5, tzinfo=UTC)  # 00:05 PST
    assert next_attempt("uploadLimitExceeded", now) == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    assert next_attempt("quotaExceeded", now, wait_seconds=30) == datetime(
        2026, 11, 21, 12, 0, 30, tzinfo=UTC
    )
