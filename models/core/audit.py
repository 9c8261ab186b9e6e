"""Tamper evidence: each audit row hashes its content and the previous row's hash, each enrollment must match
the end of its chain, and an anchor (the chains' heads, kept outside the database) shows a cut tail."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

GENESIS = "0" * 64
HASH_PATTERN = r"^[0-9a-f]{64}$"
#: Who an audited act is recorded as when a caller names no person (scripts, the demo, tests). The CLI always
#: names one: --actor, or the OS user.
SYSTEM_ACTOR = "system"


def canonical(content: dict[str, Any]) -> str:
    """A stable text form of a row's content (sorted keys, ISO times in UTC)."""

    def default(o: Any) -> str:
        if isinstance(o, datetime):
            return o.isoformat()
        return str(o)

    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=default)


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """sha256 over the previous hash and this row's canonical content."""
    return hashlib.sha256((prev_hash + canonical(content)).encode()).hexdigest()


def transition_content(t: Any) -> dict[str, Any]:
    """The fields of a StageTransition that its hash covers."""
    return {
        "enrollment_id": t.enrollment_id,
        "version": t.version,
        "from": t.from_stage,
        "to": t.to_stage,
        "kind": t.kind,
        "actor": t.actor,
        "reason": t.reason,
        "occurred_at": t.occurred_at.isoformat(timespec="microseconds"),
        "flow_run_id": t.flow_run_id,
        "idempotency_key": t.idempotency_key,
    }


def record_content(r: Any) -> dict[str, Any]:
    """The fields of an AuditRecord that its hash covers."""
    return {
        "kind": r.kind,
        "subject": r.subject,
        "actor": r.actor,
        "at": r.at.isoformat(timespec="microseconds"),
        "content": r.content,
    }


def actor_name(actor: str, flag: str = "--actor") -> str:
    """The stripped name of who acts; BadInput unless it is 1-200 printable characters."""
    from smartcity.models.core.errors import BadInput

    name = (actor or "").strip()
    if not name or len(name) > 200 or any(not c.isprintable() for c in name):
        raise BadInput(f"{flag} must name who acts (1-200 printable characters)")
    return name


