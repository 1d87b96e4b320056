"""The demo story: seed S01, sync, edit one cell in a sheet's CSV, sync again, exactly that frame moves."""

from __future__ import annotations

import csv

import pytest

from devstack import demo_dataset_sync as demo
from include.dataset_sync import layout

pytestmark = pytest.mark.e2e
CONF = {
    "seasons": [],
    "episodes": [],
    "dry_run": False,
    "allow_mass_delete": False,
    "max_delete_fraction": 0.2,
}


def listing(s3) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=demo.BUCKET, Prefix=layout.ML_PREFIX)
    return {o["Key"] for page in pages for o in page.get("Contents", ())}


def test_demo_season_syncs_and_a_sheet_edit_moves_exactly_that_frame(stack, s3, run_dag, tmp_path):
    lines = demo.seed(stack, tmp_path)
    sheet = next(stack.google.sheets_dir.glob("tuttle-twins-s01-e01-demo/Sheet1.csv"))
    assert any(str(sheet) in line for line in lines)
    head = s3.get_object(
        Bucket=demo.BUCKET,
        Key=f"tuttle_twins/S01E01/default_eng/v1/frames/thumbnails/{demo.frame_number('E01', 0)}.jpg",
    )
    assert head["Body"].read(2) == b"\xff\xd8"  # a real JPEG

    run = run_dag("tuttle_twins_dataset_sync", conf={**CONF, "bucket": demo.BUCKET})
    assert run.state == "success"
    before = listing(s3)
    assert len(before) == 180 - 3 + 120 - 2  # every 60th frame is unclassified

    rows = list(csv.reader(sheet.open()))
    column = rows[0].index("JONNY's RECLASSIFICATION")
    frame = rows[11][2]
    old = next(k for k in before if k.endswith(f"/{frame}.jpg"))
    new_class = next(c for c in demo.CLASSES if f"/{c}/" not in old)
    rows[11][column] = new_class.upper()
    with sheet.open("w", newline="") as out:
        csv.writer(out).writerows(rows)

    run = run_dag("tuttle_twins_dataset_sync", conf={**CONF, "bucket": demo.BUCKET})
    assert run.state == "success"
    after = listing(s3)
    split = layout.parse_dest_key(old)[0]
    assert before - after == {old}
    assert after - before == {layout.dest_key(split, new_class, frame)}
