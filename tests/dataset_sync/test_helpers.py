"""Small helpers whose mistakes would cost requests or break the 1024-task map limit."""

from __future__ import annotations

from include.dataset_sync import layout
from include.dataset_sync.config import MAX_CHUNKS
from include.dataset_sync.report import episode_table, split_class_table
from include.dataset_sync.s3ops import minimal_prefixes, split_source
from include.dataset_sync.sheet import normalise_sheet
from include.dataset_sync.steps import chunk_size_for
from tests.dataset_sync.conftest import HEADER, sheet_row


def test_chunks_never_exceed_the_map_limit_and_deletes_fill_whole_batches():
    for total in (0, 1, 4999, 5000, 5_000_001, 40_000_000):
        for kind in ("copy", "delete"):
            size = chunk_size_for(total, 5000, kind)
            assert -(-total // size) <= MAX_CHUNKS
    assert chunk_size_for(10, 5000, "copy") == 5000
    assert chunk_size_for(10, 15, "copy") == 15
    assert chunk_size_for(10, 15, "delete") == 1000
    assert chunk_size_for(1_500_001, 1000, "delete") == 2000


def test_source_prefixes_are_listed_once():
    assert minimal_prefixes(["b/a/x/", "b/a/", "b/a/", "b/ab/", "c/a/"]) == ["b/a/", "b/ab/", "c/a/"]
    assert split_source("media.angel-nft.com/tuttle_twins/x.jpg") == (
        "media.angel-nft.com",
        "tuttle_twins/x.jpg",
    )
    assert layout.normalise_base_uri("s3://bucket//a/b") == "bucket/a/b/"


def test_frame_numbers_pasted_with_jpg_extension_are_accepted():
    rows = [HEADER, sheet_row("S01E01", 1, unsup="Rare")]
    rows[1][2] += ".JPG"
    (target,) = normalise_sheet(
        rows, bucket="b", season_code="S01", episode_code="E01", split_salt="s"
    ).targets
    assert target.frame == "TT_S01_E01_FRM-00-00-00-01"
    assert target.source.endswith("/TT_S01_E01_FRM-00-00-00-01.jpg")


def test_tables_are_readable():
    text = split_class_table({"train": {"Rare": 7, "Common": 2}, "test": {"Rare": 1}})
    lines = text.splitlines()
    assert lines[0].split() == ["class", "train", "validation", "test", "all"]
    assert lines[2].split() == ["Common", "2", "0", "0", "2"]
    assert lines[-1].split() == ["total", "9", "0", "1", "10"]
    table = episode_table(
        {"S01E01": {"unchanged": 5, "copied": 1, "status": "ok"}, "S01E02": {"status": "FAILED"}}
    )
    assert table.splitlines()[-1].split()[:3] == ["total", "5", "1"]
    assert "FAILED" in table
