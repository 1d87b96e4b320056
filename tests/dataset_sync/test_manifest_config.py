"""Manifest parsing and Param validation: what people write by hand must parse or fail clearly."""

from __future__ import annotations

import json

import pytest

from include.dataset_sync.config import SyncConfig
from include.dataset_sync.manifest import ManifestError, parse_manifest, season_of_manifest_key

KEY = "tuttle_twins/manifests/S01-episodes.json"


def test_object_form_with_defaults_and_unknown_keys():
    text = json.dumps(
        {
            "season_code": "S01",
            "episodes": [
                {
                    "episode_code": "e01",
                    "GOOGLE_SPREADSHEET_URL": "https://docs.google.com/spreadsheets/d/abc1234567890/edit",
                    "GOOGLE_SPREADSHEET_SHARE_LINK": "https://ignored.example",
                    "SOMETHING_NEW": 42,
                },
                {
                    "episode_code": "E02",
                    "season_code": "S07",
                    "GOOGLE_SPREADSHEET_SHARE_LINK": "s3://b/sheets/e02.csv",
                    "SHEET_NAME": "Frames",
                    "IMG_SIZE": "default/",
                },
            ],
        }
    )
    first, second = parse_manifest(text, KEY)
    assert (first.episode_id, first.img_size, first.sheet_name) == ("S01E01", "thumbnails", None)
    assert first.sheet_location.startswith("https://docs.google.com/")  # URL wins over the share link
    assert (second.episode_id, second.sheet_location) == ("S07E02", "s3://b/sheets/e02.csv")
    assert (second.sheet_name, second.img_size, second.manifest_key) == ("Frames", "default", KEY)


def test_bare_list_takes_season_from_file_name():
    text = json.dumps([{"episode_code": "E03", "GOOGLE_SPREADSHEET_URL": "1cr_rXVh0eZZ4aLtFKb5dw8jfBtk"}])
    (spec,) = parse_manifest(text, "tuttle_twins/manifests/S02-episodes.json")
    assert spec.episode_id == "S02E03"
    assert season_of_manifest_key("tuttle_twins/manifests/notes.json") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"season_code": "S01"}', "'episodes' list"),
        ('[{"GOOGLE_SPREADSHEET_URL": "x"}]', "episode_code"),
        ('[{"episode_code": "E01"}]', "GOOGLE_SPREADSHEET_URL"),
        (
            '[{"episode_code": "E01", "GOOGLE_SPREADSHEET_URL": "x"}, {"episode_code": "E01", "GOOGLE_SPREADSHEET_URL": "y"}]',
            "more than once",
        ),
        (
            '{"season_code": "one", "episodes": [{"episode_code": "E01", "GOOGLE_SPREADSHEET_URL": "x"}]}',
            "season_code",
        ),
    ],
)
def test_bad_manifests_name_the_problem(text, message):
    with pytest.raises(ManifestError, match=message) as err:
        parse_manifest(text, KEY)
    assert KEY in str(err.value)


def test_config_defaults_and_validation():
    cfg = SyncConfig.from_params({})
    assert (cfg.bucket, cfg.split_ratios, cfg.copy_concurrency, cfg.max_delete_fraction) == (
        "media.angel-nft.com",
        (0.7, 0.2, 0.1),
        32,
        0.2,
    )
    cfg = SyncConfig.from_params({"seasons": "s01, S02", "episodes": ["s03e04"]})
    assert cfg.seasons == ("S01", "S02")
    assert cfg.episodes == ("S03E04",)
    assert not cfg.selects("S01E01")  # both filters apply
    assert SyncConfig.from_params({"seasons": ["S01"]}).selects("S01E09")
    assert not SyncConfig.from_params({"seasons": ["S01"]}).selects("S02E01")
    with pytest.raises(ValueError, match="split ratios"):
        SyncConfig.from_params({"split_ratios": [0.5, 0.2, 0.1]})
    with pytest.raises(ValueError, match="episode id"):
        SyncConfig.from_params({"episodes": ["E01"]})
    with pytest.raises(ValueError, match="differ only by case"):
        SyncConfig.from_params({"rarity_choices": ["Rare", "rare"]})
