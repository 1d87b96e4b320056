"""Talk and speaker sheet lookups (the sheet contents are given; reading them is include.common's job)."""

from __future__ import annotations

import pytest

from include.video_publishing import talks
from include.video_publishing.config import Conference

CONFERENCE = Conference(
    slug="ws26",
    raw_bucket="raw",
    library_bucket="lib",
    talk_sheet="s3://sheets/talks.csv",
    speaker_sheet="s3://sheets/speakers.csv",
)
HEADER = ["uuid ", "Title", "DESCRIPTION", "Speakers", "EXCLUDE", "STATUS", "LINK", "Room"]


@pytest.fixture
def sheets(monkeypatch):
    """Serve rows per sheet location; records writes."""
    content: dict[str, list[list[str]]] = {}
    writes: list[tuple[str, list]] = []
    monkeypatch.setattr(talks, "read_rows", lambda location: content[str(location)])
    monkeypatch.setattr(
        talks, "update_cells", lambda location, updates: writes.append((str(location), updates))
    )
    return content, writes


def _row(uuid, title="T", speakers="Ada", exclude="", description="D"):
    return [uuid, title, description, speakers, exclude, "", "", "A1"]


def test_find_talk_reads_columns_case_insensitively(sheets):
    content, _ = sheets
    content["s3://sheets/talks.csv"] = [
        HEADER,
        _row("OTHER"),
        _row("abc-1", "Hello", "Ada; Alan ,Grace", "Yes"),
    ]
    talk = talks.find_talk(CONFERENCE, "ABC-1")
    assert talk == talks.Talk("ABC-1", "Hello", "D", ("Ada", "Alan", "Grace"), excluded=True)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([HEADER, _row("x")], "talk abc-1 is not in the talk sheet s3://sheets/talks.csv"),
        ([HEADER, _row("abc-1"), _row("abc-1")], "appears 2 times"),
        ([HEADER, _row("abc-1", exclude="maybe")], "EXCLUDE is 'maybe'"),
        ([HEADER, _row("abc-1", title="")], "has no TITLE"),
        ([["UUID", "TITLE", "SPEAKERS"], ["abc-1", "T", "Ada"]], "lacks column(s) STATUS, LINK"),
        ([], "lacks column(s) UUID, TITLE, SPEAKERS, STATUS, LINK"),
    ],
)
def test_find_talk_explains_what_is_wrong(sheets, rows, message):
    content, _ = sheets
    content["s3://sheets/talks.csv"] = rows
    with pytest.raises(talks.TalkLookupError, match=message.replace("(", r"\(").replace(")", r"\)")):
        talks.find_talk(CONFERENCE, "abc-1")


def test_speaker_addresses_match_names_loosely_and_report_missing(sheets):
    content, _ = sheets
    content["s3://sheets/speakers.csv"] = [
        ["Name", "Email"],
        ["Ada  Lovelace", " ada@example.org "],
        ["Grace Hopper", ""],
        ["ada lovelace", "second@example.org"],
    ]
    found = talks.speaker_addresses(CONFERENCE, ["ADA LOVELACE", "Grace Hopper", "Nobody"])
    assert found == {"ADA LOVELACE": "ada@example.org", "Grace Hopper": None, "Nobody": None}


def test_write_status_targets_the_uuid_row_found_at_write_time(sheets):
    content, writes = sheets
    content["s3://sheets/talks.csv"] = [HEADER, _row("zzz"), _row("abc-1")]
    talks.write_status(CONFERENCE, "abc-1", "published", "https://y")
    talks.write_status(CONFERENCE, "missing", "processing")
    assert writes == [("s3://sheets/talks.csv", [(3, "STATUS", "published"), (3, "LINK", "https://y")])]
