"""The ``talkbot_config`` Airflow Variable: one validated object for the whole pipeline.

The Variable is JSON::

    {"queue_url": "https://sqs.../talk-uploads",
     "ledger": "s3://talkbot-private/ledger/",
     "max_receives": 5,
     "conferences": {
        "<slug>": {"raw_bucket": "...", "raw_prefix": "", "library_bucket": "...",
                   "library_prefix": "<slug>/", "talk_sheet": "<location>", "speaker_sheet": "<location>",
                   "publisher": ["youtube", "facebook"],   # or one name: "youtube" | "facebook" | "library"
                   "on_replace": "private",                # or "keep" | "delete": a recut's previous videos
                   "youtube": {"playlist_id": "...", "privacy_status": "unlisted", "category_id": "28",
                               "tags": [], "chunk_size_kb": 8192, "quota_wait_seconds": null,
                               "max_quota_wait_hours": 48},
                   "facebook": {"rate_limit_wait_seconds": null},
                   "sting": "s3://bucket/sting.mp4", "watermark": "s3://bucket/logo.png",
                   "fade_seconds": 3, "chunk_minutes": 10,
                   "transcription": {"engine": "local", "language": "en-US"},   # off when absent
                   "email": {"from": "talks@example.org", "subject": "Your talk \\"{title}\\" is online",
                             "update_subject": "Updated recording of your talk \\"{title}\\""}}}}

``publisher`` lists the destinations in order (one name stays valid); the first one's link is ``LINK``.
``youtube.max_quota_wait_hours`` (fractions allowed) caps how long publishing waits for YouTube's quota or
Facebook's rate limits, counted from the first wait of a destination; then the task fails.
``facebook.rate_limit_wait_seconds`` replaces Facebook's own estimate of when access returns (as
``youtube.quota_wait_seconds`` replaces YouTube's quota reset). ``on_replace``: what happens to the video a
recut replaces on each destination (``private``: YouTube private, Facebook hidden; ``delete``; ``keep``).

``ledger`` is the private ``s3://bucket/prefix/`` that holds the ledger and the rejected-upload notes of
every conference (they name speakers' addresses and YouTube upload sessions, so never a bucket that is
published). Records still in a library bucket's old ``_talkbot/`` area are read from there until the
next write moves them. Without ``ledger`` the old location stays in use, with a warning.

``transcription`` (off when absent or ``"enabled": false``): ``engine`` ``local`` (pocketsphinx on the worker;
option ``model_dir``) or ``aws`` (Amazon Transcribe; options ``output_bucket``, ``output_prefix``,
``poll_seconds``, ``timeout_hours``, ``aws_conn_id``), ``language`` a BCP 47 code (default ``en-US``;
``auto`` lets Amazon Transcribe identify it). Captions and keyword tags follow publishing, never delay it.

A sheet location is a Google Sheets URL or id, or ``s3://bucket/key.csv`` (see ``include.common.sheets``);
``talk_sheet_tab`` / ``speaker_sheet_tab`` name a Google tab when it is not the first one.

It is validated at task start (never at parse time) and every error names the bad field, e.g.
``talkbot_config.conferences.ws24.publisher: must be one of 'youtube', 'facebook', 'library'``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from include.common import s3

VARIABLE_NAME = "talkbot_config"
PUBLISHERS = ("youtube", "facebook", "library")
PRIVACY_STATUSES = ("public", "unlisted", "private")
ON_REPLACE = ("private", "keep", "delete")
TRANSCRIPTION_ENGINES = ("local", "aws")
TRANSCRIPTION_OPTIONS = {
    "local": {"model_dir": str},
    "aws": {
        "output_bucket": str,
        "output_prefix": str,
        "poll_seconds": (int, float),
        "timeout_hours": (int, float),
        "aws_conn_id": str,
    },
}


class ConfigError(ValueError):
    """``talkbot_config`` is missing or malformed; the message names the field."""


@dataclass(frozen=True)
class YouTubeSettings:
    """Where and how a conference's talks go on YouTube."""

    playlist_id: str | None = None
    privacy_status: str = "unlisted"
    category_id: str = "28"
    tags: tuple[str, ...] = ()
    chunk_size_kb: int = 8192  # resumable upload chunk; a multiple of 256 KiB
    quota_wait_seconds: int | None = None  # None: wait until YouTube's daily quota reset
    max_quota_wait_hours: float = 48.0  # quota/rate-limit waits of one destination end after this


