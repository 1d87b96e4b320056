"""Sending speaker emails through the ``smtp_default`` connection.

SmtpHook opens the connection exactly as Airflow's email backend does (TLS/SSL, auth and ``from_email``
from the connection), but its ``send_email_smtp`` only builds HTML-only messages, so the prepared
plain-text + HTML ``EmailMessage`` is handed to the hook's open client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any


@contextmanager
def smtp_sender(conn_id: str = "smtp_default") -> Iterator[tuple[Any, str | None]]:
    """Yield ``(send, default_from)``: ``send(message)`` delivers one message on one open connection."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as hook:

        def send(message: EmailMessage) -> None:
            hook._smtp_client.send_message(message)

        yield send, hook.from_email
