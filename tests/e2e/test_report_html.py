"""The HTML report opened from a file in headless Chromium, offline: do the plotly charts render?"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage, find_enrollment
from smartcity.models.infra.db import session_scope
from smartcity.models.reports.data import build_report
from smartcity.models.reports.render import STAGE_COLOURS, render
from smartcity.models.reviews.tables import MasterplanRound
from tests.browser import ARTIFACTS, run_chromium
from tests.helpers import ROOT, T0, cohort_with, load_registry, phase1_codes

pytestmark = pytest.mark.slow


def small_program() -> None:
    """Ten phase-1 regions spread over the stages, with T0-based times."""
    load_registry()
    codes = phase1_codes()[:10]
    cohort_with(codes)
    for i, code in enumerate(codes):
        with session_scope() as s:
            change_stage(
                s,
                StageChange(region_code=code, to=Stage.selected, actor="ani", reason=None, cohort="2017"),
                now=T0 + timedelta(days=1),
            )
        if i < 7:
            with session_scope() as s:
                change_stage(
                    s,
                    StageChange(region_code=code, to=Stage.drafting, actor="ani", reason=None, cohort="2017"),
                    now=T0 + timedelta(days=5 + i),
                )
        if i < 4:
            with session_scope() as s:
                s.add(
                    MasterplanRound(
                        enrollment_id=find_enrollment(s, code).id, round_no=1, status="approved", submitted_at=T0
                    )
                )
            with session_scope() as s:
                change_stage(
                    s,
                    StageChange(
                        region_code=code, to=Stage.masterplan_completed, actor="ani", reason=None, cohort="2017"
                    ),
                    now=T0 + timedelta(days=40 + i),
                )


def test_html_report_charts_render_offline_in_chromium(sqlite_url, chromium, tmp_path):
    from PIL import Image

    small_program()
    with session_scope() as s:
        report = build_report(s, now=T0 + timedelta(days=60), cohort="2017", simulated=True)
    page = tmp_path / "report.html"
    page.write_text(render(report, "html", lang="en"), encoding="utf-8")

    dom = run_chromium(chromium, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 4, "plotly drew no SVG: the charts did not render"
    assert 'class="funnel"' in dom.stdout or "funnellayer" in dom.stdout
    assert "Kota Jambi" in dom.stdout and "SIMULATED DATA" in dom.stdout

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-html.png"
    shot.unlink(missing_ok=True)
    done = run_chromium(chromium, f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 900)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, f"only {len(colours)} colours: a blank or text-only page"
    present = {rgb for _, rgb in colours}
    for stage in ("selected", "drafting", "masterplan_completed"):  # the funnel's bars, drawn in stage colours
        rgb = tuple(int(STAGE_COLOURS[stage][i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in present, f"no {stage} bar in the screenshot ({shot})"


def test_artifact_dir_is_ignored_by_git():
    assert "test-artifacts/" in Path(ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
