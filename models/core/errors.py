"""Domain errors. Each names the region, the stage and the reason, so the CLI can print one clear line."""

from __future__ import annotations


class SmartCityError(Exception):
    """Base of every error the engine reports to a coordinator."""

    exit_code = 1


class DomainRefused(SmartCityError):
    """The domain refused a request that was well-formed (exit code 1)."""


class InvalidTransition(DomainRefused):
    """The requested edge is not in the transition table, or lacks what it needs (a reason)."""


class GuardFailed(DomainRefused):
    """The edge exists but its guard is not satisfied."""


class StaleVersion(DomainRefused):
    """Someone else changed the enrollment first (optimistic concurrency conflict)."""


class NotEnrolled(DomainRefused):
    """The region has no enrollment that matches the request."""


class NotFound(DomainRefused):
    """A named object (region, cohort, contact) does not exist."""


class BadInput(SmartCityError):
    """Malformed input: a file, an argument, a value (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or []