def record(session: Any, *, kind: str, subject: str, actor: str, content: dict[str, Any], at: datetime) -> Any:
    """Append one audited act to the chain, in the caller's transaction. Content must hold no secret."""
    from sqlalchemy import text
    from sqlmodel import col, select

    from smartcity.models.core.tables import AuditRecord

    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time extends the chain (SQLite's BEGIN IMMEDIATE already serialises writers).
        session.execute(text("SELECT pg_advisory_xact_lock(7316001)"))
    prev = session.exec(select(AuditRecord.row_hash).order_by(col(AuditRecord.id).desc()).limit(1)).first()
    row = AuditRecord(
        kind=kind, subject=subject, actor=actor, at=at, content=content, prev_hash=prev or GENESIS, row_hash=""
    )
    row.row_hash = chain_hash(row.prev_hash, record_content(row))
    session.add(row)
    session.flush()
    return row


def verify(session: Any) -> tuple[int, str | None]:
    """Recompute every chain and check each enrollment against the end of its chain; (rows checked, first
    problem or None)."""
    checked, problem, last = _verify_transitions(session)
    if problem is None:
        problem = _heads_problem(_enrollments(session), last)
    if problem is None:
        more, problem = _verify_records(session)
        checked += more
    return checked, problem


def _verify_transitions(session: Any) -> tuple[int, str | None, dict[int, Any]]:
    """Walk each enrollment's chain in version order; also return the last row of each chain."""
    from sqlmodel import col, select

    from smartcity.models.core.tables import StageTransition

    checked, last = 0, dict[int, Any]()
    rows = session.exec(
        select(StageTransition).order_by(col(StageTransition.enrollment_id), col(StageTransition.version))
    ).all()
    for t in rows:
        checked += 1
        prev = last[t.enrollment_id].row_hash if t.enrollment_id in last else GENESIS
        problem = _link(prev, t.prev_hash, t.row_hash, transition_content(t))
        if problem:
            where = f"stage_transition id {t.id} (enrollment {t.enrollment_id}, version {t.version})"
            return checked, f"{where}: {problem}", last
        last[t.enrollment_id] = t
    return checked, None, last


def _verify_records(session: Any) -> tuple[int, str | None]:
    """Walk the global audit_record chain in id order."""
    from sqlmodel import col, select

    from smartcity.models.core.tables import AuditRecord

    checked, last = 0, GENESIS
    for r in session.exec(select(AuditRecord).order_by(col(AuditRecord.id))).all():
        checked += 1
        problem = _link(last, r.prev_hash, r.row_hash, record_content(r))
        if problem:
            return checked, f"audit_record id {r.id} ({r.kind} {r.subject}): {problem}"
        last = r.row_hash
    return checked, None


def _enrollments(session: Any) -> list[tuple[Any, str, str]]:
    """Every enrollment with its region's BPS code and its cohort's name."""
    from sqlmodel import col, select

    from smartcity.models.core.tables import Cohort, Enrollment, Region

    query = (
        select(Enrollment, Region.bps_code, Cohort.name)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
        .order_by(Cohort.name, Region.bps_code)
    )
    return [tuple(row) for row in session.exec(query).all()]


def chain_key(cohort: str, bps_code: str) -> str:
    """The anchor's name for one enrollment's chain: stable across exports, readable by a coordinator."""
    return f"{cohort}/{bps_code}"


def _who(key: str) -> str:
    """The region and cohort a chain key names, as the error lines say them."""
    cohort, _, code = key.rpartition("/")
    return f"region {code} (cohort {cohort})"


def _heads_problem(enrollments: list[tuple[Any, str, str]], last: dict[int, Any]) -> str | None:
    """The first enrollment whose stage and version are not those of its chain's last row."""
    seen = set()
    for enr, code, cohort in enrollments:
        seen.add(enr.id)
        t, who = last.get(enr.id), _who(chain_key(cohort, code))
        claim = f"enrollment says {enr.stage} at version {enr.version}"
        if t is None:
            if enr.version:
                return f"{who}: {claim} but has no stage_transition row (versions 1..{enr.version} missing)"
            continue
        if t.version < enr.version:
            return (
                f"{who}: {claim} but its chain ends at {t.to_stage} version {t.version} "
                f"(stage_transition versions {t.version + 1}..{enr.version} missing)"
            )
        if (t.version, t.to_stage) != (enr.version, enr.stage):
            return f"{who}: {claim} but its chain ends at {t.to_stage} version {t.version} (the enrollment was edited)"
    orphans = sorted(set(last) - seen)
    if orphans:
        return f"stage_transition rows of enrollment id {orphans[0]} have no enrollment (the enrollment was removed)"
    return None


class ChainHead(BaseModel):
    """The last row of one enrollment's chain when the anchor was taken."""

    version: int = Field(ge=1)
    hash: str = Field(pattern=HASH_PATTERN)


class RecordHead(BaseModel):
    """The last audit_record row when the anchor was taken."""

    id: int = Field(ge=1)
    hash: str = Field(pattern=HASH_PATTERN)


class Anchor(BaseModel):
    """The heads of every chain, kept outside the database so that a cut tail shows."""

    taken_at: AwareDatetime
    database: str
    chains: dict[str, ChainHead]
    audit_record: RecordHead | None


def masked_url(url: str) -> str:
    """A database URL without its password, fit for an anchor or an artifact."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def take_anchor(session: Any, *, now: datetime, database: str) -> Anchor:
    """The heads of every chain as of `now`; refused when a chain is already broken (it would anchor the damage)."""
    from sqlmodel import col, select

    from smartcity.models.core.errors import DomainRefused
    from smartcity.models.core.tables import AuditRecord

    _, problem = verify(session)
    if problem:
        raise DomainRefused(f"audit chain broken, no anchor taken: {problem}")
    _, _, last = _verify_transitions(session)
    chains = {
        chain_key(cohort, code): ChainHead(version=last[enr.id].version, hash=last[enr.id].row_hash)
        for enr, code, cohort in _enrollments(session)
        if enr.id in last
    }
    head = session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1)).first()
    return Anchor(
        taken_at=now,
        database=database,
        chains=chains,
        audit_record=RecordHead(id=head.id, hash=head.row_hash) if head else None,
    )


def check_anchor(session: Any, anchor: Anchor) -> str | None:
    """The first anchored head the database no longer holds, else None (chains may have grown since)."""
    from sqlmodel import col, select

    from smartcity.models.core.tables import AuditRecord, StageTransition

    ids = {chain_key(cohort, code): enr.id for enr, code, cohort in _enrollments(session)}
    rows = session.exec(select(StageTransition.enrollment_id, StageTransition.version, StageTransition.row_hash)).all()
    hashes = {(eid, version): h for eid, version, h in rows}
    ends: dict[int, int] = {}
    for eid, version, _ in rows:
        ends[eid] = max(ends.get(eid, 0), version)
    when = anchor.taken_at.isoformat()
    for key, head in sorted(anchor.chains.items()):
        if key not in ids:
            return f"{_who(key)}: enrollment anchored at version {head.version} on {when} no longer exists"
        now_hash = hashes.get((ids[key], head.version))
        if now_hash is None:
            return (
                f"{_who(key)}: stage_transition version {head.version} anchored on {when} is missing "
                f"(the chain now ends at version {ends.get(ids[key], 0)}: its tail was cut)"
            )
        if now_hash != head.hash:
            return f"{_who(key)}: stage_transition version {head.version} differs from the anchor of {when} (rewritten)"
    if anchor.audit_record:
        row = session.get(AuditRecord, anchor.audit_record.id)
        if row is None:
            top = session.exec(select(AuditRecord.id).order_by(col(AuditRecord.id).desc()).limit(1)).first()
            return (
                f"audit_record id {anchor.audit_record.id} anchored on {when} is missing "
                f"(the chain now ends at id {top or 0}: its tail was cut)"
            )
        if row.row_hash != anchor.audit_record.hash:
            return f"audit_record id {row.id} differs from the anchor of {when} (rewritten)"
    return None


def anchor_json(anchor: Anchor) -> str:
    """The anchor as the JSON document the coordinator keeps."""
    return json.dumps(anchor.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False)


def parse_anchor(text: str, source: str) -> Anchor:
    """An anchor from its JSON text; BadInput (one line naming `source`) when it is not one."""
    from smartcity.models.core.errors import BadInput

    try:
        return Anchor.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise BadInput(f"{source}: not an audit anchor ({where}: {first['msg']})") from None


def anchor_markdown(anchor: Anchor) -> str:
    """A markdown page holding the anchor as a JSON block (how Prefect keeps it as an artifact)."""
    return "\n".join(
        [
            "# Audit anchor",
            "",
            f"Heads of {len(anchor.chains)} stage chain(s) and of the global audit record of {anchor.database}, "
            f"taken {anchor.taken_at.isoformat()}. Check the database against it with "
            "`smartcity audit verify --against prefect`.",
            "",
            "```json",
            anchor_json(anchor),
            "```",
        ]
    )


def anchor_from_markdown(text: str, source: str) -> Anchor:
    """The anchor inside a page written by `anchor_markdown`."""
    from smartcity.models.core.errors import BadInput

    found = re.search(r"```json\n(.*?)\n```", text or "", re.DOTALL)
    if not found:
        raise BadInput(f"{source}: holds no audit anchor")
    return parse_anchor(found.group(1), source)


def _link(expected_prev: str, prev_hash: str, row_hash: str, content: dict[str, Any]) -> str | None:
    """Why a row does not continue its chain, or None when it does."""
    if prev_hash != expected_prev:
        return "does not link to the previous row (a row was removed, inserted or reordered)"
    if chain_hash(prev_hash, content) != row_hash:
        return "its content no longer matches its hash (the row was edited)"
    return None


def export_rows(session: Any) -> list[dict[str, Any]]:
    """The full audit record for auditors, oldest first: stage changes and every other audited act."""
    from sqlmodel import col, select

    from smartcity.models.core.tables import AuditRecord, Cohort, Enrollment, Region, StageTransition

    out: list[dict[str, Any]] = []
    query = (
        select(StageTransition, Region.bps_code, Cohort.name)
        .join(Enrollment, col(StageTransition.enrollment_id) == Enrollment.id)
        .join(Region, col(Enrollment.region_id) == Region.id)
        .join(Cohort, col(Enrollment.cohort_id) == Cohort.id)
    )
    for t, code, cohort in session.exec(query).all():
        out.append(
            {
                "record": "stage_transition",
                "id": t.id,
                "at": t.occurred_at.isoformat(),
                "actor": t.actor,
                "kind": t.kind,
                "subject": f"region {code} cohort {cohort}",
                "detail": canonical(
                    {
                        "from": t.from_stage,
                        "to": t.to_stage,
                        "reason": t.reason,
                        "version": t.version,
                        "flow_run_id": t.flow_run_id,
                    }
                ),
                "prev_hash": t.prev_hash,
                "row_hash": t.row_hash,
            }
        )
    for r in session.exec(select(AuditRecord)).all():
        out.append(
            {
                "record": "audit_record",
                "id": r.id,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "kind": r.kind,
                "subject": r.subject,
                "detail": canonical(r.content),
                "prev_hash": r.prev_hash,
                "row_hash": r.row_hash,
            }
        )
    return sorted(out, key=lambda row: (row["at"], row["record"], row["id"]))
