"""Small builders shared by tests: a registry, a cohort, nominations, a fixed clock."""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from smartcity.models.core.program import create_cohort, nominate
from smartcity.models.core.regions import parse_regions, read_csv_text, upsert_regions
from smartcity.models.core.tables import RegionBase
from smartcity.models.infra.db import session_scope

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
REGISTRY = SHARED_DATA / "regions_2018.csv"
PHASE1 = SHARED_DATA / "phase1_2017.csv"
T0 = datetime(2017, 5, 2, 1, 0, tzinfo=UTC)


@cache
def _registry() -> tuple[RegionBase, ...]:
    """The shared registry, parsed and validated once per test process (hundreds of tests load it)."""
    return tuple(parse_regions(read_csv_text(REGISTRY), source=str(REGISTRY)))


def one_ca_bundle() -> dict[str, str]:
    """Environment that points every HTTP client at a CA bundle of one certificate (certifi's first).

    httpx, and Prefect's client (which builds its own SSL context), load a CA bundle each time a client is made:
    certifi's full bundle costs about 33 ms of CPU each time, and the suite makes thousands of clients (a poll
    of a Prefect API opens one, in the tests and in the processes they start). The tests speak plain HTTP to
    loopback only, so no certificate is ever checked; a one-certificate bundle loads in under 1 ms."""
    import certifi

    path = Path(tempfile.gettempdir()) / "smartcity-tests-one-ca.pem"
    if not path.exists():
        bundle = Path(certifi.where()).read_text(encoding="ascii")
        end = "-----END CERTIFICATE-----"
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(bundle[: bundle.index(end) + len(end)].strip() + "\n", encoding="ascii")
        os.replace(scratch, path)  # atomic: parallel workers may write it at once
    return {"SSL_CERT_FILE": str(path), "PREFECT_API_SSL_CERT_FILE": str(path)}


def load_registry() -> list[str]:
    """Import all 514 regions from the shared registry; return their codes."""
    regions = list(_registry())
    with session_scope() as session:
        upsert_regions(session, regions, now=T0)
    return [r.bps_code for r in regions]


def phase1_codes() -> list[str]:
    """The 25 phase-1 codes of 2017."""
    with PHASE1.open(encoding="utf-8") as fh:
        return [row["bps_code"] for row in csv.DictReader(fh)]


def cohort_with(codes: list[str], name: str = "2017", quota: int | None = None) -> None:
    """A cohort holding `codes` as nominees (registry must be loaded)."""
    with session_scope() as session:
        create_cohort(session, name=name, year=2017, quota=quota or len(codes), now=T0)
        nominate(session, cohort=name, codes=codes, now=T0)


#: Reviewers none of whom is from Jawa Barat (Bandung's province), except ITB, whom assignment must skip.
REVIEWER_POOL = [
    ("Ir. Hammam", "BPPT", "DKI Jakarta"),
    ("Dr. Ninok", "UMN", "Banten"),
    ("Prof. Suhono", "ITB", "Jawa Barat"),
    ("Prof. Arif", "ITS", "Jawa Timur"),
]


def drafting_with_reviewers(code: str, pool: list[tuple[str, str, str]]) -> None:
    """`code` alone in cohort 2017, moved to drafting at T0, and `pool` (name, institution, province) added as
    reviewers with ids 1, 2, ... in that order (registry loaded here)."""
    from smartcity.models.core.stages import Stage
    from smartcity.models.core.transitions import StageChange, change_stage
    from smartcity.models.reviews.ops import add_reviewer

    load_registry()
    cohort_with([code])
    for to in (Stage.selected, Stage.drafting):
        with session_scope() as s:
            change_stage(s, StageChange(region_code=code, to=to, actor="ani", cohort="2017"), now=T0)
    with session_scope() as s:
        for name, institution, province in pool:
            add_reviewer(s, name=name, institution=institution, province=province, expertise="economy", now=T0)
