"""The HTML report's template escapes whatever the database holds; only plotly's own output is inlined raw."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from smartcity.models.reports.data import FunnelRow, Period, RegionRow, Report
from smartcity.models.reports.render import render

HOSTILE = "Kota <script>alert('x')</script> | Co & \"Sons\""
ESCAPED = "Kota &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; | Co &amp; &#34;Sons&#34;"
T0, T1 = datetime(2017, 5, 1, tzinfo=UTC), datetime(2017, 6, 1, tzinfo=UTC)


def hostile_report() -> Report:
    """One region whose name (and the report's title and a note) carry markup and a pipe."""
    region = RegionRow(
        cohort="2017",
        bps_code="3273",
        name=HOSTILE,
        province="Jawa <b>Barat</b>",
        timezone="Asia/Jakarta",
        population=None,
        stage="selected",
        since=T1,
        since_local="2017-06-01 07:00 WIB",
        days_in_stage={"nominated": 31.0, "selected": 19.0},
        periods=[
            Period(stage="nominated", start=T0, end=T1, days=31.0),
            Period(stage="selected", start=T1, end=None, days=19.0),
        ],
    )
    return Report(
        title=f"Report for {HOSTILE}",
        cohort="2017",
        cohorts=["2017"],
        generated_at=datetime(2017, 6, 20, tzinfo=UTC),
        simulated=False,
        funnel=[FunnelRow(stage="selected", count=1, reached=1, population=0, population_unknown=1)],
        regions=[region],
        notes=[f"note on {HOSTILE}"],
        overdue=[
            {
                "cohort": "2017",
                "bps_code": "3273",
                "region": HOSTILE,
                "stage": "selected",
                "key": "masterplan",
                "kind": "stage",
                "due_local": "2017-06-16 17:00 WIB",
                "days_overdue": 4.0,
            }
        ],
    )


def test_script_and_pipe_in_a_region_name_are_escaped():
    html = render(hostile_report(), "html")
    assert "<script>alert(" not in html and "<b>Barat" not in html
    assert f"<td>{ESCAPED}</td>" in html  # regions table and overdue table
    assert html.count(f"<td>{ESCAPED}</td>") == 2
    assert f"<title>Report for {ESCAPED}</title>" in html and f"<li>note on {ESCAPED}</li>" in html
    assert "<td>Jawa &lt;b&gt;Barat&lt;/b&gt;</td>" in html
    assert html.count("plotly.js v") == 1 and 'id="simulated-banner"' not in html
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>\n")


def test_the_template_environment_is_built_on_first_use_not_at_import():
    code = "import sys, smartcity.models.reports.render; print('jinja2' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
