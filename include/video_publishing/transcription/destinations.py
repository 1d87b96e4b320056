"""Captions and keyword tags onto the published videos (YouTube and a Facebook Page).

Each function is idempotent under retry: YouTube captions are looked up by track name and language and
updated in place when the track exists (never a second track); tags are written with ``videos.update``
carrying the whole snippet as read just before (``videos.update`` replaces the snippet, so title,
description and category must be sent back unchanged); Facebook replaces a caption file of the same
locale.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from include.video_publishing import facebook

log = logging.getLogger(__name__)

CAPTION_TRACK_NAME = "Transcript"


def youtube_captions(
    client: Any, video_id: str, vtt_text: str, language: str, name: str = CAPTION_TRACK_NAME
) -> str:
    """Insert (or update) the video's caption track from WebVTT; returns the caption id."""
    from googleapiclient.http import MediaIoBaseUpload

    media = MediaIoBaseUpload(io.BytesIO(vtt_text.encode("utf-8")), mimetype="text/vtt", resumable=False)
    existing = client.captions().list(part="snippet", videoId=video_id).execute(num_retries=3)
    for track in existing.get("items", []):
        snippet = track.get("snippet", {})
        if snippet.get("name") == name and snippet.get("language") == language:
            body = {"id": track["id"], "snippet": {"videoId": video_id, "isDraft": False}}
            client.captions().update(part="snippet", body=body, media_body=media).execute(num_retries=3)
            log.info("updated YouTube caption track %s of %s", track["id"], video_id)
            return track["id"]
    body = {"snippet": {"videoId": video_id, "language": language, "name": name, "isDraft": False}}
    answer = client.captions().insert(part="snippet", body=body, media_body=media).execute(num_retries=3)
    log.info("added YouTube caption track %s (%s) to %s", answer["id"], language, video_id)
    return answer["id"]


def youtube_tags(client: Any, video_id: str, tags: list[str]) -> dict[str, Any]:
    """Set the video's tags, keeping the rest of its snippet; returns the updated snippet."""
    items = client.videos().list(part="snippet", id=video_id).execute(num_retries=3).get("items", [])
    if not items:
        raise LookupError(f"YouTube video {video_id} not found")
    snippet = dict(items[0]["snippet"])
    if snippet.get("tags") == tags:
        return snippet
    snippet["tags"] = list(tags)
    keep = ("title", "description", "tags", "categoryId", "defaultLanguage")
    body = {"id": video_id, "snippet": {k: v for k, v in snippet.items() if k in keep}}
    answer = client.videos().update(part="snippet", body=body).execute(num_retries=3)
    log.info("set %d tags on YouTube video %s", len(tags), video_id)
    return answer["snippet"]


def facebook_captions(client: facebook.GraphClient, video_id: str, vtt_text: str, language: str) -> None:
    """Attach the captions to the Page video (converted to SubRip, locale from the language code)."""
    facebook.upload_captions(client, video_id, vtt_text, facebook.facebook_locale(language))
    log.info("added captions (%s) to Facebook video %s", language, video_id)
