"""Talkbot demo data on the stand-ins: one conference, its queue, sheets and one uploaded talk.

``seed(stack, workdir)`` creates the raw and library buckets, the SQS queue with the raw bucket's
``s3:ObjectCreated:*`` notification, the talk sheet (in the Google Sheets stand-in) and the speaker sheet
(a CSV in S3) and the private ledger bucket, then uploads a generated 20 s talk named per the convention. ``variables(stack)`` returns
the ``talkbot_config`` Variable for that setup. The helpers are also what the end-to-end tests use to
build their own isolated conferences.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid as uuid_module
from pathlib import Path
from typing import Any

DEMO_SLUG = "ws26"
DEMO_RAW_BUCKET = "talkbot-demo-raw"
DEMO_LIBRARY_BUCKET = "talkbot-demo-library"
DEMO_SHEETS_BUCKET = "talkbot-demo-sheets"
DEMO_LEDGER_BUCKET = "talkbot-demo-private"
DEMO_LEDGER = f"s3://{DEMO_LEDGER_BUCKET}/talkbot/"
DEMO_QUEUE = "talkbot-demo-uploads"
DEMO_SPREADSHEET_ID = "talkbotDemoTalks2026"
DEMO_UUID = "f0bd7b1d-d8b3-4a3c-803f-d32f56e08638"
DEMO_SECOND_UUID = "5d1c7a0e-2b44-4c1e-9a57-3f8e2d6b9c10"
TALK_HEADER = ["UUID", "TITLE", "DESCRIPTION", "SPEAKERS", "EXCLUDE", "STATUS", "LINK", "NOTES"]
SPEAKER_HEADER = ["NAME", "EMAIL"]


def create_queue(stack: Any, name: str, raw_bucket: str, prefix: str = "") -> str:
    """An SQS queue receiving the bucket's ``s3:ObjectCreated:*`` events (under ``prefix``); its URL."""
    sqs, s3 = stack.boto3_client("sqs"), stack.boto3_client("s3")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _bucket(s3, raw_bucket)
    queue_config: dict[str, Any] = {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}
    if prefix:
        queue_config["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
    s3.put_bucket_notification_configuration(
        Bucket=raw_bucket, NotificationConfiguration={"QueueConfigurations": [queue_config]}
    )
    return url


def create_conference(
    stack: Any,
    *,
    slug: str,
    raw_bucket: str,
    library_bucket: str,
    talks: list[dict[str, str]],
    speakers: list[tuple[str, str]],
    talk_sheet_in_google: bool,
    sheets_bucket: str | None = None,
    raw_prefix: str = "",
    publisher: str = "youtube",
    playlist_id: str | None = "PLtalkbotdemo",
    spreadsheet_id: str | None = None,
    extra_columns: tuple[str, ...] | list[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Buckets and sheets of one conference; returns its ``talkbot_config`` entry.

    ``talks`` are dicts of talk sheet columns (UUID, TITLE, DESCRIPTION, SPEAKERS, EXCLUDE…, plus
    ``extra_columns``); the talk
    sheet goes to the Google stand-in when ``talk_sheet_in_google``, else next to the speaker sheet as
    ``s3://<sheets_bucket>/<slug>/talks.csv``. Speakers are (name, email) rows, always an S3 CSV.
    """
    s3 = stack.boto3_client("s3")
    sheets_bucket = sheets_bucket or f"{library_bucket}-sheets"
    for bucket in (raw_bucket, library_bucket, sheets_bucket):
        _bucket(s3, bucket)
    header = [*TALK_HEADER, *extra_columns]  # e.g. YOUTUBE_LINK, FACEBOOK_LINK
    talk_rows = [header] + [[talk.get(column, "") for column in header] for talk in talks]
    if talk_sheet_in_google:
        spreadsheet_id = spreadsheet_id or f"{slug}Talks{uuid_module.uuid4().hex[:8]}".replace("-", "")
        stack.google.put_sheet(spreadsheet_id, talk_rows, tab="Talks")
        talk_sheet = f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit#gid=0"
    else:
        talk_sheet = put_csv(s3, sheets_bucket, f"{slug}/talks.csv", talk_rows)
    speaker_sheet = put_csv(s3, sheets_bucket, f"{slug}/speakers.csv", [SPEAKER_HEADER, *map(list, speakers)])
    conference = {
        "raw_bucket": raw_bucket,
        "raw_prefix": raw_prefix,
        "library_bucket": library_bucket,
        "library_prefix": f"{slug}/",
        "talk_sheet": talk_sheet,
        "speaker_sheet": speaker_sheet,
        "publisher": publisher,
        "youtube": {"playlist_id": playlist_id, "privacy_status": "unlisted", "category_id": "28"},
        "fade_seconds": 3,
        "email": {"from": f"talks@{slug}.example.org", "subject": 'Your talk "{title}" is online'},
    }
    conference.update(extra)
    return conference


def put_csv(s3: Any, bucket: str, key: str, rows: list[list[str]]) -> str:
    """Write rows as a CSV object; returns its ``s3://`` location."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue().encode(), ContentType="text/csv")
    return f"s3://{bucket}/{key}"


def read_csv(s3: Any, location: str) -> list[list[str]]:
    """Rows of an ``s3://`` CSV."""
    bucket, _, key = location[len("s3://") :].partition("/")
    return list(csv.reader(io.StringIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())))


def talk_key(uuid: str, start: str = "000002", end: str = "000014", prefix: str = "") -> str:
    """A conforming raw key: ``<prefix>room1_<uuid>_<start>_<end>.mp4``."""
    return f"{prefix}room1_{uuid}_{start}_{end}.mp4"


def upload_talk(stack: Any, workdir: Path, bucket: str, key: str, duration: float = 20.0) -> str:
    """Generate a talk recording (test pattern + tone, small) and upload it; returns its ETag."""
    from devstack.media import make_talk_video

    source = Path(workdir) / f"talk-{int(duration)}s.mp4"
    if not source.exists():
        make_talk_video(source, duration=duration, size="320x180", fps=25)
    s3 = stack.boto3_client("s3")
    s3.upload_file(str(source), bucket, key)
    return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def _bucket(s3: Any, name: str) -> None:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)


def _demo_conference(stack: Any) -> dict[str, Any]:
    return create_conference(
        stack,
        slug=DEMO_SLUG,
        raw_bucket=DEMO_RAW_BUCKET,
        library_bucket=DEMO_LIBRARY_BUCKET,
        sheets_bucket=DEMO_SHEETS_BUCKET,
        talk_sheet_in_google=True,
        spreadsheet_id=DEMO_SPREADSHEET_ID,
        talks=[
            {
                "UUID": DEMO_UUID,
                "TITLE": "Pipelines that never publish twice",
                "DESCRIPTION": "How an SQS listener, a ledger and deterministic run ids make uploads exactly-once.",
                "SPEAKERS": "Ada Lovelace; Alan Turing",
                "NOTES": "keynote",
            },
            {
                "UUID": DEMO_SECOND_UUID,
                "TITLE": "Fades, stings and watermarks in one ffmpeg pass",
                "DESCRIPTION": "Upload this one yourself (see the README).",
                "SPEAKERS": "Grace Hopper",
            },
        ],
        speakers=[
            ("Ada Lovelace", "ada@example.org"),
            ("Alan Turing", "alan@example.org"),
            ("Grace Hopper", "grace@example.org"),
        ],
    )


_seeded: dict[int, dict[str, Any]] = {}


def seed(stack: Any, workdir: Path) -> list[str]:
    """Create the demo conference and upload one talk; returns lines to print."""
    workdir = Path(workdir)
    queue_url = create_queue(stack, DEMO_QUEUE, DEMO_RAW_BUCKET)
    conference = _demo_conference(stack)
    _bucket(stack.boto3_client("s3"), DEMO_LEDGER_BUCKET)
    _seeded[id(stack)] = {
        "queue_url": queue_url,
        "ledger": DEMO_LEDGER,
        "conferences": {DEMO_SLUG: conference},
    }
    key = talk_key(DEMO_UUID)
    upload_talk(stack, workdir, DEMO_RAW_BUCKET, key)
    spreadsheet = stack.google.sheets_dir / conference["talk_sheet"].split("/d/")[1].split("/")[0]
    return [
        "talkbot:",
        f"  uploaded s3://{DEMO_RAW_BUCKET}/{key} → talkbot_sqs_listener → talkbot_publish_video",
        f"  upload another: aws --endpoint-url {stack.aws_endpoint} s3 cp <file.mp4> "
        f"s3://{DEMO_RAW_BUCKET}/{talk_key(DEMO_SECOND_UUID)}",
        f"  library:  aws --endpoint-url {stack.aws_endpoint} s3 ls s3://{DEMO_LIBRARY_BUCKET}/{DEMO_SLUG}/",
        f"  ledger (private):  {DEMO_LEDGER}ledger/",
        f"  talk sheet (Google stand-in CSV): {spreadsheet}/Talks.csv",
        f"  speaker sheet: {conference['speaker_sheet']}",
        f"  YouTube uploads: {stack.google.youtube_dir}",
        f"  emails: {stack.smtp.save_dir or 'the SMTP sink'} (one .eml per email)",
    ]


def variables(stack: Any) -> dict[str, str]:
    """Airflow Variables for the demo: ``talkbot_config``."""
    config = _seeded.get(id(stack))
    if config is None:
        raise RuntimeError("devstack.demo_talkbot.seed(stack, workdir) must run before variables(stack)")
    return {"talkbot_config": json.dumps(config)}
