"""Task bodies of ``talkbot_reconcile``: one function per task, named after its task id.

``trigger_publish`` is a mapped ``TriggerDagRunOperator`` over what ``find_unfinished`` returns.
``sync_talk_sheets`` makes the destinations follow the talk sheet after publishing: edited
TITLE/DESCRIPTION/SPEAKERS are sent to the published videos, EXCLUDE makes them private, and talks with
nothing in the raw bucket get STATUS ``not uploaded``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from include.common import s3
from include.common.sheets import column_index, read_rows, update_cells
from include.video_publishing import talks
from include.video_publishing.config import Conference, TalkbotConfig, load_config
from include.video_publishing.events import trigger_kwargs
from include.video_publishing.ledger import FINISHED, Ledger, destination_states, now
from include.video_publishing.naming import (
    TalkNameError,
    is_video_key,
    normalise_etag,
    object_identity,
    parse_talk_key,
    publish_run_id,
)
from include.video_publishing.text import split_speakers

log = logging.getLogger(__name__)

MAX_TRIGGERS_PER_RUN = 1000  # below Airflow's 1024 mapped-task limit


def find_unfinished(
    interval_end: datetime | None, min_age_minutes: int, dry_run: bool
) -> list[dict[str, Any]]:
    """Trigger kwargs for every conforming raw upload without a finished ledger record.

    Only uploads older than both the run's data interval end (so a backfilled run sees what that day saw)
    and ``min_age_minutes`` (fresh uploads are the listener's) count. Uses the listener's deterministic run
    ids, so an upload whose run exists is skipped by the trigger. Read-only; ``dry_run`` only logs.
    """
    now_utc = datetime.now(UTC)
    cutoff = min(interval_end or now_utc, now_utc - timedelta(minutes=min_age_minutes))
    log.info("considering uploads last modified before %s", cutoff.isoformat(timespec="seconds"))
    config = load_config()
    client = s3.client()
    found: list[dict[str, Any]] = []
    for conference in config.conferences.values():
        found.extend(_unfinished_in(client, config, conference, cutoff))
    for item in found:
        where = s3.url(item["conf"]["bucket"], item["conf"]["key"])
        log.info("%s: %s", "would trigger" if dry_run else "trigger", where)
    log.info("%d upload(s) without a finished ledger record", len(found))
    if len(found) > MAX_TRIGGERS_PER_RUN:
        log.warning("triggering the first %d; the next run takes the rest", MAX_TRIGGERS_PER_RUN)
    return [] if dry_run else found[:MAX_TRIGGERS_PER_RUN]


def _unfinished_in(
    client: Any, config: TalkbotConfig, conference: Conference, cutoff: datetime
) -> list[dict]:
    ledger = Ledger.at(config.ledger, conference.library_bucket, client=client)
    found = []
    scanned = 0
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=conference.raw_bucket, Prefix=conference.raw_prefix
    )
    for page in pages:
        for obj in page.get("Contents", []):
            scanned += 1
            key = obj["Key"]
            if obj["LastModified"] > cutoff or not is_video_key(key):
                continue
            if config.conference_for(conference.raw_bucket, key) is not conference:
                continue  # a longer raw_prefix of another conference owns it
            try:
                uuid = parse_talk_key(key).uuid
            except TalkNameError as err:
                log.info("skipping %s: %s", s3.url(conference.raw_bucket, key), err)
                continue
            etag = normalise_etag(obj["ETag"])
            record = ledger.read(uuid, object_identity(conference.raw_bucket, key, etag))
            if record and record.get("status") in FINISHED:
                continue
            run_id = publish_run_id(uuid, conference.raw_bucket, key, etag)
            found.append(trigger_kwargs(conference.raw_bucket, key, etag, None, run_id))
    log.info(
        "conference %s: scanned %d object(s) in %s",
        conference.slug, scanned, s3.url(conference.raw_bucket, conference.raw_prefix),
    )  # fmt: skip
    return found


YOUTUBE_CONN_ID = "youtube_default"
FACEBOOK_CONN_ID = "facebook_default"
NOT_UPLOADED = "not uploaded"


class SheetSyncFailed(Exception):
    """Some talks could not be brought in line with the sheet; the others were (the message names them)."""


@dataclass(frozen=True)
class SheetTalk:
    """One talk sheet row as reconcile reads it (cells stripped; EXCLUDE left raw for a per-talk error)."""

    uuid: str
    title: str
    description: str
    speakers: tuple[str, ...]
    exclude: str
    status: str


@dataclass(frozen=True)
class Published:
    """The published version of a talk: its version record's identity, the record, its destinations."""

    identity: str
    record: dict[str, Any]
    destinations: dict[str, dict[str, Any]]


def sync_talk_sheets(dry_run: bool) -> dict[str, int]:
    """Bring every conference's published videos and STATUS in line with its talk sheet.

    For each sheet talk: a published talk whose TITLE/DESCRIPTION/SPEAKERS differ from what its
    destinations were given (the version record's ``metadata``) gets the new title and description on
    YouTube (whole snippet, tags and category kept) and Facebook, then the ledger records them — so an
    unchanged sheet makes no API call, and nothing is re-uploaded or emailed. A published talk marked
    EXCLUDE gets its videos private (YouTube) / hidden (Facebook), STATUS ``excluded`` in sheet and ledger;
    the library copy stays. A talk with an empty STATUS and no recording in the raw bucket gets STATUS
    ``not uploaded`` (never written over another status).

    One talk failing is logged and the others continue; the task then fails naming the failed talks (the
    DAG's alert names the task). Retries are safe: every step converges. ``dry_run`` only logs.
    Returns counts per outcome.
    """
    config = load_config()
    client = s3.client()
    counts: dict[str, int] = {"updated": 0, "excluded": 0, NOT_UPLOADED: 0, "unchanged": 0, "failed": 0}
    failed: list[str] = []
    for conference in config.conferences.values():
        try:
            failed.extend(_sync_conference(client, config, conference, dry_run, counts))
        except Exception as err:
            log.exception("conference %s: talk sheet not reconciled", conference.slug)
            failed.append(f"conference {conference.slug} ({type(err).__name__}: {err})")
    log.info("talk sheets reconciled%s: %s", " (dry run)" if dry_run else "",
             ", ".join(f"{n} {what}" for what, n in counts.items()))  # fmt: skip
    if failed:
        raise SheetSyncFailed(f"{len(failed)} talk(s) not reconciled: {'; '.join(failed)}")
    return counts


def _sync_conference(
    client: Any, config: TalkbotConfig, conference: Conference, dry_run: bool, counts: dict[str, int]
) -> list[str]:
    """Reconcile one conference's sheet; returns a description of each talk that failed."""
    ledger = Ledger.at(config.ledger, conference.library_bucket, client=client)
    sheet = _sheet_talks(conference)
    recorded = _recorded_uuids(client, config, conference)
    failed: list[str] = []
    not_uploaded: list[str] = []
    for n, talk in enumerate(sheet, start=1):
        log.info("conference %s: talk %d of %d: %s", conference.slug, n, len(sheet), talk.uuid)
        try:
            published = published_version(ledger, talk.uuid)
            if published is not None:
                outcome = _sync_published(ledger, conference, talk, published, dry_run)
            elif not talk.status and talk.uuid.lower() not in recorded:
                not_uploaded.append(talk.uuid)
                outcome = NOT_UPLOADED
            else:
                outcome = "unchanged"
        except Exception as err:
            log.exception("talk %s (%r) failed", talk.uuid, talk.title)
            failed.append(f"{talk.uuid} ({type(err).__name__}: {err})")
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    if not_uploaded:
        if dry_run:
            log.info("would write STATUS=%s for %s", NOT_UPLOADED, ", ".join(not_uploaded))
        else:
            _write_not_uploaded(conference, not_uploaded)
    return failed


def _sheet_talks(conference: Conference) -> list[SheetTalk]:
    """Every talk sheet row with a UUID (a uuid listed twice is skipped with a warning: ambiguous)."""
    location = talks.talk_location(conference)
    rows = read_rows(location)
    columns = column_index(rows[0] if rows else [])
    missing = [c for c in ("UUID", "TITLE", "STATUS") if c not in columns]
    if missing:
        raise talks.TalkLookupError(f"{location}: header lacks column(s) {', '.join(missing)}")

    def cell(row: list[str], name: str) -> str:
        return row[columns[name]].strip() if name in columns else ""

    found = [
        SheetTalk(
            uuid=cell(row, "UUID"),
            title=cell(row, "TITLE"),
            description=cell(row, "DESCRIPTION"),
            speakers=tuple(split_speakers(cell(row, "SPEAKERS"))),
            exclude=cell(row, "EXCLUDE").lower(),
            status=cell(row, "STATUS"),
        )
        for row in rows[1:]
        if cell(row, "UUID")
    ]
    seen: dict[str, int] = {}
    for talk in found:
        seen[talk.uuid.lower()] = seen.get(talk.uuid.lower(), 0) + 1
    for uuid, times in seen.items():
        if times > 1:
            log.warning("talk %s appears %d times in %s; left alone", uuid, times, location)
    return [t for t in found if seen[t.uuid.lower()] == 1]


def _recorded_uuids(client: Any, config: TalkbotConfig, conference: Conference) -> set[str]:
    """Lower-cased uuids of every conforming recording in the conference's raw bucket (keys a longer
    raw_prefix of another conference owns are that conference's)."""
    uuids: set[str] = set()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=conference.raw_bucket, Prefix=conference.raw_prefix
    )
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            owner = config.conference_for(conference.raw_bucket, key)
            if not is_video_key(key) or owner is None or owner.slug != conference.slug:
                continue
            try:
                uuids.add(parse_talk_key(key).uuid.lower())
            except TalkNameError:
                continue
    return uuids


