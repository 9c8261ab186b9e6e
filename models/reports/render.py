"""Render a `smartcity.models.reports.data.Report` as Markdown, CSV, JSON or a self-contained HTML page. Pure.

The HTML page comes from the jinja2 template `templates/report.html.j2`, with autoescape on: every piece of
text from the database is escaped there. It embeds plotly.js once, inline, so it opens from a file with no
server and no network. Markdown tables escape HTML and pipes through `smartcity.models.infra.markdown`.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from html import escape
from typing import TYPE_CHECKING, Any

from smartcity.models.core.money import rupiah
from smartcity.models.evaluation import render as evaluation
from smartcity.models.infra.csvfile import write_rows
from smartcity.models.infra.markdown import md_cell, md_table
from smartcity.models.quickwins.ops import kpi_progress
from smartcity.models.reports.data import (
    NO_DEADLINE,
    RegionRow,
    Report,
    cohort_progress,
    default_stages,
    local_time,
)
from smartcity.models.reports.words import (
    HEADERS,
    KINDS_ID,
    WORDS,
    check_lang,
    header,
    long_date,
    number,
    sentence,
    word,
)

if TYPE_CHECKING:
    from jinja2 import Environment

FORMATS = ("md", "csv", "json", "html", "csv-id")
SIMULATED_BANNER = WORDS["en"]["banner"]


def __getattr__(name: str) -> Any:
    # STAGE_COLOURS: the shipped default program's colours, read from its definition on first use (a report
    # takes each stage's colour from its own program: `Report.stage_colour`).
    if name == "STAGE_COLOURS":
        return {s.name: s.colour for s in default_stages()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def render(report: Report, fmt: str, lang: str = "id") -> str:
    """The report in one of FORMATS; md and html in `lang` (id: Bahasa Indonesia, the ministry's; or en)."""
    check_lang(lang)
    renderers = {
        "md": lambda r: to_markdown(r, lang),
        "csv": lambda r: to_csv(r, "en"),
        "csv-id": lambda r: to_csv(r, "id"),
        "json": to_json,
        "html": lambda r: to_html(r, lang),
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    return renderers[fmt](report)


def stage_label(report: Report, stage: str, lang: str) -> str:
    """A stage in the reader's language, as the cohort's program names it."""
    return report.stage_label(stage, lang)


def _num(value: float | int | None, digits: int = 1, lang: str = "en") -> str:
    """A number for a table: thousands separated, floats to `digits` places, None as '-'."""
    return number(value, lang, digits)


def _funnel_rows(report: Report, lang: str = "en") -> list[list[Any]]:
    """The funnel table's rows: stage, regions there now, regions that reached it, population now."""
    unknown = word("unknown", lang)
    return [
        [
            stage_label(report, f.stage, lang),
            f.count,
            f.reached,
            _num(f.population, lang=lang) + (f" (+{f.population_unknown} {unknown})" if f.population_unknown else ""),
        ]
        for f in report.funnel
    ]


def _funnel_header(report: Report, lang: str = "en") -> list[str]:
    """The funnel table's header (the population column names its year)."""
    return header("funnel", lang, year=report.population_year)


def _region_cells(report: Report, r: RegionRow, lang: str = "en", now: datetime | None = None) -> list[Any]:
    """One region's row of the regions table."""
    return [
        r.cohort,
        r.bps_code,
        r.name,
        r.province,
        stage_label(report, r.stage, lang),
        r.since_local,
        _num(r.days_in_stage.get(r.stage), lang=lang),
        _deadline(r, lang, now),
    ]


def _deadline(r: RegionRow, lang: str, now: datetime | None) -> str:
    """The region's next deadline in `lang` (English: the data layer's own sentence)."""
    if lang == "en" or now is None:
        return r.deadline
    if r.deadline_due_at is None or r.deadline_key is None:
        return word("no deadline", lang) if r.deadline == NO_DEADLINE else r.deadline
    days = (r.deadline_due_at - now).total_seconds() / 86400
    left = word("in days" if days >= 0 else "overdue by", lang).format(n=_num(abs(days), lang=lang))
    kind = KINDS_ID.get(r.deadline_kind or "", r.deadline_kind or "")
    return word("due", lang).format(
        what=f"{r.deadline_key} ({kind})", when=local_time(r.deadline_due_at, r.timezone), left=left
    )


REGION_HEADER = HEADERS["en"]["regions"]


def report_title(report: Report, lang: str) -> str:
    """The report's title in `lang`; a title the data layer did not write is kept as it is."""
    names = {"program": report.program_name, "cohort": report.cohort}
    if report.cohort is not None and report.title == WORDS["en"]["title cohort"].format(**names):
        return word("title cohort", lang).format(**names)
    if report.cohort is None and report.title == WORDS["en"]["title program"].format(**names):
        return word("title program", lang).format(**names)
    return report.title


def _generated(report: Report, lang: str) -> str:
    """'Generated 2017-09-01 10:00 UTC. Population: ...' in `lang` (id: the date written out)."""
    return word("generated", lang).format(
        when=long_date(report.generated_at, lang), source=sentence(report.population_source, lang)
    )


def to_markdown(report: Report, lang: str = "id") -> str:
    """The whole report as Markdown, in `lang`."""
    now = report.generated_at
    parts = [f"# {md_cell(report_title(report, lang))}", ""]
    if report.simulated:
        parts += [f"> **{word('banner', lang)}**", ""]
    parts += [
        md_cell(_generated(report, lang)),
        "",
        f"## {word('funnel', lang)}",
        "",
        md_table(_funnel_header(report, lang), _funnel_rows(report, lang)),
        "",
        f"## {word('regions', lang)}",
        "",
        md_table(header("regions", lang), [_region_cells(report, r, lang, now) for r in report.regions]),
    ]
    for title, head, rows in _extra_sections(report, lang):
        parts += ["", f"## {title}", "", md_table(head, rows) if rows else word("none", lang)]
    for section in _evaluation_sections(report, lang):
        parts += ["", f"## {md_cell(section['title'])}", "", md_cell(section["note"]), ""]
        parts += [md_table(section["header"], section["rows"])]
    if report.notes:
        parts += ["", f"## {word('notes', lang)}", ""] + [f"- {md_cell(sentence(n, lang))}" for n in report.notes]
    return "\n".join(parts) + "\n"


def _extra_sections(report: Report, lang: str = "en") -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, header, rows) of the overdue, reviews-outstanding and quick-win KPI tables (the last two when a
    program of the report has masterplan reviews, or quick wins)."""
    overdue = [
        [
            o["cohort"],
            o["bps_code"],
            o["region"],
            stage_label(report, o["stage"], lang),
            f"{o['key']} ({o['kind'] if lang == 'en' else KINDS_ID.get(o['kind'], o['kind'])})",
            o["due_local"],
            _num(o["days_overdue"], lang=lang),
        ]
        for o in report.overdue
    ]
    reviews = [
        [
            r["cohort"],
            r["bps_code"],
            r["region"],
            r["round"],
            r["submitted_local"],
            _num(r["days_waiting"], lang=lang),
            _pending(r["reviewers_pending"], lang),
        ]
        for r in report.reviews_outstanding
    ]
    kpis = [
        [
            k.bps_code,
            k.region,
            k.title,
            k.dimension,
            rupiah(k.budget_idr),
            k.kpi,
            k.unit,
            _num(k.target, lang=lang),
            _num(k.actual, lang=lang),
            kpi_progress(k.target, k.actual, k.unit, k.lower_is_better, lang),
            k.verified_by or word("not verified", lang),
        ]
        for k in report.quick_win_kpis
    ]
    # A program without masterplan reviews or quick wins has no such tables (unless rows exist anyway).
    programs = [report.program_of(c) for c in report.cohorts] or [report.program_of("")]
    return [
        (word("overdue", lang), header("overdue", lang), overdue),
        *(
            [(word("reviews", lang), header("reviews", lang), reviews)]
            if reviews or any(p.completed for p in programs)
            else []
        ),
        *([(word("kpis", lang), header("kpis", lang), kpis)] if kpis or any(p.delivered for p in programs) else []),
    ]


def _evaluation_sections(report: Report, lang: str) -> list[dict[str, Any]]:
    """One section per cohort and year with evaluation scores: the ranked index, the weights stated."""
    return [
        {
            "title": evaluation.section_title(g, lang),
            "note": evaluation.weights_text(g, lang),
            "header": evaluation.index_header(g, lang),
            "rows": evaluation.index_rows(g, lang),
        }
        for g in report.evaluation
    ]


def _pending(names: list[str] | None, lang: str) -> str:
    """The reviewers still to answer: their names, 'none', or 'not tracked'."""
    if names is None:
        return word("not tracked", lang)
    return ", ".join(names) or word("nobody", lang)


def to_csv(report: Report, dialect: str = "en") -> str:
    """One row per region: stage, days in each stage, deadline; every row says if the data are simulated.

    Column names and values stay machine-readable in both dialects (`id`: ';', decimal comma, BOM)."""
    head = [
        "simulated",
        "cohort",
        "bps_code",
        "name",
        "province",
        "timezone",
        f"population_{report.population_year}",
        "stage",
        "since_utc",
        "since_local",
        *[f"days_{s.name}" for s in report.stages],
        "deadline",
        "overdue",
    ]
    rows = [
        dict(
            zip(
                head,
                (
                    report.simulated,
                    r.cohort,
                    r.bps_code,
                    r.name,
                    r.province,
                    r.timezone,
                    r.population,
                    str(r.stage),
                    r.since,
                    r.since_local,
                    *[r.days_in_stage.get(s.name) for s in report.stages],
                    r.deadline,
                    r.overdue,
                ),
                strict=True,
            )
        )
        for r in report.regions
    ]
    return write_rows(rows, header=head, dialect=dialect)


def to_json(report: Report) -> str:
    """The report's data as JSON."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def funnel_figure(report: Report, lang: str = "en") -> Any:
    """A plotly funnel of how many regions reached each main-line stage."""
    import plotly.graph_objects as go

    reached = {f.stage: f.reached for f in report.funnel}
    main = [s for s in report.stages if s.main]
    fig = go.Figure(
        go.Funnel(
            y=[escape(s.label.get(lang, s.name)) for s in main],
            x=[reached.get(s.name, 0) for s in main],
            textinfo="value+percent initial",
            marker={"color": [s.colour for s in main]},
        )
    )
    fig.update_layout(
        title=_chart_title(word("funnel chart", lang), report, lang),
        height=420,
        margin={"l": 180, "r": 40, "t": 60, "b": 40},
    )
    return fig


def timeline_figure(report: Report, lang: str = "en") -> Any:
    """A Gantt chart: one row per region, one bar per stretch of time in a stage."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for stage in (s.name for s in report.stages):
        ys, bases, widths, hovers = [], [], [], []
        for r in report.regions:
            for p in r.periods:
                if p.stage != stage or p.days is None:
                    continue
                end = p.end or report.generated_at
                ys.append(escape(f"{r.bps_code} {r.name}"))
                bases.append(p.start.isoformat())
                widths.append((end - p.start).total_seconds() * 1000)
                hovers.append(
                    escape(
                        f"{r.name}: {stage_label(report, stage, lang)} {_num(p.days, lang=lang)} {word('days', lang)}"
                    )
                )
        if ys:
            fig.add_trace(
                go.Bar(
                    name=escape(stage_label(report, stage, lang)),
                    y=ys,
                    base=bases,
                    x=widths,
                    orientation="h",
                    hovertext=hovers,
                    hoverinfo="text",
                    marker={"color": report.stage_colour(stage)},
                )
            )
    fig.update_layout(
        barmode="overlay",
        title=_chart_title(word("timeline chart", lang), report, lang),
        height=max(320, 120 + 22 * len(report.regions)),
        xaxis={"type": "date"},
        yaxis={"autorange": "reversed"},
        margin={"l": 260, "r": 40, "t": 60, "b": 40},
    )
    return fig


def _chart_title(text: str, report: Report, lang: str = "en") -> str:
    """A chart's title, escaped, marked when the data are simulated."""
    return escape(text + (word("simulated mark", lang) if report.simulated else ""))


@cache
def _environment() -> Environment:
    """The jinja2 environment of the report templates, built on first use (nothing happens at import)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    # autoescape=True, not select_autoescape(): the template's name ends in .j2, not .html.
    return Environment(
        loader=PackageLoader("smartcity.models.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _chart_html(figure: Any, div_id: str, *, with_plotlyjs: bool) -> Any:
    """A plotly chart's <div> (and plotly.js itself, once) for the page, marked safe for the template.

    Safe because it is plotly's own output from our installed package: the texts it carries from the
    database were escaped when the figure was built (see timeline_figure)."""
    from markupsafe import Markup

    return Markup(
        figure.to_html(
            full_html=False,
            include_plotlyjs=with_plotlyjs,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def to_html(report: Report, lang: str = "id") -> str:
    """A single HTML file with the charts (plotly.js inline, once) and the tables, in `lang`."""
    sections = [
        {"title": title, "note": None, "header": head, "rows": rows}
        for title, head, rows in _extra_sections(report, lang)
    ]
    sections += _evaluation_sections(report, lang)
    now = report.generated_at
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            lang=lang,
            title=report_title(report, lang),
            banner=word("banner", lang) if report.simulated else None,
            generated=_generated(report, lang),
            headings={key: word(key, lang) for key in ("funnel", "timeline", "regions", "notes", "none")},
            funnel_chart=_chart_html(funnel_figure(report, lang), "funnel-chart", with_plotlyjs=True),
            timeline_chart=_chart_html(timeline_figure(report, lang), "timeline-chart", with_plotlyjs=False),
            funnel={"header": _funnel_header(report, lang), "rows": _funnel_rows(report, lang)},
            regions={
                "header": header("regions", lang),
                "rows": [_region_cells(report, r, lang, now) for r in report.regions],
            },
            sections=sections,
            notes=[sentence(n, lang) for n in report.notes],
        )
    )


def region_file_markdown(region_code: str, rows: list[dict[str, Any]]) -> str:
    """The closing record of a region's file: its whole stage history as a table (rows from `history`)."""
    table = md_table(
        ["at (region's local time)", "from", "to", "by", "reason"],
        [[r["at_local"], r["from"], r["to"], r["actor"], r["reason"] or ""] for r in rows],
    )
    return f"# Region file {md_cell(region_code)}: closed\n\n{table}"


def program_board_markdown(report: Report) -> str:
    """The 'program board' artifact: region x stage (days spent; the current stage in bold), deadline."""
    header = [
        "region",
        *[stage_label(report, s.name, "en") for s in report.stages],
        "next deadline (region's local time)",
    ]
    rows = []
    for r in report.regions:
        cells = []
        for s in report.stages:
            days = r.days_in_stage.get(s.name)
            text = "-" if days is None else f"{days:.1f} d"
            cells.append(f"▶ {'now' if days is None else text}" if s.name == r.stage else text)
        rows.append([f"{r.bps_code} {r.name} ({r.cohort})", *cells, r.deadline])
    head = f"# Program board\n\n{'**' + SIMULATED_BANNER + '**' + chr(10) + chr(10) if report.simulated else ''}"
    return (
        head
        + f"As of {report.generated_at:%Y-%m-%d %H:%M} UTC; ▶ marks the current stage.\n\n"
        + md_table(header, rows)
        + "\n"
    )


def cohort_table(report: Report, cohort: str) -> list[dict[str, Any]]:
    """The rows of a cohort's table artifact."""
    return [
        {
            "code": r.bps_code,
            "region": r.name,
            "province": r.province,
            "stage": stage_label(report, r.stage, "en"),
            "since (local)": r.since_local,
            "days in stage": r.days_in_stage.get(r.stage),
            "next deadline (local)": r.deadline,
            "overdue": "yes" if r.overdue else "no",
            **({"data": "simulated"} if report.simulated else {}),
        }
        for r in report.regions
        if r.cohort == cohort
    ]


def cohort_progress_percent(report: Report, cohort: str) -> tuple[float, str]:
    """Progress (0-100) and its sentence for a cohort's progress artifact."""
    done, of, text = cohort_progress(report, cohort)
    return (100.0 * done / of if of else 0.0), text + (" (simulated)" if report.simulated else "")
