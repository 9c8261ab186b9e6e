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
