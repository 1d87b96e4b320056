"""Demo data for ``tuttle_twins_dataset_sync``: a small season S01 a person can play with.

``seed(stack, workdir)`` creates bucket ``media.angel-nft.com`` with two episodes of
generated JPEG frames (ffmpeg's test pattern, 160x90, a few KB each) under the source
layout, one sheet per episode in the Google Sheets stand-in, and the season manifest
``tuttle_twins/manifests/S01-episodes.json`` pointing at those sheets. Trigger the DAG,
edit a class in a sheet's CSV, trigger again: exactly the edited frames move.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from include.dataset_sync.sheet import SHEET_COLUMNS

BUCKET = "media.angel-nft.com"
SEASON = "S01"
EPISODES = {"E01": 180, "E02": 120}  # frames per episode
CLASSES = ("Common", "Uncommon", "Rare", "Epic", "Legendary")
HEADER = list(SHEET_COLUMNS)
CHARACTERS = ("Emily", "Ethan", "Grandpa Gene", "Space Tunnel", "Time Machine")


def frame_number(episode: str, index: int, fps: int = 24) -> str:
    """``TT_S01_E01_FRM-00-00-08-12``: hours, minutes, seconds, frame within the second."""
    seconds, frame = divmod(index, fps)
    minutes, seconds = divmod(seconds, 60)
    return f"TT_{SEASON}_{episode}_FRM-00-{minutes:02d}-{seconds:02d}-{frame:02d}"


def generate_jpegs(folder: Path, count: int) -> list[Path]:
    """``count`` small, all-different JPEGs from ffmpeg's test pattern (one ffmpeg call)."""
    import imageio_ffmpeg

    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("f_*.jpg"))
    if len(existing) >= count:
        return existing[:count]
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x90:rate=24",
            "-frames:v",
            str(count),
            "-q:v",
            "6",
            str(folder / "f_%05d.jpg"),
        ],
        check=True,
    )
    return sorted(folder.glob("f_*.jpg"))[:count]


def sheet_rows(episode: str, count: int) -> list[list[str]]:
    """A plausible episode sheet: the model's guesses, some human overrides, a few gaps."""
    rows = [HEADER]
    for i in range(count):
        unsupervised = CLASSES[(i * 7) % 5]
        supervised = CLASSES[(i * 3) % 5] if i % 4 == 0 else ""
        reclass = CLASSES[(i + 2) % 5] if i % 25 == 0 else ""
        if i % 60 == 59:
            unsupervised = ""  # unclassified: reported as invalid, left out of the datasets
        metadata = "[" + ", ".join(CHARACTERS[(i + k) % 5] for k in range(1 + i % 3)) + "]"
        rows.append(["", str(i), frame_number(episode, i), unsupervised, supervised, reclass, metadata])
    return rows


def seed(stack: Any, workdir: Path) -> list[str]:
    """Seed season S01 (sources, Google sheets, manifest); returns lines to print for the user."""
    s3 = stack.boto3_client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)
    jpegs = generate_jpegs(Path(workdir) / "dataset_sync_frames", max(EPISODES.values()))
    uploads: list[tuple[str, Path]] = []
    manifest_episodes = []
    sheet_files = []
    for episode, count in EPISODES.items():
        prefix = f"tuttle_twins/{SEASON}{episode}/default_eng/v1/frames/thumbnails/"
        uploads += [(f"{prefix}{frame_number(episode, i)}.jpg", jpegs[i]) for i in range(count)]
        sheet_id = f"tuttle-twins-{SEASON.lower()}-{episode.lower()}-demo"
        link = stack.google.put_sheet(sheet_id, sheet_rows(episode, count), tab="Sheet1")
        sheet_files.append(stack.google.sheets_dir / sheet_id / "Sheet1.csv")
        manifest_episodes.append(
            {
                "episode_code": episode,
                # The seed's own link form; the gid names the tab.
                "GOOGLE_SPREADSHEET_URL": link.replace("/spreadsheets/", "/google_spreadsheets/"),
                "IMG_SIZE": "thumbnails",
            }
        )
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1].read_bytes()), uploads))
    manifest_key = f"tuttle_twins/manifests/{SEASON}-episodes.json"
    s3.put_object(
        Bucket=BUCKET,
        Key=manifest_key,
        Body=json.dumps({"season_code": SEASON, "episodes": manifest_episodes}, indent=2).encode(),
        ContentType="application/json",
    )
    aws = f"aws --endpoint-url {stack.aws_endpoint}"
    return [
        "dataset sync (tuttle_twins_dataset_sync):",
        f"  {len(uploads)} source frames in s3://{BUCKET}/tuttle_twins/{SEASON}E0*/default_eng/v1/frames/thumbnails/",
        f"  manifest: s3://{BUCKET}/{manifest_key}",
        *(f"  sheet (Google stand-in CSV, edit me): {path}" for path in sheet_files),
        "  trigger the DAG, then change a class in a sheet (e.g. a JONNY's RECLASSIFICATION cell) and trigger again:",
        "  the run's log and report list exactly the frames that moved.",
        "  empty a sheet (keep its header) and trigger again: that episode is held and the run waits for",
        "  approve_held_changes in Browse → Required Actions; the other episode syncs meanwhile.",
        f"  datasets: {aws} s3 ls --recursive s3://{BUCKET}/tuttle_twins/ML/",
        f"  reports:  {aws} s3 ls --recursive s3://{BUCKET}/tuttle_twins/sync_runs/",
    ]
