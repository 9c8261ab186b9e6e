"""The words of the stage machine. The machine itself is data: each cohort runs a program definition
(`smartcity.models.programs`), whose stages, edges and guards the engine reads.

`Stage` names the stages of the shipped default program, for the code and tests that tell its story (the
demo, the 2017 scenario); the engine never assumes them. `EdgeKind` is what a move is, in every program.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """The stages of the shipped default program (models/programs/default.toml), by name."""

    nominated = "nominated"
    selected = "selected"
    drafting = "drafting"
    masterplan_completed = "masterplan_completed"
    quick_win_delivered = "quick_win_delivered"
    not_selected = "not_selected"
    withdrawn = "withdrawn"


class EdgeKind(StrEnum):
    """The kind of a move, as recorded in history; `force` is an advance whose soft guard was overridden."""

    advance = "advance"
    decline = "decline"
    revise = "revise"
    withdraw = "withdraw"
    force = "force"
    reconsider = "reconsider"
