"""Message texts for reminders and digests, in Bahasa Indonesia (default) and English. Pure functions.

Dates are written out in the reader's language with the region's zone, e.g.
'Jumat, 1 September 2017 17:00 WIB', so nobody has to convert from UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pendulum
from smartcity.models.deadlines.workdays import zone_abbrev

DAYS = {
    "id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
           "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}
STAGES = {
    "id": {"nominated": "dinominasikan", "selected": "terpilih", "drafting": "penyusunan masterplan",
           "masterplan_completed": "masterplan selesai", "quick_win_delivered": "quick win terlaksana",
           "not_selected": "tidak terpilih", "withdrawn": "mengundurkan diri"},
    "en": {"nominated": "nominated", "selected": "selected", "drafting": "drafting the masterplan",
           "masterplan_completed": "masterplan completed", "quick_win_delivered": "quick win delivered",
           "not_selected": "not selected", "withdrawn": "withdrawn"},
}
ITEMS = {
    "masterplan": {"id": "Masterplan smart city", "en": "Smart city masterplan"},
    "quick-win": {"id": "Quick win", "en": "Quick win"},
    "review": {"id": "Reviu masterplan", "en": "Masterplan review"},
}
NEXT = {
    "masterplan": {"id": "Unggah masterplan untuk direviu.",
                   "en": "Submit the masterplan for review."},
    "quick-win": {"id": "Laporkan quick win yang sudah berjalan agar dapat diverifikasi koordinator.",
                  "en": "Report the quick win so that a coordinator can verify it."},
    "review": {"id": "Selesaikan reviu dan kirim hasilnya.", "en": "Finish the review and submit the result."},
    "milestone": {"id": "Laksanakan {title} dan minta koordinator mencatatnya selesai.",
                  "en": "Hold {title} and ask the coordinator to record it as done."},
}
EXTEND = {"id": "Jika perlu waktu tambahan, ajukan perpanjangan kepada koordinator beserta alasannya.",
          "en": "If you need more time, ask the coordinator for an extension and give the reason."}
ROLE_NOTE = {
    "coordinator": {"id": "Anda menerima pesan ini sebagai koordinator: hubungi PIC daerah.",
                    "en": "You receive this as a coordinator: please contact the region's PIC."},
    "escalation": {"id": "ESKALASI: tenggat sudah terlewat {n} hari kerja. Mohon tindak lanjut pimpinan daerah.",
                   "en": "ESCALATION: the deadline is {n} working days overdue. Please follow up with the region."},
}


def lang_of(language: str | None) -> str:
    """'en' or 'id' (anything else falls back to Bahasa Indonesia)."""
    return "en" if language == "en" else "id"


def format_local_long(instant_utc: datetime, tz: str, language: str = "id") -> str:
    """'Jumat, 1 September 2017 17:00 WIB' (or English) for an aware instant in an Indonesian zone."""
    lang = lang_of(language)
    local = pendulum.instance(instant_utc).in_timezone(tz)
    day, month = DAYS[lang][local.weekday()], MONTHS[lang][local.month - 1]
    return f"{day}, {local.day} {month} {local.year} {local:%H:%M} {zone_abbrev(tz)}"


def when_phrase(offset: int, language: str) -> str:
    """'jatuh tempo dalam 7 hari kerja' / 'due in 7 working days' / 'overdue by 1 working day'."""
    if lang_of(language) == "id":
        if offset < 0:
            return f"jatuh tempo dalam {-offset} hari kerja"
        return "jatuh tempo hari ini" if offset == 0 else f"terlambat {offset} hari kerja"
    plural = "s" if abs(offset) != 1 else ""
    if offset < 0:
        return f"due in {-offset} working day{plural}"
    return "due today" if offset == 0 else f"overdue by {offset} working day{plural}"


@dataclass(frozen=True)
class ReminderFacts:
    """What a reminder says: which region, which deliverable, when it is due, which rung."""

    region_name: str
    bps_code: str
    stage: str
    kind: str  # stage | milestone | review
    key: str
    title: dict[str, str]  # {"id": ..., "en": ...}
    due_at: datetime
    tz: str
    offset: int  # rung offset in working days
    role: str  # pic | coordinator | escalation
    ref: str  # the dedupe key: receivers can use it to drop a repeat


def item_title(kind: str, key: str, milestone_title: dict[str, str] | None = None) -> dict[str, str]:
    """The deliverable's name in both languages."""
    if kind == "milestone" and milestone_title:
        return milestone_title
    base = "review" if kind == "review" else key
    return ITEMS.get(base, {"id": key, "en": key})


def reminder_message(facts: ReminderFacts, language: str) -> tuple[str, str]:
    """(subject, body) of one reminder in `language`."""
    lang = lang_of(language)
    title = facts.title[lang]
    when = when_phrase(facts.offset, lang)
    flag = {"id": "ESKALASI ", "en": "ESCALATION "}[lang] if facts.role == "escalation" else ""
    subject = f"[Smart City] {flag}{facts.region_name}: {title} {when}"
    nxt = NEXT["milestone" if facts.kind == "milestone" else ("review" if facts.kind == "review" else facts.key)]
    due_label = "Tenggat" if lang == "id" else "Due"
    lines = [
        f"{'Daerah' if lang == 'id' else 'Region'}: {facts.region_name} ({facts.bps_code})",
        f"{'Tahap' if lang == 'id' else 'Stage'}: {STAGES[lang].get(facts.stage, facts.stage)}",
        f"{title}: {when}",
        f"{due_label}: {format_local_long(facts.due_at, facts.tz, lang)}",
        "",
        (nxt.get(lang, "") if isinstance(nxt, dict) else "").format(title=title),
        EXTEND[lang],
    ]
    if facts.role in ROLE_NOTE:
        lines.append(ROLE_NOTE[facts.role][lang].format(n=max(facts.offset, 0)))
    lines += ["", f"Ref: {facts.ref}"]
    return subject[:300], "\n".join(lines)


@dataclass
class DigestSection:
    """One cohort's part of the weekly digest."""

    cohort: str
    due: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)


def digest_message(week: str, sections: list[DigestSection], language: str, ref: str) -> tuple[str, str]:
    """(subject, body) of a coordinator's weekly digest."""
    lang = lang_of(language)
    heads = {"id": ("Jatuh tempo 7 hari ke depan", "Terlambat", "Tertahan (tanpa kemajuan)", "tidak ada"),
             "en": ("Due in the next 7 days", "Overdue", "Stuck (no progress)", "none")}[lang]
    subject = f"[Smart City] {'Ringkasan mingguan' if lang == 'id' else 'Weekly digest'} {week}"
    lines: list[str] = []
    for s in sections:
        lines.append(f"== {'Angkatan' if lang == 'id' else 'Cohort'} {s.cohort} ==")
        for head, items in zip(heads[:3], (s.due, s.overdue, s.stuck), strict=True):
            lines.append(f"{head} ({len(items)}):")
            lines += [f"  - {i}" for i in items] or [f"  ({heads[3]})"]
        lines.append("")
    if not sections:
        lines.append("Tidak ada angkatan aktif." if lang == "id" else "No active cohorts.")
    lines += [f"Ref: {ref}"]
    return subject, "\n".join(lines)
