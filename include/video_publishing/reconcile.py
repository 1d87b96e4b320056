"""Task bodies of ``talkbot_reconcile``: one function per task, named after its task id.

``trigger_publish`` is a mapped ``TriggerDagRunOperator`` over what ``find_unfinished`` returns.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from include.common import s3
from include.video_publishing.config import Conference, TalkbotConfig, load_config
from include.video_publishing.events import trigger_kwargs
from include.video_publishing.ledger import FINISHED, Ledger
from include.video_publishing.naming import (
    TalkNameError,
    is_video_key,
    normalise_etag,
    object_identity,
    parse_talk_key,
    publish_run_id,
)

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
