"""Which definition a cohort runs: each cohort belongs to a program row, and the row names its definition.

Shipped definitions are read from the installed package by name; a definition loaded from a file is kept in
the row as text (with its digest), so every worker on every machine runs the very same definition.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from smartcity.models.core.errors import DomainRefused
from smartcity.models.core.tables import Cohort, Enrollment, Program
from smartcity.models.programs.definition import ProgramDefinition
from smartcity.models.programs.loading import DEFAULT_PROGRAM, from_source, resolve, shipped
from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, SelectionPolicy

#: The program row that runs the shipped default (the name it has had since the first migration).
DEFAULT_PROGRAM_NAME = "Gerakan Menuju 100 Smart City"


def definition_of(program: Program) -> ProgramDefinition:
    """The definition a program row runs."""
    if program.definition_source is not None:
        return from_source(program.definition_source)
    return shipped(program.definition)


def program_of_cohort(session: Session, cohort_id: int) -> ProgramDefinition:
    """The definition the cohort runs (looked up once per session: a cohort never changes its program)."""
    known: dict[int, ProgramDefinition] = session.info.setdefault("smartcity.programs", {})
    if cohort_id not in known:
        program = session.exec(select(Program).join(Cohort).where(Cohort.id == cohort_id)).one()
        known[cohort_id] = definition_of(program)
    return known[cohort_id]


def remember_program(session: Session, cohort_id: int, program: Program) -> None:
    """Note the cohort's program row, read by a query that joined it anyway (saves a lookup per stage change)."""
    session.info.setdefault("smartcity.programs", {}).setdefault(cohort_id, definition_of(program))


def program_of_enrollment(session: Session, enrollment: Enrollment) -> ProgramDefinition:
    """The definition an enrollment's cohort runs."""
    return program_of_cohort(session, enrollment.cohort_id)


def program_named(session: Session, cohort: str | None) -> ProgramDefinition:
    """The definition of the cohort called `cohort`; the shipped default when no cohort is named or known."""
    if cohort is not None:
        row = session.exec(select(Program).join(Cohort).where(Cohort.name == cohort)).first()
        if row is not None:
            return definition_of(row)
    return shipped(DEFAULT_PROGRAM)


def programs_in_use(session: Session) -> list[ProgramDefinition]:
    """Every definition some cohort runs (the default when there is no cohort yet)."""
    rows = session.exec(select(Program).where(col(Program.id).in_(select(Cohort.program_id).distinct()))).all()
    return [definition_of(r) for r in rows] or [shipped(DEFAULT_PROGRAM)]


def closed_stages(session: Session) -> list[str]:
    """The stages where a file is closed, in any program in use (for queries that span cohorts)."""
    return sorted({s for d in programs_in_use(session) for s in d.closed})


def ensure_program(session: Session, *, program: str = DEFAULT_PROGRAM, now: datetime) -> Program:
    """The program row for a shipped definition name or a definition file, created on first use.

    A file registers its text under the definition's own name; registering a different text under a name
    already taken is refused, so cohorts that run a definition never see it change under them."""
    definition, source = resolve(program)
    name = DEFAULT_PROGRAM_NAME if definition.name == DEFAULT_PROGRAM and source is None else definition.name
    row = session.exec(select(Program).where(Program.name == name)).first()
    digest = None if source is None else hashlib.sha256(source.encode()).hexdigest()
    if row is None:
        row = Program(
            name=name,
            created_at=now,
            definition=definition.name,
            definition_source=source,
            definition_digest=digest,
        )
        session.add(row)
        session.flush()
    elif row.definition_digest != digest:
        raise DomainRefused(
            f"program {name} is already registered with another definition; give the changed definition a "
            "new name (cohorts keep the definition they started with)"
        )
    return row


def selection_policy(session: Session, cohort: str, path: str | Path | None = None) -> SelectionPolicy:
    """The selection policy for a cohort: a policy file when one is given, else its program's own `[selection]`,
    else the shipped policy file (a program without a selection of its own, scored by hand)."""
    if path is not None:
        return SelectionPolicy.from_toml(path)
    return program_named(session, cohort).selection or SelectionPolicy.from_toml(DEFAULT_POLICY_PATH)
