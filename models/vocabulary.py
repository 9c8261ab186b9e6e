"""The program's vocabulary: one StrEnum per set of statuses, kinds, roles and dimensions.

Tables, forms, templates and the CLI all use these. A StrEnum is its string (`DeadlineStatus.open ==
"open"`, `json.dumps` writes "open"), so rows written before, TOML and CSV input and JSON output are
unchanged; the enum only makes a typo an error. The stage machine's `Stage` and `EdgeKind` live next to
the edge table in `smartcity.models.core.stages`. Pure: no database, no Prefect.
"""

from __future__ import annotations

from enum import StrEnum


class DeadlineStatus(StrEnum):
    """Where a deadline stands: still running, met, or closed without being met."""

    open = "open"
    done = "done"
    cancelled = "cancelled"


class DeadlineKind(StrEnum):
    """What a deadline is for: a stage's deliverable, a milestone (bimtek), or a reviewer's answer."""

    stage = "stage"
    milestone = "milestone"
    review = "review"


class NotificationStatus(StrEnum):
    """The states of a row of the notification outbox.

    pending -> sending (claimed under a lease) -> sent. A failed send goes back to pending with its
    tries counted (no state of its own); unaddressed waits for a contact of its role; cancelled is final.
    """

    pending = "pending"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"
    unaddressed = "unaddressed"


class RoundStatus(StrEnum):
    """A masterplan review round: open until its quorum decides."""

    open = "open"
    approved = "approved"
    revision_requested = "revision_requested"


class Decision(StrEnum):
    """One reviewer's decision on a round."""

    approve = "approve"
    revise = "revise"


class Role(StrEnum):
    """Who a contact is: a region's PIC, a national coordinator, a reviewer, or a region's escalation."""

    pic = "pic"
    coordinator = "coordinator"
    reviewer = "reviewer"
    escalation = "escalation"


#: Roles that belong to one region (a contact of these needs a region).
REGIONAL_ROLES: frozenset[Role] = frozenset({Role.pic, Role.escalation})


class Dimension(StrEnum):
    """The six smart-city dimensions of Gerakan Menuju 100 Smart City."""

    governance = "governance"
    branding = "branding"
    economy = "economy"
    living = "living"
    society = "society"
    environment = "environment"


def values(enum: type[StrEnum]) -> str:
    """The members' values, comma-separated, for 'valid: ...' messages."""
    return ", ".join(m.value for m in enum)
