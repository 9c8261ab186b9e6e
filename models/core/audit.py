"""Tamper evidence: each audit row hashes its content and the previous row's hash."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


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
    return {"kind": r.kind, "subject": r.subject, "actor": r.actor,
            "at": r.at.isoformat(timespec="microseconds"), "content": r.content}


def record(session: Any, *, kind: str, subject: str, actor: str, content: dict[str, Any], at: datetime) -> Any:
    """Append one audited act to the chain, in the caller's transaction. Content must hold no secret."""
    from smartcity.models.core.tables import AuditRecord
    from sqlalchemy import text
    from sqlmodel import select

    if session.get_bind().dialect.name == "postgresql":
        # One writer at a time extends the chain (SQLite's BEGIN IMMEDIATE already serialises writers).
        session.execute(text("SELECT pg_advisory_xact_lock(7316001)"))
    prev = session.exec(select(AuditRecord.row_hash).order_by(AuditRecord.id.desc()).limit(1)).first()  # type: ignore[union-attr]
    row = AuditRecord(kind=kind, subject=subject, actor=actor, at=at, content=content,
                      prev_hash=prev or GENESIS, row_hash="")
    row.row_hash = chain_hash(row.prev_hash, record_content(row))
    session.add(row)
    session.flush()
    return row


def verify(session: Any) -> tuple[int, str | None]:
    """Recompute every chain; (rows checked, None) when intact, else the first broken link named."""
    from smartcity.models.core.tables import AuditRecord, StageTransition
    from sqlmodel import select

    checked = 0
    rows = session.exec(select(StageTransition).order_by(StageTransition.enrollment_id, StageTransition.version)).all()
    prev: dict[int, str] = {}
    for t in rows:
        checked += 1
        problem = _link(prev.get(t.enrollment_id, GENESIS), t.prev_hash, t.row_hash, transition_content(t))
        if problem:
            return checked, f"stage_transition id {t.id} (enrollment {t.enrollment_id}, version {t.version}): {problem}"
        prev[t.enrollment_id] = t.row_hash
    last = GENESIS
    for r in session.exec(select(AuditRecord).order_by(AuditRecord.id)).all():  # type: ignore[arg-type]
        checked += 1
        problem = _link(last, r.prev_hash, r.row_hash, record_content(r))
        if problem:
            return checked, f"audit_record id {r.id} ({r.kind} {r.subject}): {problem}"
        last = r.row_hash
    return checked, None


def _link(expected_prev: str, prev_hash: str, row_hash: str, content: dict[str, Any]) -> str | None:
    if prev_hash != expected_prev:
        return "does not link to the previous row (a row was removed, inserted or reordered)"
    if chain_hash(prev_hash, content) != row_hash:
        return "its content no longer matches its hash (the row was edited)"
    return None


def export_rows(session: Any) -> list[dict[str, Any]]:
    """The full audit record for auditors, oldest first: stage changes and every other audited act."""
    from smartcity.models.core.tables import AuditRecord, Cohort, Enrollment, Region, StageTransition
    from sqlmodel import select

    out: list[dict[str, Any]] = []
    query = (select(StageTransition, Region.bps_code, Cohort.name)
             .join(Enrollment, StageTransition.enrollment_id == Enrollment.id)
             .join(Region, Enrollment.region_id == Region.id).join(Cohort, Enrollment.cohort_id == Cohort.id))
    for t, code, cohort in session.exec(query).all():
        out.append({"record": "stage_transition", "id": t.id, "at": t.occurred_at.isoformat(), "actor": t.actor,
                    "kind": t.kind, "subject": f"region {code} cohort {cohort}",
                    "detail": canonical({"from": t.from_stage, "to": t.to_stage, "reason": t.reason,
                                         "version": t.version, "flow_run_id": t.flow_run_id}),
                    "prev_hash": t.prev_hash, "row_hash": t.row_hash})
    for r in session.exec(select(AuditRecord)).all():
        out.append({"record": "audit_record", "id": r.id, "at": r.at.isoformat(), "actor": r.actor, "kind": r.kind,
                    "subject": r.subject, "detail": canonical(r.content), "prev_hash": r.prev_hash,
                    "row_hash": r.row_hash})
    return sorted(out, key=lambda row: (row["at"], row["record"], row["id"]))
