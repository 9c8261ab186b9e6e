"""Fakes for unit tests: a recording sender in place of Apprise (integration tests use real receivers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from smartcity.models.notifications.delivery import SendFailed


@dataclass
class RecordingSender:
    """A fake channel for unit tests: records what it was asked to send; `fail(url, title)` decides failures."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail: Callable[[str, str], bool] = lambda url, title: False

    def send(self, url: str, title: str, body: str) -> None:
        """Record, or raise SendFailed when `fail` says so."""
        if self.fail(url, title):
            raise SendFailed("recording sender told to fail")
        self.sent.append((url, title, body))
