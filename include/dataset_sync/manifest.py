"""Season manifests: which episodes exist and where each episode's sheet is.

A manifest is ``tuttle_twins/manifests/<season_code>-episodes.json`` holding either
``{"season_code": "S01", "episodes": [...]}`` or a bare list of episode objects. People
edit these by hand, so parsing is forgiving where the meaning is clear (unknown keys are
ignored, codes are upper-cased) and strict where it is not (a missing episode code or
sheet location is an error that names the entry).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from include.dataset_sync import layout


class ManifestError(ValueError):
    """A manifest cannot be used; the message names the manifest and the entry."""


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode as a manifest describes it."""

    season_code: str
    episode_code: str
    sheet_location: str
    sheet_name: str | None = None
    img_size: str = layout.DEFAULT_IMG_SIZE
    manifest_key: str = ""

    @property
    def episode_id(self) -> str:
        """``S01E01``."""
        return layout.episode_id(self.season_code, self.episode_code)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for XCom (and back with ``EpisodeSpec(**d)``)."""
        return asdict(self)


def season_of_manifest_key(key: str) -> str | None:
    """``tuttle_twins/manifests/S01-episodes.json`` → ``S01``; None for any other key."""
    match = layout.MANIFEST_KEY_RE.match(key)
    return match.group(1) if match else None


def parse_manifest(text: str | bytes, manifest_key: str = "") -> list[EpisodeSpec]:
    """Episodes of one manifest, in file order.

    The season code defaults to the manifest's ``season_code``, then to the code in the file
    name. Raises ManifestError for invalid JSON, a missing episode code or sheet location,
    malformed codes, or an episode listed twice.
    """
    where = manifest_key or "manifest"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{where}: not valid JSON ({err})") from None
    default_season = season_of_manifest_key(manifest_key) if manifest_key else None
    if isinstance(data, dict):
        if data.get("season_code"):
            default_season = str(data["season_code"]).strip().upper()
        entries = data.get("episodes")
        if not isinstance(entries, list):
            raise ManifestError(f"{where}: expected an 'episodes' list in the JSON object")
    elif isinstance(data, list):
        entries = data
    else:
        raise ManifestError(f"{where}: expected a JSON object or list, got {type(data).__name__}")

    episodes: list[EpisodeSpec] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        spec = _episode(entry, default_season, f"{where} episode #{position + 1}", manifest_key)
        if spec.episode_id in seen:
            raise ManifestError(f"{where}: episode {spec.episode_id} is listed more than once")
        seen.add(spec.episode_id)
        episodes.append(spec)
    return episodes


def _episode(entry: Any, default_season: str | None, where: str, manifest_key: str) -> EpisodeSpec:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: expected an object, got {entry!r}")
    episode_code = _text(entry.get("episode_code")).upper()
    if not layout.EPISODE_RE.match(episode_code):
        raise ManifestError(f"{where}: episode_code {entry.get('episode_code')!r} is not like E01")
    season_code = _text(entry.get("season_code")).upper() or (default_season or "")
    if not layout.SEASON_RE.match(season_code):
        raise ManifestError(f"{where} ({episode_code}): season_code {season_code!r} is not like S01")
    location = _text(entry.get("GOOGLE_SPREADSHEET_URL")) or _text(entry.get("GOOGLE_SPREADSHEET_SHARE_LINK"))
    if not location:
        raise ManifestError(
            f"{where} ({season_code}{episode_code}): no GOOGLE_SPREADSHEET_URL or GOOGLE_SPREADSHEET_SHARE_LINK"
        )
    img_size = _text(entry.get("IMG_SIZE")) or layout.DEFAULT_IMG_SIZE
    if "/" in img_size.strip("/"):
        raise ManifestError(
            f"{where} ({season_code}{episode_code}): IMG_SIZE {img_size!r} must be one folder"
        )
    return EpisodeSpec(
        season_code=season_code,
        episode_code=episode_code,
        sheet_location=location,
        sheet_name=_text(entry.get("SHEET_NAME")) or None,
        img_size=img_size.strip("/"),
        manifest_key=manifest_key,
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
