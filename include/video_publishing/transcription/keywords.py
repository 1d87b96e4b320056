"""Keyword tags for a talk from its transcript, title and description, within YouTube's limits.

YAKE (statistical, offline, no model) ranks one- to three-word phrases; the title and description count
twice as much as the spoken words because they were written on purpose. YouTube's limit is on all tags
together: ``MAX_TAGS_CHARS`` characters, where a tag containing a space counts with the quotes YouTube
puts around it, and the commas between tags are counted too (the conservative reading of the limit).
Tags YouTube rejects (``<`` or ``>``) or that say nothing (numbers, one letter) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yake

MAX_TAGS_CHARS = 500
MAX_TAG_CHARS = 100
_USELESS = re.compile(r"^[\W\d_]*$|^\w$")


def tag_length(tag: str) -> int:
    """Characters a tag uses of YouTube's budget (quotes around a tag with a space)."""
    return len(tag) + (2 if " " in tag else 0)


def tags_length(tags: Iterable[str]) -> int:
    """Characters a tag list uses, commas between tags included."""
    tags = list(tags)
    return sum(tag_length(t) for t in tags) + max(len(tags) - 1, 0)


def extract_keywords(text: str, language: str = "en", top: int = 80) -> list[str]:
    """The ``top`` keywords of ``text``, best first (YAKE: lower score = more relevant)."""
    if not text.strip():
        return []
    extractor = yake.KeywordExtractor(lan=language.partition("-")[0].lower(), n=3, dedup_lim=0.7, top=top)
    ranked = sorted(extractor.extract_keywords(text), key=lambda pair: pair[1])
    return [phrase for phrase, _score in ranked]


def keyword_tags(
    transcript: str,
    title: str,
    description: str,
    *,
    language: str = "en",
    fixed_tags: Iterable[str] = (),
    max_chars: int = MAX_TAGS_CHARS,
) -> list[str]:
    """``fixed_tags`` (the conference's own) then keywords, deduplicated case-insensitively, cut to fit."""
    written = f"{title}. {description}"
    text = f"{written}\n{written}\n{transcript}"
    chosen: list[str] = []
    seen: set[str] = set()
    for candidate in [*fixed_tags, *extract_keywords(text, language)]:
        tag = " ".join(candidate.split())
        key = tag.casefold()
        if (
            not tag
            or key in seen
            or _USELESS.match(tag)
            or len(tag) > MAX_TAG_CHARS
            or "<" in tag
            or ">" in tag
        ):
            continue
        if tags_length([*chosen, tag]) > max_chars:
            continue
        seen.add(key)
        chosen.append(tag)
    return chosen
