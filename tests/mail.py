"""A real SMTP server on loopback (aiosmtpd) that demands AUTH, for the delivery and secret-leak tests."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.prefect_server import free_port


class Mailbox:
    """aiosmtpd handler that keeps every message it accepts; `url_for(to)` is the Apprise URL to reach it."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password, self.port = user, password, 0
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """Only this mailbox's user and password get in (Apprise must really send the credentials)."""
        return AuthResult(
            success=isinstance(auth_data, LoginPassword)
            and (auth_data.login, auth_data.password) == (self.user.encode(), self.password.encode())
        )

    def url_for(self, to: str) -> str:
        """mailto:// with the credentials in it, as a coordinator would configure a real mail account."""
        return (
            f"mailto://{self.user}:{quote(self.password, safe='')}@127.0.0.1:{self.port}?smtp=127.0.0.1"
            f"&from=sweep@smartcity.test&to={to}&mode=insecure"
        )


@contextmanager
def smtp_with_auth(user: str, password: str) -> Iterator[Mailbox]:
    """Start the server on a free port (AUTH over plain text: loopback only), yield its mailbox, stop it."""
    box = Mailbox(user, password)
    box.port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=box.port, authenticator=box.authenticate, auth_require_tls=False)
    ctl.start()
    try:
        yield box
    finally:
        ctl.stop()
