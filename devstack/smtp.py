"""SMTP sink: an aiosmtpd server on loopback that keeps every message it receives.

Refusal rule (for tests of per-recipient failures): a recipient whose local part starts with ``refuse``
(``refuse@…``, ``refuse.bob@…``) is answered ``550 5.1.1`` at ``RCPT TO``, as a real server refuses an
unknown mailbox; ``refused`` lists those addresses.
"""

from __future__ import annotations

import email
import email.policy
import logging
import threading
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from devstack.net import free_port

REFUSAL = "550 5.1.1 Recipient address rejected: User unknown in local recipient table"


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@", 1)[0].lower().startswith("refuse"):
            self.sink._refuse(address)
            return REFUSAL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink._keep(message, envelope.content)
        return "250 Message accepted for delivery"


class SmtpSink:
    """Receives mail on 127.0.0.1:<port>; ``messages`` lists it, ``save_dir`` keeps .eml files."""

    def __init__(self, save_dir: Path | None = None) -> None:
        self.port = free_port()
        self.save_dir = save_dir
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._refused: list[str] = []
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        if self.save_dir:
            self.save_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP verb
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def refused(self) -> list[str]:
        """Recipients refused at RCPT TO (the ``refuse*@`` rule), oldest first."""
        with self._lock:
            return list(self._refused)

    def _refuse(self, address: str) -> None:
        with self._lock:
            self._refused.append(address)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def _keep(self, message: EmailMessage, raw: bytes) -> None:
        with self._lock:
            self._messages.append(message)
            count = len(self._messages)
        if self.save_dir:
            (self.save_dir / f"{count:04d}.eml").write_bytes(raw)
