"""Quick wins: register one for a region with a completed masterplan, attach evidence, verify it.

Every check runs before the first write, so a refusal leaves the database as it was. The caller
commits (`session_scope`). Verification is what the guard of quick_win_delivered reads.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, ValidationError, field_validator
from sqlmodel import Session, col, select

from smartcity.models.core import audit, events
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.tables import Cohort, Enrollment, Region
from smartcity.models.infra.db import row_id
from smartcity.models.programs.store import program_of_enrollment
from smartcity.models.quickwins.tables import (
    DIMENSIONS,
    KPIBase,
    QuickWin,
    QuickWinBase,
    QuickWinEvidence,
    QuickWinKPI,
)
from smartcity.models.vocabulary import Dimension

#: What a coordinator confirms before a quick win counts as delivered: item -> what it means.
DEFAULT_CHECKLIST: dict[str, str] = {
    "evidence_attached": "evidence (a document URL or a file) is attached",
    "kpi_targets_set": "every KPI has a target",
    "budget_documented": "the budget in rupiah is documented",
    "launched_to_residents": "the quick win is launched and open to residents",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


class KPISpec(KPIBase):
    """A KPI as registered (the table's fields and limits, checked: the target must be a finite number)."""

    # SQLModel types its config as its own TypedDict; the keys are pydantic's.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]
    target: float | None = None  # type: ignore[assignment]  # the table requires one; parse_kpi says so first

    @field_validator("target", "actual")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class QuickWinCreate(QuickWinBase):
    """What a coordinator registers: the quick win's own fields (required here), its dimension and its KPIs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]
    dimension: Dimension
    budget_idr: int = Field(ge=0)
    start_date: date
    kpis: list[KPISpec] = Field(min_length=1)

    @field_validator("dimension", mode="before")
    @classmethod
    def _dimension(cls, v: Any) -> Any:
        # Before the enum's own check, so any case is accepted and the message lists the six.
        if not isinstance(v, str):
            return v
        v = v.strip().lower()
        if v not in DIMENSIONS:
            raise ValueError(f"unknown dimension {v!r} (one of {', '.join(DIMENSIONS)})")
        return v


KPI_SHAPE = "name:unit:target[:actual][:lower|higher]"
DIRECTIONS = {"lower": True, "higher": False}


def parse_kpi(text: str) -> KPISpec:
    """Parse 'name:unit:target[:actual][:lower|higher]' from the command line (higher is better by default)."""
    parts = [p.strip() for p in text.split(":")]
    lower = False
    if len(parts) in (4, 5) and parts[-1].lower() in DIRECTIONS:
        lower = DIRECTIONS[parts.pop().lower()]
    elif len(parts) == 5:
        raise BadInput(f"--kpi {text!r}: the last part is {parts[-1]!r}; give 'lower' or 'higher' ({KPI_SHAPE})")
    if len(parts) not in (3, 4):
        raise BadInput(f"--kpi {text!r}: expected {KPI_SHAPE}")
    if not parts[2]:
        raise BadInput(f"--kpi {parts[0]!r} has no target ({KPI_SHAPE})")
    try:
        numbers = [float(p.replace("_", "")) for p in parts[2:] if p]
    except ValueError:
        raise BadInput(f"--kpi {parts[0]!r}: target and actual must be numbers ({text!r})") from None
    data: dict[str, Any] = {
        "name": parts[0],
        "unit": parts[1],
        "target": numbers[0],
        "actual": numbers[1] if len(numbers) > 1 else None,
        "lower_is_better": lower,
    }
    try:
        return KPISpec(**data)
    except ValidationError as exc:
        raise BadInput(f"--kpi {text!r}: {_first_error(exc)}") from None


def kpi_met(target: float, actual: float | None, lower_is_better: bool) -> bool | None:
    """Whether the KPI meets its target (a ceiling when lower is better); None until measured."""
    if actual is None:
        return None
    return actual <= target if lower_is_better else actual >= target


def _number(value: float, lang: str) -> str:
    """12.5 as '12.5' (en) or '12,5' (id); whole numbers without decimals, thousands grouped."""
    text = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0")
    return text.translate(str.maketrans(",.", ".,")) if lang == "id" else text


_PROGRESS = {
    "en": {
        "unmeasured": "target {t} {unit}, not measured yet",
        "unmeasured_lower": "target at most {t} {unit}, not measured yet",
        "lower": "{a} {unit} against a target of at most {t}: {verdict}",
        "higher": "{a} of {t} {unit} ({pct}%)",
        "zero": "{a} {unit} against a target of {t}",
        "met": "met",
        "not met": "not met",
    },
    "id": {
        "unmeasured": "target {t} {unit}, belum diukur",
        "unmeasured_lower": "target paling tinggi {t} {unit}, belum diukur",
        "lower": "{a} {unit} terhadap target paling tinggi {t}: {verdict}",
        "higher": "{a} dari {t} {unit} ({pct}%)",
        "zero": "{a} {unit} terhadap target {t}",
        "met": "tercapai",
        "not met": "belum tercapai",
    },
}


def kpi_progress(target: float, actual: float | None, unit: str, lower_is_better: bool, lang: str = "en") -> str:
    """'5 days against a target of at most 3: not met' (lower is better) or '80 of 100 visits (80%)'."""
    words = _PROGRESS["id" if lang == "id" else "en"]
    t = _number(target, lang)
    if actual is None:
        return words["unmeasured_lower" if lower_is_better else "unmeasured"].format(t=t, unit=unit)
    a = _number(actual, lang)
    if lower_is_better:
        verdict = words["met" if kpi_met(target, actual, True) else "not met"]
        return words["lower"].format(a=a, unit=unit, t=t, verdict=verdict)
    if not target:  # a percentage of zero has no meaning
        return words["zero"].format(a=a, unit=unit, t=t)
    pct = _number(round(100 * actual / target, 1), lang)
    return words["higher"].format(a=a, t=t, unit=unit, pct=pct)


def _first_error(exc: ValidationError) -> str:
    return _error_text(exc.errors()[0])


def _error_text(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]).replace("budget_idr", "budget")
    return f"{where}: {str(err['msg']).removeprefix('Value error, ')}"


def _validated(region_code: str, data: QuickWinCreate | Mapping) -> QuickWinCreate:
    try:
        spec = data if isinstance(data, QuickWinCreate) else QuickWinCreate.model_validate(dict(data))
    except ValidationError as exc:
        errors = [_error_text(e) for e in exc.errors()]
        raise BadInput(
            f"quick win for region {region_code}: {errors[0]}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors if len(errors) > 1 else None,
        ) from None
    missing = [k.name for k in spec.kpis if k.target is None]
    if missing:
        raise BadInput(f"quick win for region {region_code}: KPI {missing[0]!r} has no target")
    names = [k.name.lower() for k in spec.kpis]
    if len(set(names)) != len(names):
        raise BadInput(f"quick win for region {region_code}: KPI names must be unique")
    return spec


def _actor(actor: str, what: str = "actor") -> str:
    actor = (actor or "").strip()
    if not actor or len(actor) > 200 or any(not c.isprintable() for c in actor):
        raise BadInput(f"{what} must name a person (1-200 printable characters)")
    return actor


def register_quick_win(
    session: Session,
    region_code: str,
    data: QuickWinCreate | Mapping,
    actor: str,
    now: datetime,
    cohort: str | None = None,
) -> QuickWin:
    """Register a quick win for a region whose masterplan is completed."""
    region_code = region_code.strip()
    spec = _validated(region_code, data)
    who = _actor(actor)
    region = session.exec(select(Region).where(Region.bps_code == region_code)).first()
    if region is None:
        raise NotFound(f"region {region_code}: not in the registry")
    enrollment = find_enrollment(session, region_code, cohort)
    program = program_of_enrollment(session, enrollment)
    edge = program.guarded_by("quick_win_verified")
    if edge is None or enrollment.stage != edge.source:
        when = (
            f"once the region reaches {edge.source} ({program.label(edge.source, 'en')})"
            if edge
            else f"only in a program with a quick win ({program.name} has none)"
        )
        raise DomainRefused(
            f"region {region_code} ({region.name}) is {enrollment.stage}: a quick win is registered {when}"
        )
    qw = QuickWin(
        enrollment_id=row_id(enrollment),
        title=spec.title,
        description=spec.description,
        dimension=spec.dimension,
        budget_idr=spec.budget_idr,
        start_date=spec.start_date,
        registered_at=now,
        registered_by=who,
    )
    session.add(qw)
    session.flush()
    for k in spec.kpis:
        assert k.target is not None  # _validated refused a KPI without a target
        session.add(
            QuickWinKPI(
                quick_win_id=row_id(qw),
                name=k.name,
                unit=k.unit,
                target=k.target,
                actual=k.actual,
                lower_is_better=k.lower_is_better,
            )
        )
    _emit(session, qw, "registered", {"title": qw.title, "dimension": qw.dimension, "actor": who}, now)
    facts = {"title": qw.title, "dimension": qw.dimension, "budget_idr": qw.budget_idr}
    _audit(session, qw, "quick_win_registered", who, now, {**facts, "kpis": [k.name for k in spec.kpis]})
    return qw


def _get(session: Session, quick_win_id: int) -> tuple[QuickWin, Enrollment, Region]:
    qw = session.get(QuickWin, quick_win_id)
    if qw is None:
        raise NotFound(f"quick win {quick_win_id} does not exist")
    enrollment = session.get(Enrollment, qw.enrollment_id)
    assert enrollment is not None
    region = session.get(Region, enrollment.region_id)
    assert region is not None
    return qw, enrollment, region


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file's bytes, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"evidence URL {url[:80]!r} must be an http(s) URL with a host")
    if parts.username or parts.password:
        # Evidence is shown in reports and lists: a URL that carries credentials would leak them.
        raise BadInput("evidence URL must not carry credentials (user:password@)")
    if len(url) > 2000 or any(not c.isprintable() or c.isspace() for c in url):
        raise BadInput("evidence URL must be at most 2000 characters, without spaces or control characters")
    return url


def add_evidence(
    session: Session,
    quick_win_id: int,
    *,
    actor: str,
    now: datetime,
    url: str | None = None,
    file: Path | None = None,
    provided_sha256: str | None = None,
) -> QuickWinEvidence:
    """Attach a URL (checksum of its text; nothing is fetched) or a file (checksum of its bytes)."""
    who = _actor(actor)
    if (url is None) == (file is None):
        raise BadInput("give exactly one of a URL or a file as evidence")
    if provided_sha256 is not None:
        provided_sha256 = provided_sha256.strip().lower()
        if url is None or not _SHA256.match(provided_sha256):
            raise BadInput("a provided checksum goes with a URL and is 64 hex digits (SHA-256)")
    if url is not None:
        location = _check_url(url)
        sha, size, kind = hashlib.sha256(location.encode("utf-8")).hexdigest(), None, "url"
    else:
        assert file is not None
        path = file.expanduser().resolve()
        if not path.is_file():
            raise BadInput(f"{file}: no such file")
        location, kind = str(path), "file"
        sha, size = file_sha256(path)
    qw, _, _ = _get(session, quick_win_id)
    row = QuickWinEvidence(
        quick_win_id=row_id(qw),
        kind=kind,
        location=location,
        sha256=sha,
        provided_sha256=provided_sha256,
        size_bytes=size,
        recorded_at=now,
        recorded_by=who,
    )
    session.add(row)
    session.flush()
    _emit(
        session,
        qw,
        f"evidence:{row.id}",
        {"kind": kind, "sha256": sha, "actor": who},
        now,
        event="smartcity.quickwin.evidence-added",
    )
    # The host or file name only: a document URL's query may carry an access token.
    shown = (urlsplit(location).hostname or "") if kind == "url" else Path(location).name
    _audit(
        session, qw, "quick_win_evidence", who, now, {"evidence_id": row.id, "kind": kind, "at": shown, "sha256": sha}
    )
    return row


def verify_quick_win(
    session: Session, quick_win_id: int, coordinator: str, checklist: Mapping[str, bool], now: datetime
) -> QuickWin:
    """A named coordinator verifies a quick win after ticking every checklist item."""
    who = _actor(coordinator, "the verifying coordinator")
    unknown = sorted(set(checklist) - set(DEFAULT_CHECKLIST))
    if unknown:
        raise BadInput(f"unknown checklist item(s) {', '.join(unknown)} (items: {', '.join(DEFAULT_CHECKLIST)})")
    qw, enrollment, region = _get(session, quick_win_id)
    label = f"quick win {qw.id} of region {region.bps_code} ({region.name})"
    if qw.verified_at is not None:
        raise DomainRefused(f"{label} was already verified by {qw.verified_by} on {qw.verified_at:%Y-%m-%d}")
    program = program_of_enrollment(session, enrollment)
    if enrollment.stage in program.closed and enrollment.stage != program.completed:
        raise DomainRefused(f"{label}: the region is {enrollment.stage}")
    failure = _verification_gap(session, qw, checklist)
    if failure:
        raise DomainRefused(f"{label} not verified: {failure}")
    qw.verified_at, qw.verified_by = now, who
    qw.verification_checklist = {item: True for item in DEFAULT_CHECKLIST}
    session.add(qw)
    session.flush()
    _emit(session, qw, "verified", {"verified_by": who}, now)
    _audit(session, qw, "quick_win_verified", who, now, {"checklist": sorted(DEFAULT_CHECKLIST)})
    return qw


def _audit(session: Session, qw: QuickWin, kind: str, who: str, now: datetime, content: dict[str, Any]) -> None:
    """Append one act on a quick win to the audit chain, naming its region."""
    _, _, region = _get(session, row_id(qw))
    audit.record(
        session,
        kind=kind,
        subject=f"region {region.bps_code} quick win {qw.id}",
        actor=who,
        at=now,
        content={"quick_win_id": qw.id, **content},
    )


def _verification_gap(session: Session, qw: QuickWin, checklist: Mapping[str, bool]) -> str | None:
    """Why the facts or the ticks fall short, or None."""
    evidence = session.exec(select(QuickWinEvidence.id).where(QuickWinEvidence.quick_win_id == qw.id)).first()
    if evidence is None:
        return "no evidence attached (smartcity quickwin evidence ID --url ... | --file ...)"
    kpis = session.exec(select(QuickWinKPI).where(QuickWinKPI.quick_win_id == qw.id)).all()
    if not kpis or any(k.target is None for k in kpis):
        return "a KPI without a target"
    if qw.budget_idr is None:
        return "no budget documented"
    unticked = [item for item in DEFAULT_CHECKLIST if checklist.get(item) is not True]
    if unticked:
        return f"checklist item(s) not ticked: {', '.join(unticked)}"
    return None


def _emit(session: Session, qw: QuickWin, what: str, payload: dict, now: datetime, event: str | None = None) -> None:
    _, enrollment, region = _get(session, row_id(qw))
    cohort = session.get_one(Cohort, enrollment.cohort_id)
    events.enqueue(
        session,
        key=f"quickwin:{qw.id}:{what}",
        event=event or f"smartcity.quickwin.{what}",
        resource={"prefect.resource.id": f"smartcity.quickwin.{qw.id}", "prefect.resource.name": qw.title},
        related=[
            {**events.region_resource(region), "prefect.resource.role": "region"},
            *events.related_for(region, cohort),
        ],
        payload={"quick_win_id": qw.id, "region": region.bps_code, "cohort": cohort.name, **payload},
        occurred_at=now,
    )


def _kpi_row(k: QuickWinKPI) -> dict:
    """A stored KPI as listed: its numbers, its direction, whether it is met, and the progress sentence."""
    return {
        "name": k.name,
        "unit": k.unit,
        "target": k.target,
        "actual": k.actual,
        "lower_is_better": k.lower_is_better,
        "met": kpi_met(k.target, k.actual, k.lower_is_better),
        "progress": kpi_progress(k.target, k.actual, k.unit, k.lower_is_better),
    }


def list_quick_wins(session: Session, region_code: str | None = None) -> list[dict]:
    """Every quick win (of one region), with its KPIs and evidence, oldest first."""
    query = (
        select(QuickWin, Region, Cohort)
        .join(Enrollment, col(QuickWin.enrollment_id) == Enrollment.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .order_by(col(QuickWin.id))
    )
    if region_code:
        if session.exec(select(Region.id).where(Region.bps_code == region_code.strip())).first() is None:
            raise NotFound(f"region {region_code}: not in the registry")
        query = query.where(Region.bps_code == region_code.strip())
    out = []
    for qw, region, cohort in session.exec(query).all():
        kpis = session.exec(
            select(QuickWinKPI).where(QuickWinKPI.quick_win_id == qw.id).order_by(col(QuickWinKPI.id))
        ).all()
        evidence = session.exec(
            select(QuickWinEvidence).where(QuickWinEvidence.quick_win_id == qw.id).order_by(col(QuickWinEvidence.id))
        ).all()
        out.append(
            {
                "id": qw.id,
                "bps_code": region.bps_code,
                "region": region.name,
                "cohort": cohort.name,
                "title": qw.title,
                "description": qw.description,
                "dimension": qw.dimension,
                "budget_idr": qw.budget_idr,
                "start_date": qw.start_date.isoformat() if qw.start_date else None,
                "kpis": [_kpi_row(k) for k in kpis],
                "evidence": [
                    {
                        "kind": e.kind,
                        "location": e.location,
                        "sha256": e.sha256,
                        "provided_sha256": e.provided_sha256,
                        "recorded_at": e.recorded_at.isoformat(),
                        "recorded_by": e.recorded_by,
                    }
                    for e in evidence
                ],
                "verified_at": qw.verified_at.isoformat() if qw.verified_at else None,
                "verified_by": qw.verified_by,
            }
        )
    return out
