"""The four change sets, on small hand-built layouts where the right answer is obvious."""

from __future__ import annotations

from include.dataset_sync import layout
from include.dataset_sync.planner import make_plan, parse_destination

SRC = "media.angel-nft.com/tuttle_twins/{ep}/default_eng/v1/frames/thumbnails/{frame}.jpg"


def frame(ep: str, n: int) -> str:
    return f"TT_{ep[:3]}_{ep[3:]}_FRM-{n:04d}"


def target(ep: str, n: int, split: str, rarity: str) -> dict:
    f = frame(ep, n)
    return {
        "episode": ep,
        "frame": f,
        "rarity": rarity,
        "split": split,
        "source": SRC.format(ep=ep, frame=f),
        "dest_key": layout.dest_key(split, rarity, f),
    }


def columns(rows: list[dict]) -> dict[str, list[str]]:
    import pandas as pd

    return pd.DataFrame(rows, columns=["episode", "frame", "rarity", "split", "source", "dest_key"])


def plan(targets, existing, sources=None, managed=lambda e: True, kept=()):
    if sources is None:
        sources = [t["source"] for t in targets]
    return make_plan(columns(targets), existing, sources, managed, kept_frames=list(kept))


def test_four_change_sets():
    targets = [
        target("S01E01", 1, "train", "Common"),  # unchanged
        target("S01E01", 2, "train", "Rare"),  # class changed: move
        target("S01E01", 3, "test", "Epic"),  # split changed: move
        target("S01E01", 4, "validation", "Common"),  # new: copy
    ]
    existing = [
        layout.dest_key("train", "Common", frame("S01E01", 1)),
        layout.dest_key("train", "Common", frame("S01E01", 2)),
        layout.dest_key("train", "Epic", frame("S01E01", 3)),
        layout.dest_key("test", "Rare", frame("S01E01", 9)),  # no longer in the sheet: delete
    ]
    p = plan(targets, existing)
    copies = {r.dest_key: r.action for r in p.copies.itertuples()}
    assert copies == {
        targets[1]["dest_key"]: "move",
        targets[2]["dest_key"]: "move",
        targets[3]["dest_key"]: "copy",
    }
    assert set(p.copies.source) == {t["source"] for t in targets[1:]}
    deletes = {r.key: r.action for r in p.deletes.itertuples()}
    assert deletes == {existing[1]: "move", existing[2]: "move", existing[3]: "delete"}
    assert p.counts.loc["S01E01"].to_dict() == {
        "unchanged": 1,
        "copied": 1,
        "moved": 2,
        "deleted": 1,
        "missing": 0,
        "kept_without_source": 0,
        "kept_invalid": 0,
        "existing": 4,
    }
    assert p.delete_fraction == 3 / 4


def test_in_sync_means_no_mutation():
    targets = [target("S01E01", n, "train", "Rare") for n in range(5)]
    p = plan(targets, [t["dest_key"] for t in targets])
    assert p.mutations == 0
    assert p.totals()["unchanged"] == 5


def test_missing_source_is_not_copied_and_keeps_the_old_object():
    moved = target("S01E01", 1, "train", "Rare")
    new = target("S01E01", 2, "train", "Rare")
    old_key = layout.dest_key("train", "Common", moved["frame"])
    p = plan([moved, new], [old_key], sources=[])
    assert p.mutations == 0
    assert p.counts.loc["S01E01", "missing"] == 2
    assert p.counts.loc["S01E01", "kept_without_source"] == 1
    assert moved["source"] in p.missing_examples["S01E01"]


def test_surplus_copy_of_a_frame_in_place_is_deleted():
    t = target("S01E01", 1, "train", "Rare")
    extra = layout.dest_key("validation", "Rare", t["frame"])
    p = plan([t], [t["dest_key"], extra])
    assert list(p.copies.dest_key) == []
    assert list(p.deletes.key) == [extra]


def test_unmanaged_and_foreign_objects_are_left_alone():
    targets = [target("S01E01", 1, "train", "Rare")]
    protected = layout.dest_key("train", "Rare", frame("S01E02", 1))  # failed or unselected episode
    gone = layout.dest_key("train", "Rare", frame("S09E01", 1))  # episode left every manifest
    foreign = [
        "tuttle_twins/ML/README.md",
        "tuttle_twins/ML/train/Rare/notes/TT_S01_E01_FRM-0001.jpg",
        "tuttle_twins/ML/holdout/Rare/TT_S01_E01_FRM-0007.jpg",
        "tuttle_twins/ML/train/Rare/cover.jpg",
        "tuttle_twins/ML/train/Rare/TT_S01_E01_FRM-0008.png",
    ]
    p = plan(targets, [protected, gone, *foreign], managed=lambda e: e != "S01E02")
    assert list(p.deletes.key) == [gone]
    assert list(p.copies.dest_key) == [targets[0]["dest_key"]]
    assert (p.existing_objects, p.managed_objects, p.unmanaged_objects) == (2, 1, 1)


def test_parse_destination_extracts_episode():
    table = parse_destination(["tuttle_twins/ML/test/Epic/TT_S02_E10_FRM-00-01.jpg", "tuttle_twins/ML/x.jpg"])
    assert table.to_pylist() == [
        {
            "key": "tuttle_twins/ML/test/Epic/TT_S02_E10_FRM-00-01.jpg",
            "split": "test",
            "rarity": "Epic",
            "frame": "TT_S02_E10_FRM-00-01",
            "episode": "S02E10",
        }
    ]


def test_plan_converges_after_applying_it():
    targets = [target("S01E01", n, layout.SPLITS[n % 3], "Rare" if n % 2 else "Common") for n in range(30)]
    existing = [layout.dest_key("train", "Common", frame("S01E01", n)) for n in range(0, 40, 2)]
    p = plan(targets, existing)
    after = (set(existing) - set(p.deletes.key)) | set(p.copies.dest_key)
    assert after == {t["dest_key"] for t in targets}
    assert plan(targets, sorted(after)).mutations == 0


def test_frames_of_invalid_rows_keep_their_objects_and_episodes_count_what_they_had():
    targets = [target("S01E01", 1, "train", "Rare")]
    typo = layout.dest_key("train", "Epic", frame("S01E01", 2))  # row 2's class became "Epik"
    dropped = layout.dest_key("test", "Rare", frame("S01E01", 3))  # row 3 was removed
    blank = [layout.dest_key("train", "Rare", frame("S01E02", n)) for n in range(4)]  # E02's sheet emptied
    p = plan(targets, [targets[0]["dest_key"], typo, dropped, *blank], kept=[frame("S01E01", 2)])
    assert sorted(p.deletes.key) == sorted([dropped, *blank])
    assert p.counts.loc["S01E01", ["existing", "deleted", "kept_invalid"]].to_list() == [3, 1, 1]
    assert p.counts.loc["S01E02", ["existing", "deleted", "unchanged"]].to_list() == [4, 4, 0]
