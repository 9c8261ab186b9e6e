"""Domain errors. Each names the region, the stage and the reason, so the CLI can print one clear line.

One rule decides the exit code, by what the coordinator has to change:
- 2, `BadInput`: the request itself is wrong and retyping it fixes it. A malformed value, a missing or
  ambiguous option (a withdrawal without --reason), and a name that does not exist (`NotFound`: an unknown
  region, cohort, reviewer, contact, deadline, quick win or review round).
- 1, `DomainRefused`: the request is well-formed and names real things, but the program's rules or the
  current state refuse it (a skipped stage, a full quota, a region not enrolled, a stale version).
"""

from __future__ import annotations


class SmartCityError(Exception):
    """Base of every error the engine reports to a coordinator."""

    exit_code = 1


class DomainRefused(SmartCityError):
    """The domain refused a request that was well-formed (exit code 1)."""


class BadInput(SmartCityError):
    """Malformed input: a file, an argument, a value, a missing option (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or []


class NotFound(BadInput):
    """A name the user gave (region, cohort, reviewer, contact, deadline, quick win) does not exist (exit 2)."""


class InvalidTransition(DomainRefused):
    """The requested edge is not in the transition table, or lacks what it needs (a reason)."""


class ReasonRequired(BadInput, InvalidTransition):
    """A move that must say why (withdraw, revise, force) was asked without a reason: bad usage (exit 2).

    Still an InvalidTransition, so a cohort advance lists it among the refused regions."""


class GuardFailed(DomainRefused):
    """The edge exists but its guard is not satisfied."""


class StaleVersion(DomainRefused):
    """Someone else changed the enrollment first (optimistic concurrency conflict)."""


class NotEnrolled(DomainRefused):
    """The region exists but has no enrollment that matches the request."""