def published_version(ledger: Ledger, uuid: str) -> Published | None:
    """The talk's published version: the talk record's ``published`` entry, else the newest version record
    with status ``published`` (as CONTRACT.md agrees between helpers); None when nothing is published.

    A version this task excluded keeps the talk record's ``published`` entry, so it is found again (and
    left alone); found through the fallback it no longer is (status ``excluded``), which is as good.
    """
    entry = ledger.read_talk(uuid).get("published")
    if entry and entry.get("identity"):
        record = ledger.read(uuid, entry["identity"]) or {}
        destinations = destination_states(record)
        for name, state in (entry.get("destinations") or {}).items():
            destinations[name] = {**state, **destinations.get(name, {})}
        return Published(entry["identity"], record, destinations)
    records = [r for r in ledger.versions(uuid) if r.get("status") == "published" and r.get("identity")]
    if not records:
        return None
    record = records[-1]
    return Published(record["identity"], record, destination_states(record))


def _sync_published(
    ledger: Ledger, conference: Conference, talk: SheetTalk, published: Published, dry_run: bool
) -> str:
    """Exclusion or metadata update of one published talk; returns the outcome for the counts."""
    if talk.exclude not in talks.TRUE_WORDS | talks.FALSE_WORDS:
        raise talks.TalkLookupError(f"EXCLUDE is {talk.exclude!r}; use 1/yes/true, or leave it blank")
    if published.record.get("status") == "excluded":
        if talk.status != "excluded" and not dry_run:
            talks.write_status(conference, talk.uuid, "excluded")
        return "unchanged"
    if talk.exclude in talks.TRUE_WORDS:
        exclude_published(ledger, conference, talk, published, dry_run)
        return "excluded"
    if not talk.title:
        raise talks.TalkLookupError("TITLE is empty in the talk sheet; the videos keep their title")
    wanted = {"title": talk.title, "description": talk.description, "speakers": list(talk.speakers)}
    metadata = published.record.get("metadata") or {}
    if all(metadata.get(name) == value for name, value in wanted.items()):
        return "unchanged"
    update_published_metadata(ledger, conference, talk, published, dry_run)
    return "updated"


