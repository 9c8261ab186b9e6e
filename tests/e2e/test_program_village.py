"""A third program, written only here: a village-digitisation drive with its own stage names, run end to end
through the same CLI, flows, event labels, reconciler, reminders and reports, with no code change.

Stages: usulan (proposed) -> disetujui (approved, quota) -> pemetaan (mapping, taken automatically) ->
rencana_disetujui (plan approved by review) -> tersambung (connected, after a verified first service);
ditolak (rejected) and batal (cancelled) close a file.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from prefect import get_client
from sqlmodel import select

from smartcity.deployments.cli import app as cli
from smartcity.models.core.enrollments import find_enrollment
from smartcity.models.core.tables import EventOutbox
from smartcity.models.deadlines.tables import Deadline, Notification
from smartcity.models.infra.db import session_scope
from smartcity.models.notifications.outbox import add_contact
from smartcity.models.reviews.ops import add_reviewer, submit_masterplan, submit_review
from tests.helpers import load_registry

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]

VILLAGE = """
name = "desa-digital"
title = { id = "Gerakan Desa Digital", en = "Digital Village Drive" }

[[stages]]
name = "usulan"
label = { id = "diusulkan", en = "proposed" }

[[stages]]
name = "disetujui"
label = { id = "disetujui", en = "approved" }

[[stages]]
name = "pemetaan"
label = { id = "pemetaan jaringan desa", en = "mapping the village network" }

[[stages]]
name = "rencana_disetujui"
label = { id = "rencana disetujui", en = "plan approved" }

[[stages]]
name = "tersambung"
label = { id = "desa tersambung", en = "village connected" }
final = true

[[stages]]
name = "ditolak"
label = { id = "ditolak", en = "rejected" }
final = true

[[stages]]
name = "batal"
label = { id = "batal", en = "cancelled" }
final = true

[[edges]]
from = "usulan"
to = "disetujui"
guard = "within_cohort_quota"

[[edges]]
from = "usulan"
to = "ditolak"
kind = "decline"

[[edges]]
from = "disetujui"
to = "pemetaan"
automatic = true

[[edges]]
from = "pemetaan"
to = "rencana_disetujui"
guard = { name = "review_quorum_approved", params = { min_quorum = 1 } }

[[edges]]
from = "rencana_disetujui"
to = "tersambung"
guard = "quick_win_verified"

[[edges]]
from = ["usulan", "disetujui", "pemetaan", "rencana_disetujui"]
to = "batal"
kind = "withdraw"
reason_required = true

[deadlines]
[[deadlines.rules]]
stage = "pemetaan"
key = "rencana-desa"
working_days = 30

[[deadlines.rules]]
stage = "rencana_disetujui"
key = "layanan-pertama"
working_days = 40

[[deadlines.rules]]
stage = "review"
working_days = 5

[[deadlines.milestones]]
key = "kunjungan-lapangan"
stage = "pemetaan"
working_days = 5
title = { id = "Kunjungan lapangan", en = "Site visit" }

[[deadlines.ladder]]
key = "T-3"
offset = -3
recipients = ["pic"]

[[deadlines.ladder]]
key = "due"
offset = 0
recipients = ["pic"]
"""

BANDUNG, MAKASSAR, MIMIKA = "3273", "7371", "9412"
APPROVE = {
    "scores": {d: {"score": 4} for d in ("governance", "branding", "economy", "living", "society", "environment")},
    "decision": "approve",
    "comment": "",
}


def run(capsys, *args: str) -> tuple[int, str, str]:
    """`smartcity ARGS` in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def stage_of(code: str) -> str:
    with session_scope() as s:
        return find_enrollment(s, code, "desa-2024").stage


async def run_names() -> list[str]:
    async with get_client() as client:
        return [r.name for r in await client.read_flow_runs(limit=200)]


