"""The notification outbox's states (pending -> sending -> sent) and the contacts it delivers to.

A row is claimed with a lease before it is sent, so two dispatchers never send the same row; it is
marked sent only after Apprise reported success, and a row marked sent is never claimed again.
Apprise URLs carry passwords and tokens: they leave this module only masked.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import ValidationInfo, field_validator, model_validator
from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlmodel import Session, col, select

from smartcity.models.core import audit
from smartcity.models.core.errors import BadInput, DomainRefused, NotFound
from smartcity.models.core.tables import Contact, Enrollment, Region
from smartcity.models.deadlines.ops import address_waiting, waiting_label
from smartcity.models.deadlines.tables import Notification
from smartcity.models.infra.csvfile import CsvRow, read_rows
from smartcity.models.infra.db import row_id, rows_matched
from smartcity.models.vocabulary import REGIONAL_ROLES, NotificationStatus, Role, values

# Schemes whose host part is a real host name; for the others (tgram://TOKEN/...) the host is a secret.
HOST_SCHEMES = {"mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys"}
_SECRET_QUERY = re.compile(r"pass|pwd|token|secret|key|auth|sig|webhook", re.I)
_URLISH = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.I)


# --- secrets -----------------------------------------------------------------------------------------


def secret_parts(url: str, *, with_user: bool = True) -> set[str]:
    """Pieces of an Apprise URL that must never be shown: password, tokens, secret query values (and user)."""
    try:
        parts = urlsplit(url)
        found = {url, parts.password or "", (parts.username or "") if with_user else ""}
        host = parts.hostname or ""
    except ValueError:
        return {url}
    if parts.scheme.lower() not in HOST_SCHEMES:
        found |= {host} | set(parts.path.split("/"))
    found |= {v for k, v in parse_qsl(parts.query) if _SECRET_QUERY.search(k)}
    found |= {unquote(p) for p in found}
    return {p for p in found if len(p) >= 3}


class _DropTrace(logging.Filter):
    """Apprise logs each URL it parses, password included, at its TRACE level (below DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.DEBUG


_DROP_TRACE = _DropTrace()


def apprise_plugin(url: str):  # noqa: ANN201 - an Apprise plugin, or None
    """`apprise.Apprise.instantiate(url)`, with Apprise's TRACE records (they show the raw URL) dropped."""
    import apprise

    logger = logging.getLogger("apprise")
    if _DROP_TRACE not in logger.filters:
        logger.addFilter(_DROP_TRACE)
    return apprise.Apprise.instantiate(url)


def mask_url(url: str) -> str:
    """Apprise's privacy form cut to scheme and host, e.g. 'mailto://user:****@smtp.host:587'.

    Paths and queries are dropped too: webhook paths often carry the token.
    """
    plugin = apprise_plugin(url)
    if plugin is None:
        return "<invalid url>"
    scheme, _, rest = plugin.url(privacy=True).partition("://")
    shown = f"{scheme}://{rest.split('?', 1)[0].split('/', 1)[0]}"
    # Belt and braces: if a plugin's privacy form still shows a secret, show the scheme only.
    if any(p in shown for p in secret_parts(url, with_user=False) - {url}):
        return f"{urlsplit(url).scheme}://****"
    return shown


def sanitize_error(message: str, url: str, limit: int = 300) -> str:
    """An error text safe to store and show: secrets of `url` and any URL at all are replaced."""
    text = " ".join(str(message).split())
    for part in sorted(secret_parts(url), key=len, reverse=True):
        text = text.replace(part, "****")
    return _URLISH.sub("<url>", text)[:limit]


def validate_url(url: str) -> None:
    """BadInput unless Apprise can parse `url`; the message never repeats the URL."""
    if not url.strip() or apprise_plugin(url.strip()) is None:
        raise BadInput("the notification URL is not a valid Apprise URL (nothing was saved)")


# --- contacts ----------------------------------------------------------------------------------------


def parse_role(text: str) -> Role:
    """A contact role from user input (any case, spaces around); BadInput naming the valid ones."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise BadInput(f"unknown role {text.strip().lower()!r} (valid: {values(Role)})") from None


def add_contact(
    session: Session,
    *,
    role: str,
    region_code: str | None,
    name: str,
    url: str,
    language: str,
    now: datetime,
    actor: str = audit.SYSTEM_ACTOR,
) -> Contact:
    """Add a contact after checking its role, region, language and Apprise URL (audited, the URL masked)."""
    kind, language, who = parse_role(role), language.strip().lower(), audit.actor_name(actor)
    if language not in ("id", "en"):
        raise BadInput(f"unknown language {language!r} (valid: id, en)")
    if not name.strip():
        raise BadInput("--name must not be empty")
    if kind in REGIONAL_ROLES and not region_code:
        raise BadInput(f"a {kind} contact needs --region")
    if kind == Role.coordinator and region_code:
        raise BadInput("coordinators are national: leave out --region")
    validate_url(url)
    region_id = None
    if region_code:
        region_id = session.exec(select(Region.id).where(Region.bps_code == region_code.strip())).first()
        if region_id is None:
            raise NotFound(f"region {region_code}: not in the registry")
    contact = Contact(
        role=kind, name=name.strip(), region_id=region_id, apprise_url=url.strip(), language=language, created_at=now
    )
    session.add(contact)
    session.flush()
    took = address_waiting(session, contact, now)  # reminders that found no contact of this role go to it now
    audit.record(
        session,
        kind="contact_added",
        subject=f"contact {contact.id}",
        actor=who,
        at=now,
        content={
            "role": kind,
            "name": contact.name,
            "region": region_code.strip() if region_code else None,
            "language": language,
            "url": mask_url(contact.apprise_url),
            "waiting_messages": took,
        },
    )
    return contact


def waiting_for(session: Session, contact_id: int) -> int:
    """How many messages are queued for a contact (right after `add_contact`: the reminders it took over)."""
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(col(Notification.contact_id) == contact_id, col(Notification.status) == NotificationStatus.pending)
    ).one()


def list_contacts(session: Session) -> list[dict]:
    """Contacts with their URL masked (removed ones too, marked inactive)."""
    rows = session.exec(select(Contact, Region).join(Region, isouter=True).order_by(col(Contact.id))).all()
    return [
        {
            "id": c.id,
            "role": c.role,
            "name": c.name,
            "region": r.bps_code if r else None,
            "language": c.language,
            "url": mask_url(c.apprise_url),
            "active": c.active,
        }
        for c, r in rows
    ]


# --- importing contacts ------------------------------------------------------------------------------


class ContactRow(CsvRow):
    """One line of a contacts file: role,region,name,url[,language]; the URL is checked, never repeated."""

    role: Role
    region: str | None = None
    name: str
    url: str
    language: str = "id"

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, text: str) -> Role:
        """A role in any case; the message lists the valid ones."""
        try:
            return Role(str(text).strip().lower())
        except ValueError:
            raise ValueError(f"unknown role {str(text).lower()!r} (valid: {values(Role)})") from None

    @field_validator("name")
    @classmethod
    def _name(cls, text: str) -> str:
        """Printable text of at most 200 characters."""
        if len(text) > 200 or any(not ch.isprintable() for ch in text):
            raise ValueError("name has control characters or is over 200 characters")
        return text

    @field_validator("url")
    @classmethod
    def _apprise(cls, url: str) -> str:
        """An URL Apprise can parse; the message never repeats it (it may hold a password)."""
        if apprise_plugin(url) is None:
            raise ValueError("url is not a valid Apprise URL")
        return url

    @field_validator("language", mode="before")
    @classmethod
    def _lang(cls, text: str) -> str:
        """id or en, in any case."""
        if str(text).lower() not in ("id", "en"):
            raise ValueError(f"unknown language {str(text).lower()!r} (valid: id, en)")
        return str(text).lower()

    @model_validator(mode="after")
    def _region_fits_role(self, info: ValidationInfo) -> ContactRow:
        """Regional roles name a known region; coordinators, who are national, name none."""
        if self.role in REGIONAL_ROLES and not self.region:
            raise ValueError(f"a {self.role} contact needs a region")
        if self.role == Role.coordinator and self.region:
            raise ValueError("coordinators are national: leave region empty")
        known = (info.context or {}).get("regions")
        if self.region and known is not None and self.region not in known:
            raise ValueError(f"region {self.region}: not in the registry")
        return self

    def row_key(self) -> tuple[str, str | None, str]:
        """The same address twice for one role and region is a slip."""
        return (self.role, self.region, self.url)

    def duplicate_of(self, first_line: int) -> str:
        """A second line with the same role, region and URL."""
        return f"duplicate of line {first_line} (same role, region and url)"


def import_contacts(
    session: Session, text: str, source: str, *, now: datetime, actor: str = audit.SYSTEM_ACTOR
) -> tuple[list[dict], int]:
    """Add every contact of a CSV text, all or nothing (BadInput lists each bad line); a contact already
    present (same role, region and URL, active) is skipped. Returns (the added ones, URL masked; skipped)."""
    who = audit.actor_name(actor)
    regions = {code: rid for code, rid in session.exec(select(Region.bps_code, Region.id)).all()}
    rows = read_rows(text, ContactRow, source, context={"regions": set(regions)})
    present = {
        (c.role, c.region_id, c.apprise_url) for c in session.exec(select(Contact).where(col(Contact.active))).all()
    }
    added: list[dict] = []
    for row in rows:
        if (row.role, regions.get(row.region or ""), row.url) in present:
            continue
        c = add_contact(
            session,
            role=row.role,
            region_code=row.region,
            name=row.name,
            url=row.url,
            language=row.language,
            now=now,
            actor=who,
        )
        added.append({"id": c.id, "role": c.role, "region": row.region, "name": c.name, "url": mask_url(c.apprise_url)})
    return added, len(rows) - len(added)


# --- correcting contacts -----------------------------------------------------------------------------


def _why(reason: str, actor: str) -> tuple[str, str]:
    """The stripped reason and actor of a correction; BadInput when either is missing."""
    if not (reason or "").strip() or not (actor or "").strip():
        raise BadInput("a correction needs a --reason and an --actor (both are recorded)")
    return reason.strip()[:500], actor.strip()[:200]


def _active_contact(session: Session, contact_id: int) -> Contact:
    """The contact, or NotFound; a removed one is refused (it is kept only as history)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist (see `smartcity contacts list`)")
    if not contact.active:
        raise DomainRefused(f"contact {contact_id} ({contact.name}) was removed; add a new one instead")
    return contact


def _language(text: str) -> str:
    """A message language, id or en; BadInput otherwise."""
    language = text.strip().lower()
    if language not in ("id", "en"):
        raise BadInput(f"unknown language {language!r} (valid: id, en)")
    return language


def _waiting_rows(session: Session, contact_id: int) -> list[Notification]:
    """Messages of a contact not sent yet and not being sent: pending, failed and waiting to retry."""
    return list(
        session.exec(
            select(Notification)
            .where(col(Notification.contact_id) == contact_id, col(Notification.status) == NotificationStatus.pending)
            .order_by(col(Notification.id))
        ).all()
    )


def _readdressed(session: Session, n: Notification, to: Contact | None, role: Role, now: datetime) -> dict | None:
    """The row that replaces `n` for contact `to` (None: waiting for a contact of its role), re-rendered
    in `to`'s language when it is a reminder; None when nothing replaces it."""
    from smartcity.models.deadlines.ops import default_policy, policy_of, reminder_row, stage_label_of
    from smartcity.models.deadlines.tables import Deadline

    d = session.get(Deadline, n.deadline_id) if n.deadline_id is not None else None
    policy = policy_of(session, d.enrollment_id) if d is not None else default_policy()
    rung = next((r for r in policy.ladder if r.key == n.rung), None)
    if d is not None and rung is not None:
        region = session.exec(
            select(Region)
            .join(Enrollment, col(Enrollment.region_id) == Region.id)
            .where(Enrollment.id == d.enrollment_id)
        ).one()
        row = reminder_row(d, rung, n.role or role, to, region, policy, now, stage_label_of(session, d))
        return {**row, "send_after": n.send_after}  # the same moment as before (often already past: sent next)
    if to is None:
        return None  # a digest or an announcement to nobody: dropped with the old row
    fields = {k: getattr(n, k) for k in ("deadline_id", "rung", "role", "subject", "body", "send_after")}
    return {
        **fields,
        "dedupe_key": f"{n.dedupe_key}>{to.id}"[:200],
        "contact_id": to.id,
        "language": to.language,
        "status": NotificationStatus.pending,
        "attempts": 0,
        "created_at": now,
    }


def hand_over(session: Session, old: Contact, new: Contact | None, now: datetime) -> int:
    """Re-address the old contact's waiting messages (pending or failing) to `new` (None: back to waiting for
    a contact of the role), with new dedupe keys; the old rows are cancelled as superseded. Returns how many."""
    from smartcity.models.deadlines.ops import insert_ignore

    moved = 0
    for n in _waiting_rows(session, row_id(old)):
        row = _readdressed(session, n, new, old.role, now)
        n.status = NotificationStatus.cancelled
        n.last_error = f"superseded: re-addressed to contact {new.id}" if new else "superseded: contact removed"
        session.add(n)
        session.flush()
        if row is not None:
            moved += insert_ignore(session, row)
    return moved


def edit_contact(
    session: Session,
    contact_id: int,
    *,
    reason: str,
    actor: str,
    now: datetime,
    name: str | None = None,
    url: str | None = None,
    language: str | None = None,
) -> tuple[Contact, int]:
    """Correct a contact's name, Apprise URL or language in place (audited); returns (contact, messages that
    now go to the corrected address or language). Messages still waiting are sent with the new values."""
    reason, actor = _why(reason, actor)
    if name is None and url is None and language is None:
        raise BadInput("nothing to change: give --name, --url or --language")
    if name is not None and not name.strip():
        raise BadInput("--name must not be empty")
    if url is not None:
        validate_url(url)
    contact = _active_contact(session, contact_id)
    before = {"name": contact.name, "url": mask_url(contact.apprise_url), "language": contact.language}
    contact.name = name.strip() if name is not None else contact.name
    contact.apprise_url = url.strip() if url is not None else contact.apprise_url
    contact.language = _language(language) if language is not None else contact.language
    session.add(contact)
    session.flush()
    after = {"name": contact.name, "url": mask_url(contact.apprise_url), "language": contact.language}
    changed = sorted(k for k in before if before[k] != after[k] or (k == "url" and url is not None))
    # The dispatcher reads the URL at send time, so only a new language needs the waiting rows re-rendered.
    moved = _rerender(session, contact, now) if "language" in changed else len(_waiting_rows(session, contact_id))
    audit.record(
        session,
        kind="contact_edited",
        subject=f"contact {contact.id}",
        actor=actor,
        at=now,
        content={
            "changed": changed,
            "before": {k: before[k] for k in changed},
            "after": {k: after[k] for k in changed},
            "reason": reason,
            "waiting_messages": moved,
        },
    )
    return contact, moved


def _rerender(session: Session, contact: Contact, now: datetime) -> int:
    """Rewrite a contact's waiting messages in its (new) language, keeping their keys; returns how many."""
    rows = _waiting_rows(session, row_id(contact))
    for n in rows:
        row = _readdressed(session, n, contact, contact.role, now)
        if row is not None and n.deadline_id is not None and row["dedupe_key"] == n.dedupe_key:
            n.subject, n.body, n.language = row["subject"], row["body"], row["language"]
            session.add(n)
    session.flush()
    return len(rows)


def replace_contact(
    session: Session,
    contact_id: int,
    *,
    name: str | None,
    url: str,
    reason: str,
    actor: str,
    now: datetime,
    language: str | None = None,
) -> tuple[Contact, int]:
    """A new person or address for the same role and region: the old contact is deactivated (kept), the new
    one takes over its waiting and failing messages and its reviewer; returns (new contact, messages moved)."""
    reason, actor = _why(reason, actor)
    validate_url(url)
    old = _active_contact(session, contact_id)
    new = Contact(
        role=old.role,
        name=(name or old.name).strip(),
        region_id=old.region_id,
        apprise_url=url.strip(),
        language=_language(language) if language else old.language,
        created_at=now,
    )
    if not new.name:
        raise BadInput("--name must not be empty")
    session.add(new)
    old.active = False
    session.add(old)
    session.flush()
    moved = hand_over(session, old, new, now)
    _repoint_reviewers(session, row_id(old), row_id(new))
    audit.record(
        session,
        kind="contact_replaced",
        subject=f"contact {old.id}",
        actor=actor,
        at=now,
        content={
            "old": {"id": old.id, "name": old.name, "url": mask_url(old.apprise_url)},
            "new": {"id": new.id, "name": new.name, "url": mask_url(new.apprise_url)},
            "reason": reason,
            "messages_moved": moved,
        },
    )
    return new, moved


def _repoint_reviewers(session: Session, old_id: int, new_id: int | None) -> None:
    """Reviewers whose reminders went to the old contact now go to the new one (or nowhere)."""
    from smartcity.models.reviews.tables import Reviewer

    session.execute(update(Reviewer).where(col(Reviewer.contact_id) == old_id).values(contact_id=new_id))


def remove_contact(session: Session, contact_id: int, *, reason: str, actor: str, now: datetime) -> tuple[Contact, int]:
    """Deactivate a contact (it stays for the audit trail; it gets nothing more). Its waiting reminders go
    back to waiting for a contact of the role, unless another contact of the role already gets them;
    returns (contact, messages withdrawn from it)."""
    reason, actor = _why(reason, actor)
    contact = _active_contact(session, contact_id)
    contact.active = False
    session.add(contact)
    session.flush()
    others = session.exec(
        select(Contact.id).where(
            Contact.role == contact.role,
            col(Contact.active),
            col(Contact.region_id).is_(None) if contact.region_id is None else Contact.region_id == contact.region_id,
            Contact.id != contact.id,
        )
    ).first()
    withdrawn = len(_waiting_rows(session, contact_id))
    if others is None or contact.role == Role.reviewer:
        # Kept as 'unaddressed': `contacts add` (or `reviewers contact`) addresses them.
        hand_over(session, contact, None, now)
    else:
        cancel_waiting(session, contact_id)
    _repoint_reviewers(session, contact_id, None)
    audit.record(
        session,
        kind="contact_removed",
        subject=f"contact {contact.id}",
        actor=actor,
        at=now,
        content={
            "name": contact.name,
            "role": contact.role,
            "url": mask_url(contact.apprise_url),
            "reason": reason,
            "messages_withdrawn": withdrawn,
        },
    )
    return contact, withdrawn


def cancel_waiting(session: Session, contact_id: int) -> int:
    """Cancel a contact's waiting messages (others of its role got their own copies)."""
    res = session.execute(
        update(Notification)
        .where(col(Notification.contact_id) == contact_id, col(Notification.status) == NotificationStatus.pending)
        .values(status=NotificationStatus.cancelled, last_error="superseded: contact removed")
    )
    return rows_matched(res)


# --- outbox states -----------------------------------------------------------------------------------


def _claimable(as_of: datetime, real_now: datetime) -> ColumnElement[bool]:
    """Due by `as_of`, and pending or held by a sender whose lease ran out by `real_now`."""
    status = col(Notification.status)
    return and_(
        col(Notification.send_after) <= as_of,
        or_(
            status == NotificationStatus.pending,
            and_(status == NotificationStatus.sending, col(Notification.claimed_until) < real_now),
        ),
    )


def claimable_ids(session: Session, as_of: datetime, real_now: datetime, limit: int = 1000) -> list[int]:
    """Ids of rows due by `as_of` that are pending, or whose sender's lease ran out."""
    ids = session.exec(
        select(col(Notification.id))
        .where(_claimable(as_of, real_now))
        .order_by(col(Notification.send_after), col(Notification.id))
        .limit(limit)
    ).all()
    return [nid for nid in ids if nid is not None]  # a primary key is never NULL: this narrows the type


def claim(
    session: Session, nid: int, *, as_of: datetime, real_now: datetime, lease_until: datetime, token: str
) -> bool:
    """Take one row for sending until `lease_until`; False when someone else has it or it is done."""
    res = session.execute(
        update(Notification)
        .where(col(Notification.id) == nid, _claimable(as_of, real_now))
        .values(status=NotificationStatus.sending, claimed_until=lease_until, claimed_by=token)
    )
    return rows_matched(res) == 1


def message_of(session: Session, nid: int) -> tuple[str, str, str]:
    """(apprise url, subject, body) of a claimed row."""
    row = session.exec(select(Notification, Contact).join(Contact).where(col(Notification.id) == nid)).one()
    return row[1].apprise_url, row[0].subject, row[0].body


def mark_sent(session: Session, nid: int, *, tries: int, at: datetime) -> None:
    """Apprise reported success: the row is done for good, whoever holds the lease now."""
    done = session.execute(
        update(Notification)
        .where(col(Notification.id) == nid, col(Notification.status) != NotificationStatus.sent)
        .values(
            status=NotificationStatus.sent,
            sent_at=at,
            attempts=col(Notification.attempts) + tries,
            claimed_until=None,
            last_error=None,
        )
    )
    if rows_matched(done) == 1:  # the send is audited once, with no URL in it
        n = session.get_one(Notification, nid)
        audit.record(
            session,
            kind="notification_sent",
            subject=f"notification {nid}",
            actor="system:notifier",
            at=at,
            content={
                "dedupe_key": n.dedupe_key,
                "rung": n.rung,
                "contact_id": n.contact_id,
                "deadline_id": n.deadline_id,
                "tries": tries,
            },
        )


def mark_failed(session: Session, nid: int, *, token: str, tries: int, error: str) -> None:
    """Back to pending with the tries counted and a sanitized error, if our claim still holds."""
    session.execute(
        update(Notification)
        .where(
            col(Notification.id) == nid,
            col(Notification.status) == NotificationStatus.sending,
            col(Notification.claimed_by) == token,
        )
        .values(
            status=NotificationStatus.pending,
            attempts=col(Notification.attempts) + tries,
            last_error=error[:500],
            claimed_until=None,
            claimed_by=None,
        )
    )


def outbox_rows(session: Session, failed_only: bool = False, limit: int = 500) -> list[dict]:
    """Outbox rows for the CLI (no URL, no secret): newest first; `failed_only` = not sent, tried before."""
    query = select(Notification, Contact).join(Contact, isouter=True)
    if failed_only:  # failed and waiting for a retry, or waiting for a contact: both need a person
        status = col(Notification.status)
        query = query.where(
            or_(
                and_(
                    status.in_([NotificationStatus.pending, NotificationStatus.sending]), col(Notification.attempts) > 0
                ),
                status == NotificationStatus.unaddressed,
            )
        )
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit)).all()
    return [
        {
            "id": n.id,
            "status": n.status,
            "rung": n.rung,
            "deadline_id": n.deadline_id,
            "contact": c.name if c else waiting_label(session, n),
            "role": c.role if c else n.role,
            "language": n.language,
            "subject": n.subject,
            "attempts": n.attempts,
            "last_error": n.last_error,
            "send_after": n.send_after.isoformat(),
            "sent_at": n.sent_at.isoformat() if n.sent_at else None,
        }
        for n, c in rows
    ]


def status_counts(session: Session) -> dict[str, int]:
    """Rows per status, keyed by the plain status name (summaries print this dict as it is)."""
    rows = session.exec(select(col(Notification.status), func.count()).group_by(col(Notification.status))).all()
    return {status.value: n for status, n in rows}