@dataclass(frozen=True)
class FacebookSettings:
    """How a conference's talks go to its Facebook Page (the Page itself is ``facebook_default``)."""

    rate_limit_wait_seconds: int | None = None  # None: Facebook's estimate, else one hour


@dataclass(frozen=True)
class TranscriptionSettings:
    """How a conference's talks are transcribed into captions and keyword tags (``engine`` None = off)."""

    engine: str | None = None
    language: str = "en-US"
    options: dict[str, Any] = field(default_factory=dict)  # engine options (model_dir, output_bucket…)

    @property
    def enabled(self) -> bool:
        return self.engine is not None

    def engine_settings(self) -> dict[str, Any]:
        """What ``transcription.engines.engine_from_settings`` takes."""
        return {"engine": self.engine, "language": self.language, **self.options}


@dataclass(frozen=True)
class EmailSettings:
    """Sender and subject template (``{title}`` is replaced) of the speaker emails."""

    sender: str | None = None
    subject: str = 'Your talk "{title}" is online'
    update_subject: str = 'Updated recording of your talk "{title}"'  # a recut replacing a published talk


@dataclass(frozen=True)
class Conference:
    """One conference: where its recordings arrive, where its videos go, which sheets describe it."""

    slug: str
    raw_bucket: str
    library_bucket: str
    talk_sheet: str
    speaker_sheet: str
    raw_prefix: str = ""
    library_prefix: str = ""
    talk_sheet_tab: str | None = None
    speaker_sheet_tab: str | None = None
    publishers: tuple[str, ...] = ("youtube",)  # destinations, in order; the first one's link is LINK
    on_replace: str = "private"  # what a recut does to the video it replaces on each destination
    youtube: YouTubeSettings = field(default_factory=YouTubeSettings)
    facebook: FacebookSettings = field(default_factory=FacebookSettings)
    sting: str | None = None
    watermark: str | None = None
    fade_seconds: float = 3.0
    chunk_minutes: float = 10.0  # full re-encodes longer than this are split across render tasks
    email: EmailSettings = field(default_factory=EmailSettings)
    transcription: TranscriptionSettings = field(default_factory=TranscriptionSettings)

    @property
    def publisher(self) -> str:
        """The first destination (the one whose link is LINK)."""
        return self.publishers[0]

    def library_key(self, uuid: str) -> str:
        """Key of the rendered talk in the library bucket."""
        return f"{self.library_prefix}{uuid}.mp4"

    def library_url(self, uuid: str) -> str:
        """Public-style URL of the rendered talk (the link when the publisher is ``library``)."""
        return f"https://{self.library_bucket}.s3.amazonaws.com/{self.library_key(uuid)}"

    def captions_key(self, uuid: str) -> str:
        """Key of the talk's WebVTT captions, beside the video in the library bucket."""
        return f"{self.library_prefix}{uuid}.vtt"

    def captions_url(self, uuid: str) -> str:
        """URL of the captions, built like ``library_url`` (the CAPTIONS column's link)."""
        return f"https://{self.library_bucket}.s3.amazonaws.com/{self.captions_key(uuid)}"


@dataclass(frozen=True)
class TalkbotConfig:
    """The whole pipeline's configuration."""

    queue_url: str
    conferences: dict[str, Conference]
    ledger: str | None = None  # s3://bucket/prefix/ (prefix empty or ending in "/")
    max_receives: int = 5  # a message received more often is recorded and deleted, never retried again

    def conference_for(self, bucket: str, key: str) -> Conference | None:
        """The conference whose raw bucket and prefix hold ``key`` (longest prefix wins), or None."""
        matches = [
            c for c in self.conferences.values() if c.raw_bucket == bucket and key.startswith(c.raw_prefix)
        ]
        return max(matches, key=lambda c: len(c.raw_prefix), default=None)

    def conference(self, slug: str) -> Conference:
        """The conference called ``slug``; ConfigError if there is none."""
        try:
            return self.conferences[slug]
        except KeyError:
            raise ConfigError(f"{VARIABLE_NAME}.conferences: no conference {slug!r}") from None


