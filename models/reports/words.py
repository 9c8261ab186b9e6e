"""The report's words in Bahasa Indonesia (the ministry's language, the default) and English. Pure.

Stage labels are not here: each cohort's program definition names its stages in both languages, and the
report carries them (`Report.stage_label`). Dates are written with pendulum's own `id` locale. Numbers follow
the language: 1.234,5 in Indonesian, 1,234.5 in English.
"""

from __future__ import annotations

from datetime import datetime

import pendulum

LANGS = ("id", "en")
LONG_DATE = "dddd, D MMMM YYYY HH:mm"

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "banner": "SIMULATED DATA: this report shows a simulation, not the program's real progress.",
        "generated": "Generated {when} UTC. Population: {source}.",
        "funnel": "Funnel",
        "timeline": "Timeline",
        "regions": "Regions",
        "overdue": "Overdue",
        "reviews": "Reviews outstanding",
        "kpis": "Quick-win KPIs",
        "notes": "Notes",
        "none": "None.",
        "unknown": "unknown",
        "not tracked": "not tracked",
        "nobody": "none",
        "not verified": "not verified",
        "no deadline": "no deadline",
        "due": "{what} due {when} ({left})",
        "in days": "in {n} days",
        "overdue by": "OVERDUE by {n} days",
        "funnel chart": "Regions that reached each stage",
        "timeline chart": "Days in each stage, per region",
        "simulated mark": " (SIMULATED DATA)",
        "days": "days",
        "title program": "{program}: program report",
        "title cohort": "{program}: cohort {cohort} report",
    },
    "id": {
        "banner": "DATA SIMULASI: laporan ini menunjukkan simulasi, bukan kemajuan program yang sebenarnya.",
        "generated": "Dibuat {when} UTC. Penduduk: {source}.",
        "funnel": "Corong tahapan",
        "timeline": "Linimasa",
        "regions": "Daerah",
        "overdue": "Lewat tenggat",
        "reviews": "Reviu yang belum selesai",
        "kpis": "KPI quick win",
        "notes": "Catatan",
        "none": "Tidak ada.",
        "unknown": "tidak diketahui",
        "not tracked": "tidak tercatat",
        "nobody": "tidak ada",
        "not verified": "belum diverifikasi",
        "no deadline": "tidak ada tenggat",
        "due": "{what} jatuh tempo {when} ({left})",
        "in days": "{n} hari lagi",
        "overdue by": "TERLAMBAT {n} hari",
        "funnel chart": "Daerah yang mencapai setiap tahap",
        "timeline chart": "Hari di setiap tahap, per daerah",
        "simulated mark": " (DATA SIMULASI)",
        "days": "hari",
        "title program": "{program}: laporan program",
        "title cohort": "{program}: laporan kohort {cohort}",
    },
}

HEADERS: dict[str, dict[str, list[str]]] = {
    "en": {
        "funnel": ["stage", "regions now", "ever reached", "population now ({year})"],
        "regions": [
            "cohort",
            "code",
            "region",
            "province",
            "stage",
            "since (local)",
            "days in stage",
            "next deadline (local)",
        ],
        "overdue": ["cohort", "code", "region", "stage", "deadline", "was due (local)", "days overdue"],
        "reviews": ["cohort", "code", "region", "round", "submitted (local)", "days waiting", "reviewers pending"],
        "kpis": [
            "code",
            "region",
            "quick win",
            "dimension",
            "budget",
            "KPI",
            "unit",
            "target",
            "actual",
            "progress",
            "verified by",
        ],
    },
    "id": {
        "funnel": ["tahap", "daerah saat ini", "pernah mencapai", "penduduk saat ini ({year})"],
        "regions": [
            "kohort",
            "kode",
            "daerah",
            "provinsi",
            "tahap",
            "sejak (waktu setempat)",
            "hari di tahap ini",
            "tenggat berikutnya (waktu setempat)",
        ],
        "overdue": ["kohort", "kode", "daerah", "tahap", "tenggat", "jatuh tempo (waktu setempat)", "hari terlambat"],
        "reviews": [
            "kohort",
            "kode",
            "daerah",
            "putaran",
            "diajukan (waktu setempat)",
            "hari menunggu",
            "reviewer yang belum menjawab",
        ],
        "kpis": [
            "kode",
            "daerah",
            "quick win",
            "dimensi",
            "anggaran",
            "KPI",
            "satuan",
            "target",
            "realisasi",
            "capaian",
            "diverifikasi oleh",
        ],
    },
}

#: The data layer's own sentences (population source, notes), as the ministry reads them.
SENTENCES_ID: dict[str, str] = {
    "Dukcapil 2025 (Kepmendagri 300.2.2-2138/2025), a 2025 count, not the cohort's year": (
        "Dukcapil 2025 (Kepmendagri 300.2.2-2138/2025), data tahun 2025, bukan tahun kohort"
    ),
    "deadlines: not tracked in this database yet (every region shows 'no deadline')": (
        "tenggat: belum tercatat di basis data ini (setiap daerah tertulis 'tidak ada tenggat')"
    ),
    "review assignments: not tracked in this database yet": "penugasan reviu: belum tercatat di basis data ini",
}
KINDS_ID = {"stage": "tahap", "milestone": "milestone", "review": "reviu"}


def check_lang(lang: str) -> str:
    """'id' or 'en'; ValueError for anything else (the CLI says which flag)."""
    if lang not in LANGS:
        raise ValueError(f"unknown report language {lang!r} (one of {', '.join(LANGS)})")
    return lang


def word(key: str, lang: str) -> str:
    """One of the report's words in `lang`."""
    return WORDS[lang][key]


def header(key: str, lang: str, **values: object) -> list[str]:
    """A table's header in `lang`, with `values` filled in."""
    return [h.format(**values) for h in HEADERS[lang][key]]


def sentence(text: str, lang: str) -> str:
    """A sentence of the data layer in `lang` (as given when it has no translation)."""
    return SENTENCES_ID.get(text, text) if lang == "id" else text


def number(value: float | int | None, lang: str, digits: int = 1) -> str:
    """A number for a table: thousands grouped, floats to `digits` places, None as '-'."""
    if value is None:
        return "-"
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "id" else text


def long_date(instant: datetime, lang: str) -> str:
    """'Jumat, 1 September 2017 10:00' (id) or '2017-09-01 10:00' (en), in UTC."""
    utc = pendulum.instance(instant).in_timezone("UTC")
    return utc.format(LONG_DATE, locale="id") if lang == "id" else utc.strftime("%Y-%m-%d %H:%M")
