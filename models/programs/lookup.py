"""Stage names as coordinators type them, checked against the program of the cohort or region they are for."""

from __future__ import annotations

from sqlmodel import Session

from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import SmartCityError
from smartcity.models.programs.definition import UnknownStage
from smartcity.models.programs.store import program_named, program_of_enrollment, programs_in_use


def parse_stage_for(session: Session, value: str, *, cohort: str | None = None, region_code: str | None = None) -> str:
    """A typed stage name checked against the program it is meant for: the cohort's, else the region's open
    enrollment's, else any program in use. UnknownStage (one line listing the stages) otherwise."""
    if cohort is None and region_code is not None:
        try:
            return program_of_enrollment(session, find_enrollment(session, region_code)).parse_stage(value)
        except UnknownStage:
            raise
        except SmartCityError:
            pass  # not enrolled (or ambiguous): the change itself will say so; check the name against all
    if cohort is not None:
        return program_named(session, cohort).parse_stage(value)
    programs = programs_in_use(session)
    for program in programs:
        try:
            return program.parse_stage(value)
        except UnknownStage:
            continue
    names = sorted({s for p in programs for s in p.stage_names})
    raise UnknownStage(f"unknown stage {value!r} (stages: {', '.join(names)})")


def reconsider_target(session: Session, region_code: str, cohort: str | None) -> str:
    """Where `region reconsider` takes a region: its program's reconsider edge out of its stage (to nominated)."""
    enrollment = find_enrollment(session, region_code, cohort)
    program = program_of_enrollment(session, enrollment)
    back = [e for e in program.edge_list if e.kind == "reconsider"]
    here = next((e for e in back if e.source == enrollment.stage), None)
    if here is not None:
        return here.target
    # No edge from here: let the stage machine refuse with its own words (or say "unchanged").
    return back[0].target if back else program.initial
