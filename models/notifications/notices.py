"""Message texts for reminders and digests, in Bahasa Indonesia (default) and English. Pure functions.

Dates are written out in the reader's language with the region's zone, e.g.
'Jumat, 1 September 2017 17:00 WIB', so nobody has to convert from UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pendulum

from smartcity.models.deadlines.workdays import format_local, zone_abbrev
from smartcity.models.programs.loading import shipped
from smartcity.models.vocabulary import DeadlineKind, Role

LONG_FORMAT = "dddd, D MMMM YYYY HH:mm"
#: The default program's stage labels by language (a reminder for another program passes its own `label`).
STAGES: dict[str, dict[str, str]] = {
    lang: {st.name: st.label.get(lang) for st in shipped().stages} for lang in ("id", "en")
}
ITEMS = {
    "masterplan": {"id": "Masterplan smart city", "en": "Smart city masterplan"},
    "quick-win": {"id": "Quick win", "en": "Quick win"},
    "review": {"id": "Reviu masterplan", "en": "Masterplan review"},
}
NEXT = {
    "masterplan": {"id": "Unggah masterplan untuk direviu.", "en": "Submit the masterplan for review."},
    "quick-win": {
        "id": "Laporkan quick win yang sudah berjalan agar dapat diverifikasi koordinator.",
        "en": "Report the quick win so that a coordinator can verify it.",
    },
    "review": {"id": "Selesaikan reviu dan kirim hasilnya.", "en": "Finish the review and submit the result."},
    "milestone": {
        "id": "Laksanakan {title} dan minta koordinator mencatatnya selesai.",
        "en": "Hold {title} and ask the coordinator to record it as done.",
    },
}
EXTEND = {
    "id": "Jika perlu waktu tambahan, ajukan perpanjangan kepada koordinator beserta alasannya.",
    "en": "If you need more time, ask the coordinator for an extension and give the reason.",
}
ROLE_NOTE: dict[Role, dict[str, str]] = {
    Role.coordinator: {
        "id": "Anda menerima pesan ini sebagai koordinator: hubungi PIC daerah.",
        "en": "You receive this as a coordinator: please contact the region's PIC.",
    },
    Role.escalation: {
        "id": "ESKALASI: tenggat sudah terlewat {n} hari kerja. Mohon tindak lanjut pimpinan daerah.",
        "en": "ESCALATION: the deadline is {n} working days overdue. Please follow up with the region.",
    },
}


def lang_of(language: str | None) -> str:
    """'en' or 'id' (anything else falls back to Bahasa Indonesia)."""
    return "en" if language == "en" else "id"


def format_local_long(instant_utc: datetime, tz: str, language: str = "id") -> str:
    """'Jumat, 1 September 2017 17:00 WIB' (or English) for an aware instant in an Indonesian zone."""
    local = pendulum.instance(instant_utc).in_timezone(tz)
    # pendulum's own `id` locale names the days and months; the zone abbreviation (WIB, WITA, WIT) is ours.
    return f"{local.format(LONG_FORMAT, locale=lang_of(language))} {zone_abbrev(tz)}"


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
    kind: DeadlineKind
    key: str
    title: dict[str, str]  # {"id": ..., "en": ...}
    due_at: datetime
    tz: str
    offset: int  # rung offset in working days
    role: Role
    ref: str  # the dedupe key: receivers can use it to drop a repeat
    escalated: bool = False  # an escalation rung that reaches someone else (a late review goes to the coordinator)
    label: dict[str, str] | None = None  # the stage's label in its program {"id": ..., "en": ...}; default: STAGES


def item_title(kind: DeadlineKind, key: str, milestone_title: dict[str, str] | None = None) -> dict[str, str]:
    """The deliverable's name in both languages."""
    if kind == DeadlineKind.milestone and milestone_title:
        return milestone_title
    base = DeadlineKind.review if kind == DeadlineKind.review else key
    return ITEMS.get(base, {"id": key, "en": key})


def _stage_text(facts: ReminderFacts, lang: str) -> str:
    return facts.label[lang] if facts.label else STAGES[lang].get(facts.stage, facts.stage)


