"""End to end: the DAG against moto and the Google Sheets stand-in, over real HTTP.

One season, two episodes: E01's sheet is a CSV export in S3, E02's is a Google sheet read
with GSheetsHook. The same bucket goes through an initial load, a no-change re-run, a
targeted run and a full run after people edited both sheets.
"""

from __future__ import annotations

import pytest

from include.dataset_sync import layout
from tests.dataset_sync.conftest import expected_key, frame_name, sheet_row, source_key

pytestmark = pytest.mark.e2e
DAG_ID = "tuttle_twins_dataset_sync"
CLASSES = ["Common", "Uncommon", "Rare", "Epic", "Legendary"]


def e01_rows(overrides: dict[int, list[str]] | None = None, drop=(), add=()) -> list[list[str]]:
    rows = {n: sheet_row("S01E01", n, unsup=CLASSES[n % 5].lower()) for n in range(1, 31)}
    rows[3] = sheet_row("S01E01", 3, unsup="Common", sup="Rare")
    rows[5] = sheet_row("S01E01", 5, unsup="Mythic")  # invalid class
    rows[6] = sheet_row("S01E01", 6)  # no class
    rows[31] = sheet_row("S01E01", 31, unsup="Epic")  # its source jpg does not exist
    rows.update(overrides or {})
    for n in add:
        rows[n] = sheet_row("S01E01", n, unsup="Legendary")
    out = [rows[n] for n in sorted(rows) if n not in drop]
    out.append(sheet_row("S01E01", 7, unsup="Common"))  # a duplicate of row 7: first one wins
    return out


def e02_rows(reclass: dict[int, str] | None = None) -> list[list[str]]:
    reclass = reclass or {}
    return [sheet_row("S01E02", n, sup="Uncommon", reclass=reclass.get(n, "")) for n in range(1, 21)]


def e01_classes() -> dict[int, str]:
    classes = {n: CLASSES[n % 5] for n in range(1, 31)}
    classes[3] = "Rare"
    del classes[5], classes[6]
    return classes