def update_published_metadata(
    ledger: Ledger, conference: Conference, talk: SheetTalk, published: Published, dry_run: bool
) -> None:
    """Send the sheet's title and description (built as publishing builds them) to each destination, then
    record them as the version record's ``metadata`` (other fields there, such as ``tags``, are kept)."""
    from include.video_publishing.text import youtube_description, youtube_title

    title, description = youtube_title(talk.title), youtube_description(talk.description, list(talk.speakers))
    videos = {d: s["video_id"] for d, s in published.destinations.items() if s.get("video_id")}
    log.info("talk %s: sheet changed since publishing; %s title %r on %s", talk.uuid,
             "would set" if dry_run else "setting", title, ", ".join(videos) or "no video")  # fmt: skip
    if dry_run:
        return
    if "youtube" in videos:
        from include.video_publishing import youtube

        client = youtube.build_client(YOUTUBE_CONN_ID)
        youtube.update_snippet(
            client, videos["youtube"], title=title, description=description,
            quota_wait_seconds=conference.youtube.quota_wait_seconds,
        )  # fmt: skip
    if "facebook" in videos:
        from include.video_publishing import facebook

        facebook.update_video(
            _facebook_client(conference), videos["facebook"], title=title, description=description
        )

    def change(record: dict[str, Any]) -> None:
        metadata = record.setdefault("metadata", {})
        metadata.update(title=talk.title, description=talk.description, speakers=list(talk.speakers))
        metadata["synced_at"] = now()

    ledger.update(talk.uuid, published.identity, change)