def test_a_village_program_runs_end_to_end_with_no_code_change(sqlite_url, prefect_api, capsys, tmp_path):
    from smartcity.flows.close_region_file import close_region_file
    from smartcity.flows.cohort_report import cohort_report
    from smartcity.flows.drafting_setup import drafting_setup
    from smartcity.flows.quick_win_tracking import quick_win_tracking

    t0 = datetime.now(UTC)  # the CLI's moves happen now: the flows' business times follow on from it
    definition = tmp_path / "village.toml"
    definition.write_text(VILLAGE, encoding="utf-8")
    load_registry()
    assert run(capsys, "program", "validate", str(definition))[0] == 0
    code, out, err = run(
        capsys, "cohort", "create", "desa-2024", "--year", "2024", "--quota", "2", "--program", str(definition)
    )
    assert code == 0 and "program desa-digital" in out, err
    assert run(capsys, "cohort", "nominate", "desa-2024", BANDUNG, MAKASSAR, MIMIKA)[0] == 0
    assert {stage_of(c) for c in (BANDUNG, MAKASSAR, MIMIKA)} == {"usulan"}

    # A typo is refused against this program's own stages, before any run is created.
    runs_before = len(asyncio.run(run_names()))
    code, _, err = run(capsys, "cohort", "advance", "desa-2024", "--to", "selected", "--actor", "ani")
    assert code == 2 and "unknown stage 'selected' in program desa-digital" in err
    assert len(asyncio.run(run_names())) == runs_before

    # The quota guard, by name: two places, three nominees.
    code, out, _ = run(capsys, "cohort", "advance", "desa-2024", "--to", "disetujui", "--actor", "ani", "--json")
    summary = json.loads(out)
    assert (code, summary["applied"], len(summary["refused"])) == (1, 2, 1)
    assert "refused by guard within_cohort_quota" in summary["refused"][0]
    rejected = next(c for c in (BANDUNG, MAKASSAR, MIMIKA) if stage_of(c) == "usulan")
    assert run(capsys, "region", "advance", rejected, "--to", "ditolak", "--actor", "ani")[0] == 0
    approved = sorted({BANDUNG, MAKASSAR, MIMIKA} - {rejected})

    # Entering disetujui labels the event for the automatic-edge deployment; its flow takes the edge.
    with session_scope() as s:
        labels = [
            e.resource.get("smartcity.follow-up")
            for e in s.exec(select(EventOutbox)).all()
            if e.payload.get("to") == "disetujui"
        ]
    assert labels == ["drafting-setup", "drafting-setup"]
    first, second = approved
    asyncio.run(drafting_setup(first, event_id="v-1", at=(t0 + timedelta(minutes=1)).isoformat(), entered="disetujui"))
    assert stage_of(first) == "pemetaan"
    # The other's trigger is "lost": the reconciler finds the stalled follow-up from this program's definition.
    code, out, err = run(capsys, "reconcile", "--now", (t0 + timedelta(hours=3)).isoformat(), "--json")
    assert code == 0, err
    assert [(r["region_code"], r["follow_up"], r["outcome"]) for r in json.loads(out)["repairs"]] == [
        (second, "drafting-setup", "repaired")
    ]
    assert stage_of(second) == "pemetaan"
    with session_scope() as s:
        keys = sorted(
            d.key for d in s.exec(select(Deadline).where(Deadline.enrollment_id == find_enrollment(s, first).id)).all()
        )
    assert keys == ["kunjungan-lapangan", "rencana-desa"]

    # Reminders speak this program's words: its stage label and its milestone's title.
    with session_scope() as s:
        add_contact(
            s, role="pic", region_code=first, name="PIC Desa", url="json://127.0.0.1:9/pic", language="id", now=t0
        )
    code, out, err = run(capsys, "remind", "--now", (t0 + timedelta(days=8)).isoformat(), "--simulate", "--json")
    assert code in (0, 1), err  # the PIC's inbox is a closed port here: the row stays queued for a retry
    with session_scope() as s:
        bodies = [n.body for n in s.exec(select(Notification)).all() if n.contact_id is not None]
    assert bodies and all("Tahap: pemetaan jaringan desa" in b for b in bodies)
    assert any("Kunjungan lapangan" in b for b in bodies)

    # The review guards the plan; its approval takes this program's reviewed edge.
    with session_scope() as s:
        add_reviewer(s, name="Dr. Ninok", institution="UMN", province="Banten", expertise="economy", now=t0)
    with session_scope() as s:
        submit_masterplan(s, first, "rencana-v1", "ani", t0 + timedelta(days=20), n=1, quorum=1)
    with session_scope() as s:
        submit_review(
            s, reviewer_id=1, submission=APPROVE, source="cli", now=t0 + timedelta(days=25), region_code=first
        )
    assert stage_of(first) == "rencana_disetujui"
    tracked = asyncio.run(quick_win_tracking(first, event_id="v-2", at=(t0 + timedelta(days=25)).isoformat()))
    assert tracked["enqueued"] == 1  # the PIC is told when "layanan-pertama" falls due

    # The first service (its quick win) is verified, then the village is connected and its file closed.
    code, out, err = run(
        capsys,
        "quickwin",
        "register",
        first,
        "--title",
        "Wi-Fi balai desa",
        "--dimension",
        "governance",
        "--budget",
        "25000000",
        "--start",
        "2026-12-01",
        "--actor",
        "ani",
        "--kpi",
        "households:count:100:120",
        "--json",
    )
    assert code == 0, err
    qw = str(json.loads(out)["id"])
    proof = tmp_path / "foto.pdf"
    proof.write_bytes(b"%PDF-1.4 balai desa")
    assert run(capsys, "quickwin", "evidence", qw, "--file", str(proof), "--actor", "ani")[0] == 0
    assert run(capsys, "quickwin", "verify", qw, "--coordinator", "Budi", "--all-checks")[0] == 0
    assert run(capsys, "region", "advance", first, "--to", "tersambung", "--actor", "ani")[0] == 0
    closed = asyncio.run(close_region_file(first, event_id="v-3"))
    assert closed["closed_now"] is True
    code, _, err = run(capsys, "region", "advance", second, "--to", "batal", "--actor", "ani")
    assert code == 2 and "withdraw to batal needs a reason" in err
    assert (
        run(capsys, "region", "advance", second, "--to", "batal", "--actor", "ani", "--reason", "dana desa ditunda")[0]
        == 0
    )

    # Every file closed: the cohort-completed event, and a report in this program's words.
    with session_scope() as s:
        events = [e.event for e in s.exec(select(EventOutbox)).all()]
    assert "smartcity.cohort.completed" in events
    report = asyncio.run(cohort_report("desa-2024", as_of=(t0 + timedelta(days=60)).isoformat()))
    assert report
    code, out, err = run(capsys, "report", "--cohort", "desa-2024", "--format", "md", "--out", "-")
    assert code == 0, err
    assert "desa tersambung" in out and "pemetaan jaringan desa" in out and "masterplan" not in out.lower()
    code, out, _ = run(capsys, "status", "--cohort", "desa-2024", "--json")
    assert json.loads(out)["cohorts"]["desa-2024"] == {"tersambung": 1, "batal": 1, "ditolak": 1}