def load_config() -> TalkbotConfig:
    """Read and validate the ``talkbot_config`` Variable (call at task run time only)."""
    from airflow.sdk import Variable

    raw = Variable.get(VARIABLE_NAME, default=None)
    if raw is None:
        raise ConfigError(f"Airflow Variable {VARIABLE_NAME!r} is not set")
    return parse_config(raw)


def parse_config(raw: str | dict[str, Any]) -> TalkbotConfig:
    """Validate the Variable's JSON text (or the decoded dict) into a TalkbotConfig."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{VARIABLE_NAME}: not valid JSON ({err})") from None
    root = _Fields(raw, VARIABLE_NAME)
    queue_url = root.text("queue_url")
    conferences_raw = root.get("conferences", dict, required=True)
    if not conferences_raw:
        raise ConfigError(f"{VARIABLE_NAME}.conferences: at least one conference is required")
    conferences = {
        slug: _conference(slug, body, f"{VARIABLE_NAME}.conferences.{slug}")
        for slug, body in conferences_raw.items()
    }
    return TalkbotConfig(
        queue_url=queue_url,
        conferences=conferences,
        ledger=_ledger(root),
        max_receives=root.number("max_receives", default=5, minimum=1, integer=True),
    )


def _ledger(root: _Fields) -> str | None:
    value = root.text("ledger", required=False)
    if value is None:
        return None
    try:
        bucket, prefix = s3.parse_url(value, field=f"{VARIABLE_NAME}.ledger")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return s3.url(bucket, prefix)


def _conference(slug: str, body: Any, path: str) -> Conference:
    f = _Fields(body, path)
    publishers = _publishers(f.body.get("publisher"), f"{path}.publisher")
    yt = _Fields(f.get("youtube", dict) or {}, f"{path}.youtube")
    youtube = YouTubeSettings(
        playlist_id=yt.text("playlist_id", required=False),
        privacy_status=yt.choice("privacy_status", PRIVACY_STATUSES, default="unlisted"),
        category_id=str(yt.get("category_id", (str, int)) or "28"),
        tags=tuple(_string_list(yt.get("tags", list) or [], f"{path}.youtube.tags")),
        chunk_size_kb=yt.number("chunk_size_kb", default=8192, minimum=256, integer=True),
        quota_wait_seconds=yt.number("quota_wait_seconds", default=None, minimum=1, integer=True),
        max_quota_wait_hours=float(yt.number("max_quota_wait_hours", default=48.0, minimum=0)),
    )
    if youtube.max_quota_wait_hours <= 0:
        raise ConfigError(
            f"{path}.youtube.max_quota_wait_hours: must be > 0, got {youtube.max_quota_wait_hours}"
        )
    fb = _Fields(f.get("facebook", dict) or {}, f"{path}.facebook")
    facebook = FacebookSettings(
        rate_limit_wait_seconds=fb.number("rate_limit_wait_seconds", default=None, minimum=1, integer=True)
    )
    if youtube.chunk_size_kb % 256:
        raise ConfigError(
            f"{path}.youtube.chunk_size_kb: must be a multiple of 256, got {youtube.chunk_size_kb}"
        )
    em = _Fields(f.get("email", dict) or {}, f"{path}.email")
    subject = em.text("subject", required=False) or EmailSettings.subject
    update_subject = em.text("update_subject", required=False) or EmailSettings.update_subject
    for name, template in (("subject", subject), ("update_subject", update_subject)):
        try:
            template.format(title="t")
        except (KeyError, IndexError, ValueError):
            raise ConfigError(f"{path}.email.{name}: only the placeholder {{title}} is allowed") from None
    for name in ("sting", "watermark"):
        value = f.text(name, required=False)
        if value:
            try:
                s3.parse_url(value, field=f"{path}.{name}")
            except ValueError as err:
                raise ConfigError(str(err)) from None
    return Conference(
        slug=slug,
        raw_bucket=f.text("raw_bucket"),
        raw_prefix=f.text("raw_prefix", required=False) or "",
        library_bucket=f.text("library_bucket"),
        library_prefix=f.text("library_prefix", required=False) or "",
        talk_sheet=f.text("talk_sheet"),
        speaker_sheet=f.text("speaker_sheet"),
        talk_sheet_tab=f.text("talk_sheet_tab", required=False),
        speaker_sheet_tab=f.text("speaker_sheet_tab", required=False),
        publishers=publishers,
        on_replace=f.choice("on_replace", ON_REPLACE, default="private"),
        youtube=youtube,
        facebook=facebook,
        sting=f.text("sting", required=False),
        watermark=f.text("watermark", required=False),
        fade_seconds=float(f.number("fade_seconds", default=3.0, minimum=0)),
        chunk_minutes=float(f.number("chunk_minutes", default=10.0, minimum=0.1)),
        email=EmailSettings(
            sender=em.text("from", required=False), subject=subject, update_subject=update_subject
        ),
        transcription=_transcription(f.get("transcription", dict), f"{path}.transcription"),
    )


def _transcription(body: dict[str, Any] | None, path: str) -> TranscriptionSettings:
    """``transcription``: absent, ``{}`` or ``"enabled": false`` = off; else a known engine, a language and
    only that engine's options, each of the right type (errors name the field)."""
    if not body or body.get("enabled", True) is False:
        return TranscriptionSettings()
    t = _Fields(body, path)
    engine = t.get("engine", str, required=True)
    if engine not in TRANSCRIPTION_ENGINES:
        options = ", ".join(repr(a) for a in TRANSCRIPTION_ENGINES)
        raise ConfigError(f"{path}.engine: must be one of {options}, got {engine!r}")
    language = t.text("language", required=False) or "en-US"
    if language != "auto" and not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*", language):
        raise ConfigError(
            f"{path}.language: must be a language code such as 'en-US' (or 'auto'), got {language!r}"
        )
    allowed = TRANSCRIPTION_OPTIONS[engine]
    options: dict[str, Any] = {}
    for name in sorted(set(body) - {"engine", "language", "enabled"}):
        if name not in allowed:
            raise ConfigError(
                f"{path}.{name}: not an option of the {engine!r} engine (options: {', '.join(sorted(allowed))})"
            )
        value = t.get(name, allowed[name])
        if isinstance(value, (int, float)) and value <= 0:
            raise ConfigError(f"{path}.{name}: must be > 0, got {value}")
        if value is not None:
            options[name] = value
    return TranscriptionSettings(engine=engine, language=language, options=options)