def exclude_published(
    ledger: Ledger, conference: Conference, talk: SheetTalk, published: Published, dry_run: bool
) -> None:
    """EXCLUDE on a published talk: its YouTube video private, its Facebook video hidden, STATUS
    ``excluded`` in the ledger (so the next reconcile calls nothing) and the sheet. The library copy stays.

    Each destination's step is recorded (``destinations.<d>.excluded``) as soon as it is done, so a retry
    after a partial failure repeats nothing that already happened.
    """
    videos = {d: s for d, s in published.destinations.items() if s.get("video_id")}
    log.info("talk %s is marked EXCLUDE: %s its videos on %s", talk.uuid,
             "would hide" if dry_run else "hiding", ", ".join(videos) or "no destination")  # fmt: skip
    if dry_run:
        return
    for destination, state in videos.items():
        if state.get("excluded"):
            continue
        video_id = state["video_id"]
        if destination == "youtube":
            from include.video_publishing import youtube

            try:
                youtube.set_privacy(
                    youtube.build_client(YOUTUBE_CONN_ID), video_id, "private",
                    conference.youtube.quota_wait_seconds,
                )  # fmt: skip
            except LookupError:
                log.warning("YouTube video %s of talk %s is gone already", video_id, talk.uuid)
            action = "private"
        elif destination == "facebook":
            from include.video_publishing import facebook

            facebook.hide_video(_facebook_client(conference), video_id)
            action = "hidden"
        else:
            continue
        _note_destination(ledger, talk.uuid, published.identity, destination, action)
        log.info("talk %s: %s video %s is now %s", talk.uuid, destination, video_id, action)

    def change(record: dict[str, Any]) -> None:
        record["status"] = "excluded"
        record["excluded_at"] = now()

    ledger.update(talk.uuid, published.identity, change)
    talks.write_status(conference, talk.uuid, "excluded")


def _note_destination(ledger: Ledger, uuid: str, identity: str, destination: str, action: str) -> None:
    def change(record: dict[str, Any]) -> None:
        destinations = record.setdefault("destinations", {})
        if destination not in destinations and isinstance(record.get(destination), dict):
            destinations[destination] = dict(record[destination])  # an old record's top-level field
        destinations.setdefault(destination, {})["excluded"] = {"action": action, "at": now()}

    ledger.update(uuid, identity, change)


def _facebook_client(conference: Conference) -> Any:
    from include.video_publishing import facebook

    return facebook.GraphClient.from_connection(
        FACEBOOK_CONN_ID, rate_limit_wait_seconds=conference.facebook.rate_limit_wait_seconds
    )


def _write_not_uploaded(conference: Conference, uuids: list[str]) -> None:
    """STATUS ``not uploaded`` for these talks, found again by UUID in a fresh read and only where STATUS is
    still empty (a run may have started meanwhile), in one write."""
    location = talks.talk_location(conference)
    rows = read_rows(location)
    columns = column_index(rows[0] if rows else [])
    wanted = {u.lower() for u in uuids}
    updates = [
        (n, "STATUS", NOT_UPLOADED)
        for n, row in enumerate(rows[1:], start=2)
        if row[columns["UUID"]].strip().lower() in wanted and not row[columns["STATUS"]].strip()
    ]
    update_cells(location, updates)
    log.info("conference %s: STATUS=%s for %d talk(s)", conference.slug, NOT_UPLOADED, len(updates))