def test_initial_load_rerun_targeted_and_edited_sheets(season, run_dag, s3_calls):
    season.put_frames("S01E01", range(1, 31))
    season.put_frames("S01E01", [40])  # a frame that is added to the sheet later
    season.put_frames("S01E02", range(1, 21))
    season.put_csv_sheet("S01E01", e01_rows())
    season.put_google_sheet("S01E02", e02_rows())
    season.put_manifest()
    foreign = ["tuttle_twins/ML/README.txt", "tuttle_twins/ML/train/Rare/notes/TT_S01_E01_FRM-x.jpg"]
    for key in foreign:
        season.put_dest(key, b"not ours")

    # 1. Initial load: every valid frame lands in its split and class, with the source's bytes.
    s3_calls.clear()
    run = run_dag(DAG_ID, conf=season.conf())
    assert run.state == "success"
    want = {expected_key("S01E01", n, c): source_key("S01E01", n) for n, c in e01_classes().items()}
    want |= {expected_key("S01E02", n, "Uncommon"): source_key("S01E02", n) for n in range(1, 21)}
    after_first = season.snapshot()
    assert set(after_first) == set(want) | set(foreign)
    for dest, src in want.items():
        assert season.body(dest) == season.body(src)
    assert s3_calls.count("CopyObject", season.bucket) == len(want)  # one copy per object, nothing else
    assert s3_calls.count("HeadObject", season.bucket) == 0  # sources are listed, never probed one by one
    splits = {layout.parse_dest_key(k)[0] for k in want}
    assert splits == set(layout.SPLITS)
    report = season.run_json(run, "report.json")
    e01 = report["episodes"]["S01E01"]
    assert (e01["copied"], e01["invalid"], e01["duplicates"], e01["missing"]) == (28, 2, 1, 1)
    assert report["episodes"]["S01E02"]["copied"] == 20
    assert sum(report["datasets_after_run"]["train"].values()) == sum(
        1 for k in want if k.startswith("tuttle_twins/ML/train/")
    )
    assert "S01E01/default_eng/v1/frames/thumbnails/" + frame_name("S01E01", 31) in str(
        report["plan"]["missing_examples"]
    )
    plan_csv = season.body(f"tuttle_twins/sync_runs/{run.run_id}/plan.csv").decode()
    assert plan_csv.count("\ncopy,copy,") == 48

    # 2. Nothing changed: no copy, no delete, no write under ML/; the objects are untouched.
    s3_calls.clear()
    run = run_dag(DAG_ID, conf=season.conf())
    assert run.state == "success"
    assert s3_calls.count("ListObjectsV2", season.bucket, layout.ML_PREFIX) >= 1
    assert s3_calls.mutations(season.bucket, layout.ML_PREFIX) == 0
    assert season.snapshot() == after_first

    # People edit the sheets: E01 reclassifies 2 frames, drops 1, adds 1; E02 reclassifies 1.
    # An object of an episode that left every manifest also turns up.
    season.put_csv_sheet(
        "S01E01",
        e01_rows(
            overrides={
                1: sheet_row("S01E01", 1, unsup="Uncommon", reclass="EPIC"),
                3: sheet_row("S01E01", 3, unsup="Legendary"),
            },
            drop=[8],
            add=[40],
        ),
    )
    season.put_google_sheet("S01E02", e02_rows(reclass={4: "legendary"}))
    gone = expected_key("S09E01", 1, "Rare")
    season.put_dest(gone)
    before = season.snapshot()

    # 3. A targeted run syncs E01 only: E02's edit and the other season's object stay as they are.
    s3_calls.clear()
    run = run_dag(DAG_ID, conf=season.conf(episodes=["S01E01"]))
    assert run.state == "success"
    now = season.snapshot()
    moved = {
        expected_key("S01E01", 1, "Uncommon"): expected_key("S01E01", 1, "Epic"),
        expected_key("S01E01", 3, "Rare"): expected_key("S01E01", 3, "Legendary"),
    }
    for old, new in moved.items():
        assert old not in now
        assert season.body(new) == season.body(source_key("S01E01", int(new[-6:-4])))
    assert expected_key("S01E01", 8, CLASSES[8 % 5]) not in now
    assert expected_key("S01E01", 40, "Legendary") in now
    assert expected_key("S01E02", 4, "Uncommon") in now
    assert gone in now
    changed = {k for k in set(before) | set(now) if before.get(k) != now.get(k)}
    assert changed == {
        *moved,
        *moved.values(),
        expected_key("S01E01", 8, CLASSES[8 % 5]),
        expected_key("S01E01", 40, "Legendary"),
    }
    # The minimum number of requests: one copy per move or addition, one DeleteObjects for 3 keys.
    assert s3_calls.count("CopyObject", season.bucket) == 3
    assert s3_calls.count("DeleteObjects", season.bucket) == 1

    # 4. A full run applies E02's edit and removes the orphaned episode's object. The object's
    # season has no manifest, so the season guard holds it; allow_mass_delete applies it at once.
    s3_calls.clear()
    run = run_dag(DAG_ID, conf=season.conf(allow_mass_delete=True))
    assert run.state == "success"
    final = season.snapshot()
    assert gone not in final
    assert expected_key("S01E02", 4, "Uncommon") not in final
    assert expected_key("S01E02", 4, "Legendary") in final
    assert s3_calls.count("CopyObject", season.bucket) == 1
    assert set(foreign) <= set(final)
    report = season.run_json(run, "report.json")
    assert report["episodes"]["S01E02"]["moved"] == 1
    assert report["plan"]["totals"]["deleted"] == 1
    assert [(h["season"], h["episode"], h["deletes"], h["outcome"]) for h in report["held"]] == [
        ("S09", None, 1, "applied (allow_mass_delete)")
    ]
