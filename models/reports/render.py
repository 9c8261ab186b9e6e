"""Render a `smartcity.models.reports.data.Report` as Markdown, CSV, JSON or a self-contained HTML page. Pure.

The HTML page embeds plotly.js once, inline, so it opens from a file with no server and no network.
Every piece of text from the database is escaped (html.escape) before it reaches HTML or Markdown.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

from smartcity.models.core.stages import MAIN_LINE
from smartcity.models.reports.data import STAGE_ORDER, RegionRow, Report, cohort_progress

FORMATS = ("md", "csv", "json", "html")
SIMULATED_BANNER = "SIMULATED DATA: this report shows a simulation, not the program's real progress."
STAGE_COLOURS = {
    "nominated": "#9aa5b1", "selected": "#3e7cb1", "drafting": "#f2a541", "masterplan_completed": "#4caf50",
    "quick_win_delivered": "#1b5e20", "not_selected": "#c7c7c7", "withdrawn": "#d9534f",
}


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS."""
    renderers = {"md": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    return renderers[fmt](report)


def label(stage: str) -> str:
    """'masterplan_completed' -> 'masterplan completed'."""
    return stage.replace("_", " ")


def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def md_cell(value: Any) -> str:
    """A Markdown table cell: escaped HTML, escaped pipes, one line."""
    text = escape(str(value), quote=False) if value is not None else "-"
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _funnel_rows(report: Report) -> list[list[Any]]:
    return [[label(f.stage), f.count, f.reached, _num(f.population) + (f" (+{f.population_unknown} unknown)"
             if f.population_unknown else "")] for f in report.funnel]


def _funnel_header(report: Report) -> list[str]:
    return ["stage", "regions now", "ever reached", f"population now ({report.population_year})"]


def _region_cells(r: RegionRow) -> list[Any]:
    return [r.cohort, r.bps_code, r.name, r.province, label(r.stage), r.since_local,
            _num(r.days_in_stage.get(r.stage)), r.deadline]


REGION_HEADER = ["cohort", "code", "region", "province", "stage", "since (local)", "days in stage",
                 "next deadline (local)"]


def to_markdown(report: Report) -> str:
    """The whole report as Markdown."""
    parts = [f"# {md_cell(report.title)}", ""]
    if report.simulated:
        parts += [f"> **{SIMULATED_BANNER}**", ""]
    parts += [f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC. Population: {md_cell(report.population_source)}.",
              "", "## Funnel", "", md_table(_funnel_header(report), _funnel_rows(report)),
              "", "## Regions", "", md_table(REGION_HEADER, [_region_cells(r) for r in report.regions])]
    for title, header, rows in _extra_sections(report):
        parts += ["", f"## {title}", "", md_table(header, rows) if rows else "None."]
    if report.notes:
        parts += ["", "## Notes", ""] + [f"- {md_cell(n)}" for n in report.notes]
    return "\n".join(parts) + "\n"


def _extra_sections(report: Report) -> list[tuple[str, list[str], list[list[Any]]]]:
    overdue = [[o["cohort"], o["bps_code"], o["region"], label(o["stage"]), f"{o['key']} ({o['kind']})",
                o["due_local"], o["days_overdue"]] for o in report.overdue]
    reviews = [[r["cohort"], r["bps_code"], r["region"], r["round"], r["submitted_local"], r["days_waiting"],
                "not tracked" if r["reviewers_pending"] is None else (", ".join(r["reviewers_pending"]) or "none")]
               for r in report.reviews_outstanding]
    kpis = [[k.bps_code, k.region, k.title, k.dimension, _num(k.budget_idr), k.kpi, k.unit, _num(k.target),
             _num(k.actual), _num(k.percent_of_target), k.verified_by or "not verified"] for k in report.quick_win_kpis]
    return [
        ("Overdue", ["cohort", "code", "region", "stage", "deadline", "was due (local)", "days overdue"], overdue),
        ("Reviews outstanding", ["cohort", "code", "region", "round", "submitted (local)", "days waiting",
                                 "reviewers pending"], reviews),
        ("Quick-win KPIs", ["code", "region", "quick win", "dimension", "budget (IDR)", "KPI", "unit", "target",
                            "actual", "% of target", "verified by"], kpis),
    ]


def csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (a name starting with '=' stays text)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: Report) -> str:
    """One row per region: stage, days in each stage, deadline; every row says if the data are simulated."""
    out = io.StringIO(newline="")
    header = ["simulated", "cohort", "bps_code", "name", "province", "timezone",
              f"population_{report.population_year}", "stage", "since_utc", "since_local",
              *[f"days_{s.value}" for s in STAGE_ORDER], "deadline", "overdue"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in report.regions:
        writer.writerow([csv_cell(v) for v in (
            str(report.simulated).lower(), r.cohort, r.bps_code, r.name, r.province, r.timezone,
            "" if r.population is None else r.population, r.stage, r.since.isoformat(), r.since_local,
            *["" if s.value not in r.days_in_stage else r.days_in_stage[s.value] for s in STAGE_ORDER],
            r.deadline, str(r.overdue).lower())])
    return out.getvalue()


def to_json(report: Report) -> str:
    """The report's data as JSON."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def funnel_figure(report: Report) -> Any:
    """A plotly funnel of how many regions reached each main-line stage."""
    import plotly.graph_objects as go

    reached = {f.stage: f.reached for f in report.funnel}
    fig = go.Figure(go.Funnel(y=[label(s.value) for s in MAIN_LINE], x=[reached.get(s.value, 0) for s in MAIN_LINE],
                              textinfo="value+percent initial",
                              marker={"color": [STAGE_COLOURS[s.value] for s in MAIN_LINE]}))
    fig.update_layout(title=_chart_title("Regions that reached each stage", report), height=420,
                      margin={"l": 180, "r": 40, "t": 60, "b": 40})
    return fig


def timeline_figure(report: Report) -> Any:
    """A Gantt chart: one row per region, one bar per stretch of time in a stage."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for stage in STAGE_ORDER:
        ys, bases, widths, hovers = [], [], [], []
        for r in report.regions:
            for p in r.periods:
                if p.stage != stage.value or p.days is None:
                    continue
                end = p.end or report.generated_at
                ys.append(escape(f"{r.bps_code} {r.name}"))
                bases.append(p.start.isoformat())
                widths.append((end - p.start).total_seconds() * 1000)
                hovers.append(escape(f"{r.name}: {label(stage.value)} {p.days:.1f} days"))
        if ys:
            fig.add_trace(go.Bar(name=label(stage.value), y=ys, base=bases, x=widths, orientation="h",
                                 hovertext=hovers, hoverinfo="text", marker={"color": STAGE_COLOURS[stage.value]}))
    fig.update_layout(barmode="overlay", title=_chart_title("Days in each stage, per region", report),
                      height=max(320, 120 + 22 * len(report.regions)), xaxis={"type": "date"},
                      yaxis={"autorange": "reversed"}, margin={"l": 260, "r": 40, "t": 60, "b": 40})
    return fig


def _chart_title(text: str, report: Report) -> str:
    return escape(text + (" (SIMULATED DATA)" if report.simulated else ""))


def _html_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape('-' if c is None else str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}th{background:#f0f0f0}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:1em;font-weight:bold;font-size:1.1em}
.overdue{color:#b00020}"""


def to_html(report: Report) -> str:
    """A single HTML file with the charts (plotly.js inline, once) and the tables."""
    config = {"displaylogo": False, "responsive": True}
    funnel_div = funnel_figure(report).to_html(full_html=False, include_plotlyjs=True, div_id="funnel-chart",
                                               config=config)
    timeline_div = timeline_figure(report).to_html(full_html=False, include_plotlyjs=False,
                                                   div_id="timeline-chart", config=config)
    banner = f'<div class="banner" id="simulated-banner">{escape(SIMULATED_BANNER)}</div>' if report.simulated else ""
    sections = "".join(f"<h2>{escape(title)}</h2>" + (_html_table(header, rows) if rows else "<p>None.</p>")
                       for title, header, rows in _extra_sections(report))
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(report.title)}</title><style>{_CSS}</style></head>
<body>{banner}<h1>{escape(report.title)}</h1>
<p>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC. Population: {escape(report.population_source)}.</p>
<h2>Funnel</h2>{funnel_div}{_html_table(_funnel_header(report), _funnel_rows(report))}
<h2>Timeline</h2>{timeline_div}
<h2>Regions</h2>{_html_table(REGION_HEADER, [_region_cells(r) for r in report.regions])}
{sections}{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</body></html>
"""


def program_board_markdown(report: Report) -> str:
    """The 'program board' artifact: region x stage (days spent; the current stage in bold), deadline."""
    header = ["region", *[label(s.value) for s in STAGE_ORDER], "next deadline (region's local time)"]
    rows = []
    for r in report.regions:
        cells = []
        for s in STAGE_ORDER:
            days = r.days_in_stage.get(s.value)
            text = "-" if days is None else f"{days:.1f} d"
            cells.append(f"▶ {'now' if days is None else text}" if s.value == r.stage else text)
        rows.append([f"{r.bps_code} {r.name} ({r.cohort})", *cells, r.deadline])
    head = f"# Program board\n\n{'**' + SIMULATED_BANNER + '**' + chr(10) + chr(10) if report.simulated else ''}"
    return (head + f"As of {report.generated_at:%Y-%m-%d %H:%M} UTC; ▶ marks the current stage.\n\n"
            + md_table(header, rows) + "\n")


def cohort_table(report: Report, cohort: str) -> list[dict[str, Any]]:
    """The rows of a cohort's table artifact."""
    return [{"code": r.bps_code, "region": r.name, "province": r.province, "stage": label(r.stage),
             "since (local)": r.since_local, "days in stage": r.days_in_stage.get(r.stage),
             "next deadline (local)": r.deadline, "overdue": "yes" if r.overdue else "no",
             **({"data": "simulated"} if report.simulated else {})}
            for r in report.regions if r.cohort == cohort]


def cohort_progress_percent(report: Report, cohort: str) -> tuple[float, str]:
    """Progress (0-100) and its sentence for a cohort's progress artifact."""
    done, of, text = cohort_progress(report, cohort)
    return (100.0 * done / of if of else 0.0), text + (" (simulated)" if report.simulated else "")