def reminder_message(facts: ReminderFacts, language: str) -> tuple[str, str]:
    """(subject, body) of one reminder in `language`."""
    lang = lang_of(language)
    title = facts.title[lang]
    when = when_phrase(facts.offset, lang)
    flag = {"id": "ESKALASI ", "en": "ESCALATION "}[lang] if _escalation(facts) else ""
    subject = f"[Smart City] {flag}{facts.region_name}: {title} {when}"
    # A stage deliverable's next step depends on the deliverable (its key); the other kinds have one each.
    nxt = NEXT[facts.key if facts.kind == DeadlineKind.stage else facts.kind]
    due_label = "Tenggat" if lang == "id" else "Due"
    lines = [
        f"{'Daerah' if lang == 'id' else 'Region'}: {facts.region_name} ({facts.bps_code})",
        f"{'Tahap' if lang == 'id' else 'Stage'}: {_stage_text(facts, lang)}",
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


def _escalation(facts: ReminderFacts) -> bool:
    return facts.role == Role.escalation or facts.escalated


SUMMARY_HEAD = {
    "id": "Ringkasan koordinator: {n} tenggat mencapai tahap pengingat koordinator pada sapuan ini.",
    "en": "Coordinator summary: {n} deadline(s) reached a coordinator reminder in this sweep.",
}
SUMMARY_NOTE = {
    "id": "Mohon hubungi PIC daerah (untuk reviu: reviewernya). Perpanjangan: `smartcity deadline extend`.",
    "en": "Please contact the regions' PICs (for a review: its reviewer). Extensions: `smartcity deadline extend`.",
}


def summary_line(facts: ReminderFacts, language: str) -> str:
    """One deadline of a coordinator summary: region, deliverable, how late, and the due time in its own zone."""
    lang = lang_of(language)
    flag = {"id": "ESKALASI: ", "en": "ESCALATION: "}[lang] if _escalation(facts) else ""
    due = format_local_long(facts.due_at, facts.tz, lang)
    return (
        f"- {flag}{facts.region_name} ({facts.bps_code}): {facts.title[lang]}, {when_phrase(facts.offset, lang)} "
        f"({'tenggat' if lang == 'id' else 'due'} {due})"
    )


def summary_message(items: list[ReminderFacts], language: str, ref: str) -> tuple[str, str]:
    """(subject, body) of the one message a coordinator gets per sweep, listing every deadline at a coordinator
    rung, oldest due first; each due time is in its region's zone (WIB/WITA/WIT)."""
    lang = lang_of(language)
    ordered = sorted(items, key=lambda f: (f.due_at, f.bps_code, f.key))
    subject = (
        f"[Smart City] Ringkasan koordinator: {len(items)} tenggat perlu perhatian"
        if lang == "id"
        else f"[Smart City] Coordinator summary: {len(items)} deadline(s) need attention"
    )
    lines = [SUMMARY_HEAD[lang].format(n=len(items)), ""] + [summary_line(f, lang) for f in ordered]
    lines += ["", SUMMARY_NOTE[lang], "", f"Ref: {ref}"]
    return subject[:300], "\n".join(lines)


ANNOUNCE_NEXT = {
    "quick-win": {
        "id": "Kirimkan kepada koordinator program judul, dimensi, anggaran, tanggal mulai dan KPI (nama, "
        "satuan, target) quick win Anda: koordinator yang mendaftarkannya.",
        "en": "Send your programme coordinator the quick win's title, dimension, budget, start date and "
        "KPIs (name, unit, target): the coordinator registers it.",
    },
}


def announcement_message(
    region_name: str, title: dict[str, str], key: str, due_at: datetime, tz: str, language: str, ref: str
) -> tuple[str, str]:
    """(subject, body) telling a region's PIC that a deadline runs, when it falls due, and what to send to whom."""
    lang = lang_of(language)
    name, due, short = title[lang], format_local_long(due_at, tz, lang), format_local(due_at, tz)
    if lang == "en":
        subject, head = f"{region_name}: {key} due {short}", f"Tracking of {name} has started for {region_name}."
        due_line = f"It is due {due}."
    else:
        subject, head = f"{region_name}: {key} jatuh tempo {short}", f"Pemantauan {name} untuk {region_name} dimulai."
        due_line = f"Batas waktunya {due}."
    nxt = ANNOUNCE_NEXT.get(key, {}).get(lang)
    lines = [f"{head} {due_line}", *([nxt] if nxt else []), EXTEND[lang], "", f"Ref: {ref}"]
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
    heads = {
        "id": ("Jatuh tempo 7 hari ke depan", "Terlambat", "Tertahan (tanpa kemajuan)", "tidak ada"),
        "en": ("Due in the next 7 days", "Overdue", "Stuck (no progress)", "none"),
    }[lang]
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