def _publishers(value: Any, path: str) -> tuple[str, ...]:
    """``publisher``: one destination name or a non-empty list of distinct ones (default ``youtube``)."""
    if value is None:
        return ("youtube",)
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise ConfigError(f"{path}: must be a destination name or a non-empty list of them, got {value!r}")
    options = ", ".join(repr(a) for a in PUBLISHERS)
    for name in names:
        if not isinstance(name, str) or name.strip() not in PUBLISHERS:
            raise ConfigError(f"{path}: must be one of {options}, got {name!r}")
    cleaned = tuple(name.strip() for name in names)
    if len(set(cleaned)) != len(cleaned):
        raise ConfigError(f"{path}: lists a destination twice: {list(cleaned)}")
    return cleaned


def _string_list(values: list, path: str) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{path}: must be a list of strings")
    return values


class _Fields:
    """Typed access to one JSON object with errors that name the full field path."""

    def __init__(self, body: Any, path: str) -> None:
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: must be a JSON object, got {type(body).__name__}")
        self.body = body
        self.path = path

    def get(self, name: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
        value = self.body.get(name)
        if value is None:
            if required:
                raise ConfigError(f"{self.path}.{name}: required field is missing")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.path}.{name}: must be {names}, got {type(value).__name__}")
        return value

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.get(name, str, required=required)
        if required and not value.strip():
            raise ConfigError(f"{self.path}.{name}: must not be empty")
        return value.strip() if value else None

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.get(name, str) or default
        if value not in allowed:
            options = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"{self.path}.{name}: must be one of {options}, got {value!r}")
        return value

    def number(self, name: str, default: Any, minimum: float, integer: bool = False) -> Any:
        value = self.get(name, int if integer else (int, float))
        if value is None:
            return default
        if value < minimum:
            raise ConfigError(f"{self.path}.{name}: must be >= {minimum}, got {value}")
        return value
