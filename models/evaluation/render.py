"""The evaluation index as tables and Markdown, in Bahasa Indonesia or English. Pure.

Shared by the cohort report's evaluation section, the `evaluation-<year>` artifact and `smartcity evaluation
show`. Every view states the weights, and says so when a score is simulated.
"""

from __future__ import annotations

from typing import Any

from smartcity.models.evaluation.ops import CohortIndex, IndexRow
from smartcity.models.infra.markdown import md_cell, md_table

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Implementation evaluation {year}",
        "section": "Implementation evaluation {year}, cohort {cohort}",
        "weights": "Weights ({policy}): {weights}; index on a 0-{scale} scale. Source: {source}.",
        "weights no source": "Weights ({policy}): {weights}; index on a 0-{scale} scale.",
        "incomplete": "incomplete: no {missing}",
        "simulated": "simulated",
        "simulated mark": " (SIMULATED DATA)",
        "banner": "SIMULATED DATA: these scores are simulated, not the program's real evaluation.",
        "none": "No evaluation scores for {year}.",
    },
    "id": {
        "title": "Evaluasi pelaksanaan {year}",
        "section": "Evaluasi pelaksanaan {year}, kohort {cohort}",
        "weights": "Bobot ({policy}): {weights}; indeks pada skala 0-{scale}. Sumber: {source}.",
        "weights no source": "Bobot ({policy}): {weights}; indeks pada skala 0-{scale}.",
        "incomplete": "belum lengkap: tidak ada {missing}",
        "simulated": "simulasi",
        "simulated mark": " (DATA SIMULASI)",
        "banner": "DATA SIMULASI: nilai ini hasil simulasi, bukan evaluasi program yang sebenarnya.",
        "none": "Tidak ada nilai evaluasi untuk {year}.",
    },
}
HEADER = {"en": ["rank", "code", "region", "index"], "id": ["peringkat", "kode", "daerah", "indeks"]}
NOTE = {"en": "note", "id": "catatan"}


def dimension_label(dimension: str) -> str:
    """'quick_win' -> 'Quick Win' (the monev's own words, the same in both languages)."""
    return dimension.replace("_", " ").title()


def decimal(value: float | None, lang: str = "en", digits: int = 2) -> str:
    """A score or an index to `digits` places (a decimal comma in Indonesian); '-' for None."""
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "id" else text


def weights_text(idx: CohortIndex, lang: str = "en") -> str:
    """'Weights (monev-2019): Baseline 10%, Output 20%, ...; index on a 0-4 scale. Source: ...'."""
    weights = ", ".join(f"{dimension_label(d)} {w * 100:g}%" for d, w in idx.weights.items())
    key = "weights" if idx.policy_source else "weights no source"
    return WORDS[lang][key].format(
        policy=idx.policy, weights=weights, scale=f"{idx.scale_max:g}", source=idx.policy_source
    )


def section_title(idx: CohortIndex, lang: str = "en") -> str:
    """The section's title, marked when any of its scores is simulated."""
    title = WORDS[lang]["section"].format(year=idx.year, cohort=idx.cohort)
    return title + (WORDS[lang]["simulated mark"] if idx.simulated else "")


def index_header(idx: CohortIndex, lang: str = "en") -> list[str]:
    """rank, code, region, index, one column per dimension (with its weight), note."""
    dims = [f"{dimension_label(d)} ({w * 100:g}%)" for d, w in idx.weights.items()]
    return [*HEADER[lang], *dims, NOTE[lang]]


def index_rows(idx: CohortIndex, lang: str = "en") -> list[list[Any]]:
    """One row per region: ranked ones first, then the incomplete ones (no rank, no index)."""
    return [
        [
            r.rank if r.rank is not None else "-",
            r.bps_code,
            r.region,
            decimal(r.index, lang),
            *[decimal(r.scores.get(d), lang) for d in idx.weights],
            _note(r, lang),
        ]
        for r in idx.rows
    ]


def _note(r: IndexRow, lang: str) -> str:
    parts = []
    if r.index is None:
        parts.append(WORDS[lang]["incomplete"].format(missing=", ".join(dimension_label(d) for d in r.missing)))
    if r.simulated:
        parts.append(WORDS[lang]["simulated"])
    return "; ".join(parts)


def evaluation_markdown(year: int, groups: list[CohortIndex], lang: str = "en") -> str:
    """The year's evaluation as Markdown: a table per cohort, each with its weights stated."""
    parts = [f"# {WORDS[lang]['title'].format(year=year)}", ""]
    if any(g.simulated for g in groups):
        parts += [f"**{WORDS[lang]['banner']}**", ""]
    if not groups:
        parts += [WORDS[lang]["none"].format(year=year)]
    for g in groups:
        parts += [f"## {md_cell(section_title(g, lang))}", "", md_cell(weights_text(g, lang)), ""]
        parts += [md_table(index_header(g, lang), index_rows(g, lang)), ""]
    return "\n".join(parts).rstrip("\n") + "\n"
