"""The talk and speaker sheets of a conference.

Talk sheet columns (header row, case-insensitive, extra columns left alone): ``UUID``, ``TITLE``,
``DESCRIPTION``, ``SPEAKERS`` (names separated by ``,`` or ``;``), ``EXCLUDE`` (1/yes/true; blank = 0),
``STATUS`` and ``LINK`` (written by the pipeline; LINK is the first destination's link), and optionally
``YOUTUBE_LINK`` / ``FACEBOOK_LINK`` / ``LIBRARY_LINK`` (each destination's link, written only when the
column exists). Speaker sheet: ``NAME``, ``EMAIL``.

Rows are found by ``UUID`` every time they are written, never by a remembered row number, because people
sort and insert rows while videos are processing. Writes go through ``include.common.sheets.update_cells``
(raw values; S3 CSVs rewritten with a conditional put), so writing the same status twice is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from include.common.sheets import SheetLocation, column_index, read_rows, update_cells
from include.video_publishing.config import Conference
from include.video_publishing.text import split_speakers

log = logging.getLogger(__name__)

TRUE_WORDS = frozenset({"1", "yes", "y", "true", "x"})
FALSE_WORDS = frozenset({"", "0", "no", "n", "false"})


class TalkLookupError(ValueError):
    """The talk sheet cannot answer for this upload (unknown uuid, missing column, bad EXCLUDE value)."""


@dataclass(frozen=True)
class Talk:
    """One talk sheet row."""

    uuid: str
    title: str
    description: str
    speakers: tuple[str, ...]
    excluded: bool


def talk_location(conference: Conference) -> SheetLocation:
    return SheetLocation.parse(conference.talk_sheet, tab=conference.talk_sheet_tab)


def speaker_location(conference: Conference) -> SheetLocation:
    return SheetLocation.parse(conference.speaker_sheet, tab=conference.speaker_sheet_tab)


def find_talk(conference: Conference, uuid: str) -> Talk:
    """The talk sheet row for ``uuid``; TalkLookupError when absent, ambiguous or unreadable."""
    location = talk_location(conference)
    rows = read_rows(location)
    columns = _require(rows, ("UUID", "TITLE", "SPEAKERS", "STATUS", "LINK"), location)
    matches = [row for row in rows[1:] if row[columns["UUID"]].strip().lower() == uuid.lower()]
    if not matches:
        raise TalkLookupError(f"talk {uuid} is not in the talk sheet {location}")
    if len(matches) > 1:
        raise TalkLookupError(f"talk {uuid} appears {len(matches)} times in the talk sheet {location}")
    row = matches[0]

    def cell(name: str) -> str:
        return row[columns[name]].strip() if name in columns else ""

    exclude = cell("EXCLUDE").lower()
    if exclude not in TRUE_WORDS | FALSE_WORDS:
        raise TalkLookupError(f"talk {uuid}: EXCLUDE is {exclude!r}; use 1/yes/true, or leave it blank")
    title = cell("TITLE")
    if not title:
        raise TalkLookupError(f"talk {uuid} has no TITLE in the talk sheet {location}")
    return Talk(
        uuid=uuid,
        title=title,
        description=cell("DESCRIPTION"),
        speakers=tuple(split_speakers(cell("SPEAKERS"))),
        excluded=exclude in TRUE_WORDS,
    )


def speaker_addresses(conference: Conference, names: list[str] | tuple[str, ...]) -> dict[str, str | None]:
    """Email address of each named speaker (None when the speaker sheet has none); names match
    case- and space-insensitively."""
    location = speaker_location(conference)
    rows = read_rows(location)
    columns = _require(rows, ("NAME", "EMAIL"), location)
    book: dict[str, str] = {}
    for row in rows[1:]:
        name, email = _normal(row[columns["NAME"]]), row[columns["EMAIL"]].strip()
        if name and email:
            book.setdefault(name, email)
    return {name: book.get(_normal(name)) for name in names}


def write_status(conference: Conference, uuid: str, status: str, link: str | None = None) -> None:
    """Set STATUS (and LINK when given) on the talk's row."""
    location = talk_location(conference)
    rows = read_rows(location)
    columns = _require(rows, ("UUID", "STATUS", "LINK"), location)
    numbers = [
        n for n, row in enumerate(rows[1:], start=2) if row[columns["UUID"]].strip().lower() == uuid.lower()
    ]
    if len(numbers) != 1:
        log.warning("talk %s: %d rows in %s, STATUS=%s not written", uuid, len(numbers), location, status)
        return
    updates = [(numbers[0], "STATUS", status)]
    if link is not None:
        updates.append((numbers[0], "LINK", link))
    update_cells(location, updates)
    log.info("talk %s: STATUS=%s%s in %s", uuid, status, f", LINK={link}" if link else "", location)


def link_column(destination: str) -> str:
    """The talk sheet column of one destination's link: ``YOUTUBE_LINK``, ``FACEBOOK_LINK``…"""
    return f"{destination.upper()}_LINK"


def write_links(conference: Conference, uuid: str, links: dict[str, str]) -> list[str]:
    """Write each destination's link into its ``<DESTINATION>_LINK`` column, only where the column exists.

    Returns the columns written (none when the sheet has no such column: nothing is read-modified then).
    """
    location = talk_location(conference)
    rows = read_rows(location)
    columns = _require(rows, ("UUID",), location)
    wanted = [(link_column(d), link) for d, link in links.items() if link_column(d) in columns]
    if not wanted:
        return []
    numbers = [
        n for n, row in enumerate(rows[1:], start=2) if row[columns["UUID"]].strip().lower() == uuid.lower()
    ]
    if len(numbers) != 1:
        log.warning("talk %s: %d rows in %s, links not written", uuid, len(numbers), location)
        return []
    update_cells(location, [(numbers[0], column, link) for column, link in wanted])
    log.info("talk %s: %s in %s", uuid, ", ".join(f"{c}={v}" for c, v in wanted), location)
    return [column for column, _ in wanted]


def _require(rows: list[list[str]], names: tuple[str, ...], location: SheetLocation) -> dict[str, int]:
    columns = column_index(rows[0] if rows else [])
    missing = [n for n in names if n not in columns]
    if missing:
        raise TalkLookupError(f"{location}: header lacks column(s) {', '.join(missing)}")
    return columns


def _normal(name: str) -> str:
    return " ".join(name.split()).casefold()


def write_columns(conference: Conference, uuid: str, values: dict[str, str]) -> list[str]:
    """Write optional columns (``CAPTIONS``, ``KEYWORDS``) on the talk's row, only those the sheet has.

    For columns people add when they want them: a sheet without them is not read-modified at all. Returns
    the columns written. Idempotent (the same values again on a retry).
    """
    location = talk_location(conference)
    rows = read_rows(location)
    columns = _require(rows, ("UUID",), location)
    wanted = [(name.upper(), value) for name, value in values.items() if name.upper() in columns]
    if not wanted:
        return []
    numbers = [
        n for n, row in enumerate(rows[1:], start=2) if row[columns["UUID"]].strip().lower() == uuid.lower()
    ]
    if len(numbers) != 1:
        log.warning("talk %s: %d rows in %s, %s not written", uuid, len(numbers), location, values.keys())
        return []
    update_cells(location, [(numbers[0], column, value) for column, value in wanted])
    log.info("talk %s: %s in %s", uuid, ", ".join(c for c, _ in wanted), location)
    return [column for column, _ in wanted]
