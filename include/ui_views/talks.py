"""What the Talks views show: every talk of a conference's sheet joined with its ledger summary.

A page reads two objects: the talk sheet (one Google Sheets request or one S3 CSV, cached for
``SHEET_TTL_S`` seconds) and the conference's talk summary (``summaries``; revalidated by ETag), never
one ledger record per talk. Talks in the sheet without any ledger record are ``not uploaded``; ledger
records whose uuid is not (or no longer) in the sheet are still listed, marked as such.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from include.common.sheets import column_index, read_rows
from include.ui_views import summaries
from include.video_publishing.config import Conference, TalkbotConfig, parse_config
from include.video_publishing.ledger import SECRET_STATE, Ledger, destination_states
from include.video_publishing.talks import TRUE_WORDS, talk_location
from include.video_publishing.text import split_speakers

log = logging.getLogger(__name__)

STATUSES = (
    "not uploaded",
    "uploaded",
    "processing",
    "processed",
    "published",
    "excluded",
    "superseded",
    "failed",
)
STATUS_COLOURS = {
    "not uploaded": "#9e9e9e",
    "uploaded": "#64b5f6",
    "processing": "#1e88e5",
    "processed": "#7e57c2",
    "published": "#2e7d32",
    "excluded": "#795548",
    "superseded": "#bdbdbd",
    "failed": "#c62828",
}
SHEET_TTL_S = 30.0


def load_config() -> TalkbotConfig:
    """``talkbot_config`` as the API server sees it (environment or metadata database)."""
    from airflow.models.variable import Variable

    return parse_config(Variable.get("talkbot_config"))


def ledger_of(config: TalkbotConfig, conference: Conference, client: Any) -> Ledger:
    """The ledger holding ``conference``'s records, as the pipeline finds it (``talkbot_config.ledger``,
    else the library bucket's old location)."""
    return Ledger.at(config.ledger, conference.library_bucket, client=client)


@dataclass
class TalkRow:
    """One talk as a row of the conference table."""

    uuid: str
    title: str
    speakers: tuple[str, ...]
    status: str
    in_sheet: bool
    reached: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (destination, state, url)
    last_error: str = ""
    last_error_at: str = ""
    run_id: str = ""
    updated_at: str = ""
    record: dict[str, Any] | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return STATUS_COLOURS.get(self.status, "#9e9e9e")


@dataclass
class ConferenceView:
    slug: str
    rows: list[TalkRow]
    warnings: list[str]

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            found[row.status] = found.get(row.status, 0) + 1
        return found

    def filtered(self, status: str = "", query: str = "") -> list[TalkRow]:
        """Rows with ``status`` (any when empty) whose title or a speaker contains ``query``."""
        needle = query.strip().casefold()
        return [
            row
            for row in self.rows
            if (not status or row.status == status)
            and (
                not needle
                or needle in row.title.casefold()
                or any(needle in s.casefold() for s in row.speakers)
                or needle == row.uuid.casefold()
            )
        ]


class SheetCache:
    """Talk sheet rows per location for ``ttl`` seconds (people edit sheets; pages must stay fast)."""

    def __init__(self, ttl: float = SHEET_TTL_S, reader: Callable[..., list[list[str]]] = read_rows) -> None:
        self.ttl, self.reader = ttl, reader
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, list[list[str]]]] = {}

    def rows(self, conference: Conference) -> list[list[str]]:
        location = talk_location(conference)
        cached = self._items.get(str(location))
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        rows = self.reader(location)
        with self._lock:
            self._items[str(location)] = (time.monotonic(), rows)
        return rows


def talk_summary(
    client: Any, cache: summaries.SummaryCache, config: TalkbotConfig, conference: Conference
) -> dict[str, Any]:
    """The conference's talk summary; rebuilt from the ledger when it does not exist yet."""
    ledger = ledger_of(config, conference, client)
    key = summaries.talk_summary_key(ledger.prefix, conference.slug)
    found = cache.read(client, ledger.bucket, key)
    if found is None:
        log.info("no talk summary at s3://%s/%s; rebuilding it from the ledger", ledger.bucket, key)
        summaries.rebuild_talk_summaries(ledger, ensure=[conference.slug])
        found = cache.read(client, ledger.bucket, key)
    return found or {"records": {}}


def conference_view(
    client: Any,
    cache: summaries.SummaryCache,
    sheets: SheetCache,
    config: TalkbotConfig,
    slug: str,
) -> ConferenceView:
    """Every talk of the sheet (in sheet order) plus ledger-only talks, with their state."""
    conference = config.conference(slug)
    warnings: list[str] = []
    by_uuid = group_versions(talk_summary(client, cache, config, conference).get("records", {}))
    try:
        table = sheets.rows(conference)
    except Exception as err:
        log.warning("talk sheet of %s unreadable", slug, exc_info=True)
        warnings.append(f"The talk sheet could not be read ({type(err).__name__}: {err}); showing ledger records only.")  # fmt: skip
        table = []
    columns = column_index(table[0]) if table else {}
    rows: list[TalkRow] = []
    seen: set[str] = set()
    for cells in table[1:]:

        def cell(name: str, cells: list[str] = cells) -> str:
            return cells[columns[name]].strip() if name in columns else ""

        uuid = cell("UUID")
        if not uuid or uuid.lower() in seen:
            continue
        seen.add(uuid.lower())
        excluded = cell("EXCLUDE").lower() in TRUE_WORDS
        versions = by_uuid.get(uuid.lower(), [])
        rows.append(
            talk_row(
                uuid,
                title=cell("TITLE"),
                speakers=tuple(split_speakers(cell("SPEAKERS"))),
                in_sheet=True,
                excluded=excluded,
                versions=versions,
            )
        )
    for uuid, versions in by_uuid.items():
        if uuid not in seen:
            uuid_text = versions[0].get("uuid", uuid)
            rows.append(
                talk_row(uuid_text, title="", speakers=(), in_sheet=False, excluded=False, versions=versions)
            )
    return ConferenceView(slug=slug, rows=rows, warnings=warnings)


