"""Words people read: the YouTube/Facebook title and description, and the speaker emails ("online" and,
for a recut replacing a published talk, "updated recording"), each listing every destination's link.

Titles, names and descriptions come from a sheet people edit, so everything is escaped for HTML in the
email, and ``<``/``>`` (which YouTube rejects in titles and descriptions) are replaced.
"""

from __future__ import annotations

import html
import re
from email.headerregistry import Address
from email.message import EmailMessage

YOUTUBE_TITLE_MAX = 100
YOUTUBE_DESCRIPTION_MAX_BYTES = 5000
_SPEAKER_SEPARATOR = re.compile(r"[,;]")


def split_speakers(cell: str) -> list[str]:
    """Speaker names from a SPEAKERS cell (separated by ``,`` or ``;``), blanks dropped."""
    return [name.strip() for name in _SPEAKER_SEPARATOR.split(cell or "") if name.strip()]


def join_names(names: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def speakers_sentence(names: list[str]) -> str:
    """``Speakers: A, B and C.`` (empty when nobody is listed)."""
    return f"Speakers: {join_names(names)}." if names else ""


def _youtube_safe(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


def youtube_title(title: str) -> str:
    """The talk title as YouTube accepts it (no angle brackets, at most 100 characters)."""
    clean = _youtube_safe(" ".join(title.split()))
    return clean if len(clean) <= YOUTUBE_TITLE_MAX else clean[: YOUTUBE_TITLE_MAX - 1] + "…"


def youtube_description(description: str, speakers: list[str]) -> str:
    """Talk description followed by the speakers as a sentence, within YouTube's 5000-byte limit."""
    parts = [p for p in (description.strip(), speakers_sentence(speakers)) if p]
    text = _youtube_safe("\n\n".join(parts))
    encoded = text.encode()
    if len(encoded) > YOUTUBE_DESCRIPTION_MAX_BYTES:
        text = encoded[: YOUTUBE_DESCRIPTION_MAX_BYTES - 3].decode(errors="ignore") + "…"
    return text


def email_subject(template: str, title: str) -> str:
    """Subject line from the conference's template (single line whatever the title holds)."""
    return template.format(title=" ".join(title.split()))


DESTINATION_NAMES = {"youtube": "YouTube", "facebook": "Facebook", "library": "Download"}


def speaker_email(
    *,
    to_name: str,
    to_address: str,
    sender: str,
    subject: str,
    title: str,
    speakers: list[str],
    links: dict[str, str],
    updated: bool = False,
) -> EmailMessage:
    """The email telling one speaker their talk is online: plain text with an HTML alternative.

    ``links`` (destination → link, in order) lists every place the talk is; one link alone is shown bare.
    ``updated``: the "updated recording" email of a recut that replaces an already published talk.
    """
    co_speakers = [s for s in speakers if s != to_name]
    with_line = f"You gave it with {join_names(co_speakers)}." if co_speakers else ""
    if updated:
        intro = f'An updated recording of your talk "{title}" is now online. It replaces the earlier one:'
        intro_html = "An updated recording of your talk <strong>&ldquo;{}&rdquo;</strong> is now online. It replaces the earlier one:"
        these = "these links" if len(links) > 1 else "this link"
        closing = f"Please share {these} from now on. Thank you for speaking!"
    else:
        intro = f'Your talk "{title}" is now online:'
        intro_html = "Your talk <strong>&ldquo;{}&rdquo;</strong> is now online:"
        closing = "Thank you for speaking!"

    def label(destination: str) -> str:
        return DESTINATION_NAMES.get(destination, destination.capitalize()) if len(links) > 1 else ""

    lines = [f"{label(d)}: {url}" if label(d) else url for d, url in links.items()]
    text = "\n".join(
        [f"Hello {to_name},", "", intro, *lines, *(["", with_line] if with_line else []), "", closing]
    )
    e = html.escape
    with_html = f"<p>You gave it with {e(join_names(co_speakers))}.</p>" if co_speakers else ""
    links_html = "<br>".join(
        (f"{e(label(d))}: " if label(d) else "") + f'<a href="{e(url, quote=True)}">{e(url)}</a>'
        for d, url in links.items()
    )
    body_html = (
        "<!DOCTYPE html><html><body>"
        f"<p>Hello {e(to_name)},</p>"
        f"<p>{intro_html.format(e(title))}<br>"
        f"{links_html}</p>"
        f"{with_html}"
        f"<p>{e(closing)}</p>"
        "</body></html>"
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=to_name, addr_spec=to_address)
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(body_html, subtype="html")
    return message
