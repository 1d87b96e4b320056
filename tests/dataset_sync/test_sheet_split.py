"""Sheet normalisation and the deterministic split."""

from __future__ import annotations

from collections import Counter

import pytest

from include.dataset_sync import layout
from include.dataset_sync.sheet import SheetFormatError, normalise_sheet

HEADER = [
    "S3_BASE_URI",
    "ROW_INDEX",
    "FRAME NUMBER",
    "UNSUPERVISED CLASSIFICATION",
    "SUPERVISED CLASSIFICATION",
    "JONNY's RECLASSIFICATION",
    "METADATA",
]
KW = {"bucket": "media.angel-nft.com", "season_code": "S01", "episode_code": "E01", "split_salt": "s"}


def row(frame, unsup="", sup="", reclass="", base=""):
    return [base, "0", frame, unsup, sup, reclass, "[Emily]"]


def test_class_priority_case_and_canonical_spelling():
    rows = [
        HEADER,
        row("TT_S01_E01_FRM-00-00-00-01", unsup="common"),
        row("TT_S01_E01_FRM-00-00-00-02", unsup="Common", sup="RARE"),
        row("TT_S01_E01_FRM-00-00-00-03", unsup="Common", sup="Rare", reclass=" legendary "),
    ]
    result = normalise_sheet(rows, **KW)
    assert [t.rarity for t in result.targets] == ["Common", "Rare", "Legendary"]
    assert result.invalid.total == 0


def test_headers_case_insensitive_extra_columns_ignored_and_missing_reported():
    shuffled = [
        "extra",
        "frame number",
        "s3_base_uri",
        "Jonny’s Reclassification",
        "supervised classification",
    ]
    shuffled.append("Unsupervised Classification")
    rows = [shuffled, ["x", "TT_S01_E01_FRM-1", "", "", "", "epic"]]
    (target,) = normalise_sheet(rows, **KW).targets
    assert target.rarity == "Epic"
    with pytest.raises(SheetFormatError, match=r"SUPERVISED CLASSIFICATION"):
        normalise_sheet([["S3_BASE_URI", "FRAME NUMBER", "UNSUPERVISED CLASSIFICATION"]], **KW)
    with pytest.raises(SheetFormatError, match="empty"):
        normalise_sheet([], **KW)


def test_sources_and_destinations():
    rows = [
        HEADER,
        row("TT_S01_E01_FRM-A", unsup="Rare"),
        row("TT_S01_E01_FRM-B", unsup="Rare", base="s3://other-bucket/frames/big"),
        row(
            "TT_S01_E01_FRM-C",
            unsup="Rare",
            base="media.angel-nft.com/tuttle_twins/default_eng/v1/frames/thumbnails/",
        ),
    ]
    a, b, c = normalise_sheet(rows, **{**KW, "img_size": "default"}, source_buckets=["other-bucket"]).targets
    assert (
        a.source
        == "media.angel-nft.com/tuttle_twins/S01E01/default_eng/v1/frames/default/TT_S01_E01_FRM-A.jpg"
    )
    assert b.source == "other-bucket/frames/big/TT_S01_E01_FRM-B.jpg"
    assert (
        c.source == "media.angel-nft.com/tuttle_twins/default_eng/v1/frames/thumbnails/TT_S01_E01_FRM-C.jpg"
    )
    assert a.dest_key == f"tuttle_twins/ML/{a.split}/Rare/TT_S01_E01_FRM-A.jpg"
    assert layout.parse_dest_key(a.dest_key) == (a.split, "Rare", "TT_S01_E01_FRM-A")


