"""Task that publishes the anchor of the audit chains (their heads) as a Prefect artifact.

Prefect's database is a different system from the application database, and it keeps every version of a
keyed artifact (unlike events, dropped after 7 days), so a tail cut from a chain in the application
database shows against an earlier anchor: `smartcity audit verify --against prefect`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from smartcity.models.core.audit import anchor_markdown, masked_url, take_anchor
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import get_settings

ANCHOR_KEY = "audit-anchor"


@task(name="publish-audit-anchor", cache_policy=NO_CACHE, persist_result=False)
async def publish_audit_anchor(taken_at_iso: str | None = None) -> dict:
    """Publish the heads of every chain (default time: the real clock); fails when a chain is already broken."""
    taken_at = datetime.fromisoformat(taken_at_iso) if taken_at_iso else datetime.now(UTC)
    with session_scope() as session:
        anchor = take_anchor(session, now=taken_at, database=masked_url(get_settings().resolved_database_url()))
    await acreate_markdown_artifact(
        key=ANCHOR_KEY,
        markdown=anchor_markdown(anchor),
        description="Heads of the audit chains: `smartcity audit verify --against prefect`",
    )
    return {"chains": len(anchor.chains), "audit_record": anchor.audit_record.id if anchor.audit_record else None}