def group_versions(records: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Summary entries per uuid (lower case), the current version first: the newest upload that was not
    superseded (or the newest when all were), then the others newest first."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in records.values():
        grouped.setdefault(str(entry.get("uuid", "")).lower(), []).append(entry)
    for versions in grouped.values():
        versions.sort(
            key=lambda e: (
                e.get("status") != "superseded",
                e.get("created_at") or "",
                e.get("updated_at") or "",
            ),
            reverse=True,
        )
    return grouped


def talk_row(
    uuid: str,
    *,
    title: str,
    speakers: tuple[str, ...],
    in_sheet: bool,
    excluded: bool,
    versions: list[dict[str, Any]],
) -> TalkRow:
    record = versions[0] if versions else None
    if record is None:
        status = "excluded" if excluded else "not uploaded"
        return TalkRow(uuid=uuid, title=title, speakers=speakers, status=status, in_sheet=in_sheet)
    status = record.get("status") or "uploaded"
    reached: dict[str, str] = {}
    for event in record.get("history") or []:
        if event.get("status"):
            reached.setdefault(event["status"], event.get("at", ""))
    if record.get("created_at"):
        reached = {"uploaded": record["created_at"], **reached}
    return TalkRow(
        uuid=uuid,
        title=title or record.get("title", "") or "(not in the talk sheet)",
        speakers=speakers or tuple(record.get("speakers") or ()),
        status=status,
        in_sheet=in_sheet,
        reached=list(reached.items()),
        links=destination_links(record),
        last_error=record.get("last_error") or "",
        last_error_at=record.get("last_error_at") or "",
        run_id=record.get("run_id") or (record.get("run_ids") or [""])[-1],
        updated_at=record.get("updated_at") or "",
        record=record,
        versions=versions,
    )


def destination_links(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(destination, state, url) for each place the talk went (old records: YouTube by video id, else the
    library link)."""
    found = []
    for name, state in sorted(destination_states(record).items()):
        url = state.get("link") or ""
        if not url and name == "youtube" and state.get("video_id"):
            url = f"https://www.youtube.com/watch?v={state['video_id']}"
        status = state.get("status") or ("uploaded" if state.get("video_id") else "")
        found.append((name, str(status), str(url)))
    if not found and record.get("link"):
        found.append(("library", record.get("status") or "", str(record["link"])))
    return found


def destination_details(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each destination's state for the talk page, without the open upload sessions (bearer credentials)."""
    return {
        name: {k: v for k, v in state.items() if k not in SECRET_STATE}
        for name, state in sorted(destination_states(record).items())
    }


def timeline(record: dict[str, Any]) -> list[dict[str, str]]:
    """Dated events of one record, oldest first: statuses, emails, YouTube steps, waits and errors."""
    events: list[dict[str, str]] = []
    if record.get("created_at"):
        events.append({"at": record["created_at"], "kind": "status", "what": "uploaded"})
    for event in record.get("history") or []:
        if event.get("at") and event.get("status"):
            events.append({"at": event["at"], "kind": "status", "what": event["status"]})
    for address, email in (record.get("emails") or {}).items():
        if isinstance(email, dict) and email.get("at"):
            events.append({"at": email["at"], "kind": "email", "what": f"{email.get('state')}: {email.get('name') or ''} <{address}>"})  # fmt: skip
    for name, state in destination_states(record).items():
        if state.get("upload_started_at"):
            events.append({"at": state["upload_started_at"], "kind": name, "what": "upload started"})
        replaced = state.get("replaced") or {}
        if replaced.get("at"):
            events.append({"at": replaced["at"], "kind": name, "what": f"previous video {replaced.get('video_id')}: {replaced.get('action')}"})  # fmt: skip
    for wait in record.get("quota_waits") or []:
        if isinstance(wait, dict) and wait.get("until"):
            events.append({"at": wait["until"][:19] + "+00:00", "kind": wait.get("destination") or "youtube", "what": f"waiting ({wait.get('reason')})"})  # fmt: skip
    if record.get("last_error_at"):
        events.append({"at": record["last_error_at"], "kind": "error", "what": str(record.get("last_error") or "")})  # fmt: skip
    return sorted(events, key=lambda e: e["at"])


def find_run(
    client: Any, cache: summaries.SummaryCache, config: TalkbotConfig, run_id: str
) -> tuple[str, dict[str, Any]] | None:
    """(conference slug, summary entry) of the record a publish run worked on, or None."""
    for slug, conference in config.conferences.items():
        for entry in talk_summary(client, cache, config, conference).get("records", {}).values():
            if run_id == entry.get("run_id") or run_id in (entry.get("run_ids") or ()):
                return slug, entry
    return None