def test_invalid_rows_and_duplicates_are_reported_not_fatal():
    rows = [
        HEADER,
        row("TT_S01_E01_FRM-1", unsup="Mythic"),
        row("TT_S01_E01_FRM-2"),
        row("TT_S01_E02_FRM-3", unsup="Rare"),
        row("", unsup="Rare"),
        ["", "", "", "", "", "", ""],
        row("TT_S01_E01_FRM-4", reclass="Epic", unsup="Mythic"),
        row("TT_S01_E01_FRM-4", unsup="Epic"),
        row("TT_S01_E01_FRM-4", unsup="Common"),
        row("TT_S01_E01_FRM-5", sup="Bogus", unsup="Rare"),
    ]
    result = normalise_sheet(rows, **KW)
    assert [(t.frame, t.rarity, t.row_number) for t in result.targets] == [("TT_S01_E01_FRM-4", "Epic", 7)]
    assert result.invalid.counts == {
        "class not in rarity choices": 2,
        "no classification": 1,
        "frame number is not a frame of S01E01": 1,
        "no frame number": 1,
    }
    assert {"row": 2, "frame": "TT_S01_E01_FRM-1", "value": "Mythic"}.items() <= (
        result.invalid.examples["class not in rarity choices"][0].items()
    )
    # Invalid rows naming a frame of the episode keep that frame's objects (FRM-4 is a target).
    assert result.kept_frames == ["TT_S01_E01_FRM-1", "TT_S01_E01_FRM-2", "TT_S01_E01_FRM-5"]
    assert result.duplicates.counts == {
        "repeated frame": 1,
        "repeated frame with a different class or source": 1,
    }
    assert result.blank_rows == 1


def test_configurable_rarity_choices():
    rows = [HEADER, row("TT_S01_E01_FRM-1", unsup="gold"), row("TT_S01_E01_FRM-2", unsup="Common")]
    result = normalise_sheet(rows, **KW, rarity_choices=("Bronze", "Gold"))
    assert [t.rarity for t in result.targets] == ["Gold"]
    assert result.invalid.total == 1


def test_split_is_deterministic_follows_ratios_and_ignores_other_frames():
    frames = [f"TT_S01_E01_FRM-{i:06d}" for i in range(20000)]
    splits = {f: layout.assign_split("salt", f) for f in frames}
    counts = Counter(splits.values())
    for split, ratio in zip(layout.SPLITS, layout.DEFAULT_SPLIT_RATIOS, strict=True):
        assert abs(counts[split] / len(frames) - ratio) < 0.015, counts
    # Same answer again, and the same when the sheet around the frame changes.
    rows = [HEADER] + [row(f, unsup="Rare") for f in frames[:300]]
    before = {t.frame: t.split for t in normalise_sheet(rows, **{**KW, "split_salt": "salt"}).targets}
    rows = (
        [HEADER] + [row(f, unsup="Epic") for f in frames[1:300:2]] + [row("TT_S01_E01_FRM-new", unsup="Rare")]
    )
    after = {t.frame: t.split for t in normalise_sheet(rows, **{**KW, "split_salt": "salt"}).targets}
    assert all(after[f] == before[f] == splits[f] for f in frames[1:300:2])
    # Another salt reshuffles; custom ratios are honoured.
    assert sum(layout.assign_split("other", f) != splits[f] for f in frames[:1000]) > 300
    only_test = {layout.assign_split("salt", f, (0.0, 0.0, 1.0)) for f in frames[:500]}
    assert only_test == {"test"}


def test_sources_only_from_allowed_buckets():
    rows = [
        HEADER,
        row("TT_S01_E01_FRM-1", unsup="Rare", base="s3://other-bucket/frames/"),
        row("TT_S01_E01_FRM-2", unsup="Rare", base="s3://media.angel-nft.com"),
        row("TT_S01_E01_FRM-3", unsup="Rare", base="s3://archive-bucket/frames"),
        row("TT_S01_E01_FRM-4", unsup="Rare", base="media.angel-nft.com/elsewhere/"),
    ]
    result = normalise_sheet(rows, **KW, source_buckets=("archive-bucket",))
    assert [t.source for t in result.targets] == [
        "archive-bucket/frames/TT_S01_E01_FRM-3.jpg",
        "media.angel-nft.com/elsewhere/TT_S01_E01_FRM-4.jpg",
    ]
    assert result.invalid.counts == {"source bucket not allowed": 1, "S3_BASE_URI is a bucket root": 1}
    example = result.invalid.examples["source bucket not allowed"][0]
    assert example["value"] == "s3://other-bucket/frames/"
    assert "'other-bucket' is not in source_buckets" in example["reason"]
    assert result.kept_frames == ["TT_S01_E01_FRM-1", "TT_S01_E01_FRM-2"]
    # Without source_buckets only the dataset bucket is allowed.
    only_dataset = normalise_sheet(rows, **KW)
    assert [t.frame for t in only_dataset.targets] == ["TT_S01_E01_FRM-4"]
