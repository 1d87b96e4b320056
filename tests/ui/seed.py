"""Talk and dataset records for the UI tests, written through the pipelines' own write paths.

Talks go through ``Ledger.update`` (so the conference summary is kept by the ledger's own call into
``include.ui_views.summaries``); sync runs write ``report.json``/``plan.csv`` as ``write_report`` does and
hand the report and the destination listing to ``note_sync_report``, as ``write_report`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.demo_talkbot import create_conference
from include.dataset_sync.planner import parse_destination
from include.ui_views.summaries import SYNC_RUNS_PREFIX, note_sync_report
from include.video_publishing.ledger import Ledger, now
from include.video_publishing.naming import object_identity, publish_run_id

VIDEO_SECONDS = 6.0


@dataclass
class SeededTalks:
    slug: str
    config: dict[str, Any]
    statuses: dict[str, str]  # uuid -> status the view must show
    titles: dict[str, str]
    run_ids: dict[str, str]  # uuid -> publish run id
    library_bucket: str
    raw_bucket: str
    ledger: Ledger
    published_uuid: str
    keys: dict[str, str] = field(default_factory=dict)


def _uuid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


TALKS = [
    # (n, title, speakers, exclude, final status or None when never uploaded)
    (1, "Pipelines that never publish twice", "Ada Lovelace; Alan Turing", "", "published"),
    (2, "Rendering at scale with ffmpeg", "Grace Hopper", "", "failed"),
    (3, "Sheets as a database, carefully", "Edsger Dijkstra", "", "processing"),
    (4, "A talk nobody should see", "Barbara Liskov", "1", "excluded"),
    (5, "Dataset splits that never move", "Donald Knuth; Grace Hopper", "", None),
    (6, "Idempotency in practice", "Margaret Hamilton", "", None),
]


def seed_talks(stack: Any, workdir: Path, slug: str) -> SeededTalks:
    """One conference: six talks in an S3 CSV sheet, four of them with ledger records."""
    from devstack.media import make_talk_video

    s3 = stack.boto3_client("s3")
    raw, library = f"{slug}-raw", f"{slug}-library"
    talks = [
        {"UUID": _uuid(n), "TITLE": title, "SPEAKERS": speakers, "EXCLUDE": exclude}
        for n, title, speakers, exclude, _ in TALKS
    ]
    speakers = [("Ada Lovelace", "ada@example.org"), ("Alan Turing", "alan@example.org")]
    conference = create_conference(
        stack, slug=slug, raw_bucket=raw, library_bucket=library, talks=talks, speakers=speakers,
        talk_sheet_in_google=False,
    )  # fmt: skip
    s3.create_bucket(Bucket=f"{slug}-private")
    location = f"s3://{slug}-private/talkbot/"
    ledger = Ledger.at(location, library, client=s3)
    legacy = Ledger(library, client=s3)  # where records lived before talkbot_config.ledger existed
    seeded = SeededTalks(
        slug=slug,
        config={"queue_url": "http://127.0.0.1/queue", "ledger": location, "conferences": {slug: conference}},
        statuses={},
        titles={},
        run_ids={},
        library_bucket=library,
        raw_bucket=raw,
        ledger=ledger,
        published_uuid=_uuid(1),
    )
    for n, title, _, _, status in TALKS:
        uuid = _uuid(n)
        seeded.titles[uuid] = title
        seeded.statuses[uuid] = status or "not uploaded"
        if status is None:
            continue
        if status == "published":  # an earlier upload, replaced before it finished, in the old location
            _record(legacy, slug, uuid, raw=raw, etag="0" * 32, steps=["superseded"], conference=conference)
        seeded.run_ids[uuid], seeded.keys[uuid] = _record(
            ledger, slug, uuid, raw=raw, etag=f"{n:032x}", steps=_steps(status), conference=conference
        )
    video = Path(workdir) / "ui-talk.mp4"
    if not video.exists():
        make_talk_video(video, duration=VIDEO_SECONDS, size="320x180", fps=25)
    s3.upload_file(str(video), library, f"{slug}/{seeded.published_uuid}.mp4")
    return seeded


def _steps(status: str) -> list[str]:
    return {
        "published": ["processing", "processed", "youtube", "emails", "published"],
        "failed": ["processing", "error", "failed"],
        "processing": ["processing"],
        "excluded": ["excluded"],
    }[status]


def _record(
    ledger: Ledger, slug: str, uuid: str, *, raw: str, etag: str, steps: list[str], conference: dict
) -> tuple[str, str]:
    key = f"room1_{uuid}_000002_000014.mp4"
    identity = object_identity(raw, key, etag)
    run_id = publish_run_id(uuid, raw, key, etag)

    def register(record: dict[str, Any]) -> None:
        record.update(
            conference=slug, bucket=raw, key=key, etag=etag, version_id="", run_id=run_id,
            library_key=f"{conference['library_prefix']}{uuid}.mp4",
        )  # fmt: skip
        record.setdefault("run_ids", []).append(run_id)

    ledger.update(uuid, identity, register)
    for step in steps:

        def change(record: dict[str, Any], step: str = step) -> None:
            if step == "youtube":  # a recut on two destinations, as publish_video records it
                record["destinations"] = {
                    "youtube": {
                        "video_id": f"vid{uuid[:6]}",
                        "link": f"https://www.youtube.com/watch?v=vid{uuid[:6]}",
                        "status": "published",
                        "playlist_id": "PLtalkbotdemo",
                        "playlist_item_id": "pli1",
                        "upload_session": "https://upload.example/secret",
                        "replaced": {"video_id": "oldvid", "action": "private", "at": now()},
                    },
                    "facebook": {
                        "video_id": "9001",
                        "link": "https://www.facebook.com/page/videos/9001/",
                        "status": "published",
                        "facebook_session": {"upload_session_id": "secret-fb"},
                        "replaced": {"video_id": "8001", "action": "private", "at": now()},
                    },
                }
                record["link"] = f"https://www.youtube.com/watch?v=vid{uuid[:6]}"
            elif step == "emails":
                record["emails"] = {
                    "ada@example.org": {
                        "name": "Ada Lovelace",
                        "state": "sent",
                        "at": now(),
                        "kind": "updated",
                    },
                    "alan@example.org": {
                        "name": "Alan Turing",
                        "state": "failed",
                        "smtp": "550 5.1.1 mailbox unavailable",
                        "at": now(),
                        "kind": "updated",
                    },
                }
            elif step == "error":
                record["last_error"] = "render: ffmpeg exited with 1: moov atom not found"
                record["last_error_at"] = now()
            else:
                record["status"] = step

        ledger.update(uuid, identity, change)
    return run_id, key


# ------------------------------------------------------------------------------------------ datasets
CLASSES = ("Common", "Uncommon", "Rare", "Epic", "Legendary")
SPLITS = ("train", "validation", "test")


def dataset_keys(episodes: dict[str, int]) -> list[str]:
    """Destination keys of ``episodes`` (episode id → frames), spread over splits and classes."""
    keys = []
    for episode, frames in episodes.items():
        season, ep = episode[:3], episode[3:]
        for i in range(frames):
            split = SPLITS[0 if i % 10 < 7 else 1 if i % 10 < 9 else 2]
            keys.append(f"tuttle_twins/ML/{split}/{CLASSES[i % 5]}/TT_{season}_{ep}_FRM-{i:07d}.jpg")
    return keys


def sync_report(
    run_id: str, episodes: dict[str, dict[str, Any]], held: list[dict], invalid_rows: dict | None = None
) -> dict:
    totals = {k: sum(int(e.get(k, 0)) for e in episodes.values()) for k in ("unchanged", "copied", "moved", "deleted", "missing")}  # fmt: skip
    plan = {
        "run_id": run_id, "dry_run": False, "existing_objects": 300, "managed_objects": 300,
        "unmanaged_objects": 0, "target_frames": 300, "copies": totals["copied"] + totals["moved"],
        "deletes": totals["deleted"] + totals["moved"], "delete_fraction": 0.05,
        "guard": {"tripped": False, "allowed_deletes": 60, "message": ""},
        "totals": {**totals, "kept_without_source": 0}, "missing_examples": [],
        "protected_episodes": [], "protected_seasons": [], "plan_key": f"{SYNC_RUNS_PREFIX}{run_id}/plan.csv",
    }  # fmt: skip
    return {
        "run_id": run_id,
        "problems": [],
        "dry_run": False,
        "planned": True,
        "plan": plan,
        "episodes": episodes,
        "episode_details": [],
        "failures": [],
        "held": held,
        "approval": {
            "decision": "rejected",
            "responded_by": "admin",
            "responded_at": "2026-11-23T09:30:00+00:00",
        }
        if held
        else None,
        "invalid_rows": invalid_rows or {},
        "datasets_after_run": {},
    }


def seed_dataset(stack: Any, bucket: str, runs: list[dict[str, Any]], episodes: dict[str, int]) -> None:
    """Write each run's ``report.json`` and ``plan.csv`` and fold it into the dataset summary, the way
    ``write_report`` does, the last one with the listing of ``episodes``."""
    s3 = stack.boto3_client("s3")
    s3.create_bucket(Bucket=bucket)
    dest = parse_destination(dataset_keys(episodes))
    for number, report in enumerate(runs, start=1):
        prefix = f"{SYNC_RUNS_PREFIX}{report['run_id']}/"
        s3.put_object(Bucket=bucket, Key=f"{prefix}plan.csv", Body=b"step,action,episode,frame,source,key\n")
        s3.put_object(Bucket=bucket, Key=f"{prefix}report.json", Body=json.dumps(report).encode())
        note_sync_report(s3, bucket, report, dest if number == len(runs) else None)
