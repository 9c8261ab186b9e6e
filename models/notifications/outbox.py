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

from smartcity.models.core import audit
from smartcity.models.core.errors import BadInput, NotFound
from smartcity.models.core.tables import Contact, Region
from smartcity.models.deadlines.ops import address_waiting
from smartcity.models.deadlines.tables import Notification
from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

ROLES = ("pic", "coordinator", "reviewer", "escalation")
REGIONAL_ROLES = ("pic", "escalation")
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

def add_contact(session: Session, *, role: str, region_code: str | None, name: str, url: str, language: str,
                now: datetime) -> Contact:
    """Add a contact after checking its role, region, language and Apprise URL."""
    role, language = role.strip().lower(), language.strip().lower()
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r} (valid: {', '.join(ROLES)})")
    if language not in ("id", "en"):
        raise BadInput(f"unknown language {language!r} (valid: id, en)")
    if not name.strip():
        raise BadInput("--name must not be empty")
    if role in REGIONAL_ROLES and not region_code:
        raise BadInput(f"a {role} contact needs --region")
    if role == "coordinator" and region_code:
        raise BadInput("coordinators are national: leave out --region")
    validate_url(url)
    region_id = None
    if region_code:
        region_id = session.exec(select(Region.id).where(Region.bps_code == region_code.strip())).first()
        if region_id is None:
            raise NotFound(f"region {region_code}: not in the registry")
    contact = Contact(role=role, name=name.strip(), region_id=region_id, apprise_url=url.strip(),
                      language=language, created_at=now)
    session.add(contact)
    session.flush()
    address_waiting(session, contact, now)  # reminders that found no contact of this role go to it now
    return contact


def waiting_for(session: Session, contact_id: int) -> int:
    """How many messages are queued for a contact (right after `add_contact`: the reminders it took over)."""
    from sqlalchemy import func

    return session.exec(select(func.count()).select_from(Notification).where(
        Notification.contact_id == contact_id, Notification.status == "pending")).one()


def list_contacts(session: Session) -> list[dict]:
    """Contacts with their URL masked."""
    rows = session.exec(select(Contact, Region).join(Region, isouter=True).order_by(Contact.id)).all()
    return [{"id": c.id, "role": c.role, "name": c.name, "region": r.bps_code if r else None,
             "language": c.language, "url": mask_url(c.apprise_url)} for c, r in rows]


# --- outbox states -----------------------------------------------------------------------------------

def _claimable(as_of: datetime, real_now: datetime):  # noqa: ANN202 - a SQL expression
    return and_(Notification.send_after <= as_of, or_(
        Notification.status == "pending",
        and_(Notification.status == "sending", Notification.claimed_until < real_now)))


def claimable_ids(session: Session, as_of: datetime, real_now: datetime, limit: int = 1000) -> list[int]:
    """Ids of rows due by `as_of` that are pending, or whose sender's lease ran out."""
    return list(session.exec(select(Notification.id).where(_claimable(as_of, real_now))
                             .order_by(Notification.send_after, Notification.id).limit(limit)).all())


def claim(session: Session, nid: int, *, as_of: datetime, real_now: datetime, lease_until: datetime,
          token: str) -> bool:
    """Take one row for sending until `lease_until`; False when someone else has it or it is done."""
    res = session.execute(update(Notification).where(Notification.id == nid, _claimable(as_of, real_now))
                          .values(status="sending", claimed_until=lease_until, claimed_by=token))
    return res.rowcount == 1


def message_of(session: Session, nid: int) -> tuple[str, str, str]:
    """(apprise url, subject, body) of a claimed row."""
    row = session.exec(select(Notification, Contact).join(Contact).where(Notification.id == nid)).one()
    return row[1].apprise_url, row[0].subject, row[0].body


def mark_sent(session: Session, nid: int, *, tries: int, at: datetime) -> None:
    """Apprise reported success: the row is done for good, whoever holds the lease now."""
    done = session.execute(update(Notification).where(Notification.id == nid, Notification.status != "sent").values(
        status="sent", sent_at=at, attempts=Notification.attempts + tries, claimed_until=None,
        last_error=None))
    if done.rowcount == 1:  # the send is audited once, with no URL in it
        n = session.get(Notification, nid)
        audit.record(session, kind="notification_sent", subject=f"notification {nid}", actor="system:notifier",
                     at=at, content={"dedupe_key": n.dedupe_key, "rung": n.rung, "contact_id": n.contact_id,
                                     "deadline_id": n.deadline_id, "tries": tries})


def mark_failed(session: Session, nid: int, *, token: str, tries: int, error: str) -> None:
    """Back to pending with the tries counted and a sanitized error, if our claim still holds."""
    session.execute(update(Notification).where(
        Notification.id == nid, Notification.status == "sending", Notification.claimed_by == token).values(
        status="pending", attempts=Notification.attempts + tries, last_error=error[:500], claimed_until=None,
        claimed_by=None))


def outbox_rows(session: Session, failed_only: bool = False, limit: int = 500) -> list[dict]:
    """Outbox rows for the CLI (no URL, no secret): newest first; `failed_only` = not sent, tried before."""
    query = select(Notification, Contact).join(Contact, isouter=True)
    if failed_only:  # failed and waiting for a retry, or waiting for a contact: both need a person
        query = query.where(or_(and_(Notification.status.in_(["pending", "sending"]),  # type: ignore[attr-defined]
                                     Notification.attempts > 0), Notification.status == "unaddressed"))
    rows = session.exec(query.order_by(Notification.id.desc()).limit(limit)).all()  # type: ignore
    return [{"id": n.id, "status": n.status, "rung": n.rung, "deadline_id": n.deadline_id,
             "contact": c.name if c else f"nobody yet: no {n.role} contact",
             "role": c.role if c else n.role, "language": n.language, "subject": n.subject, "attempts": n.attempts,
             "last_error": n.last_error, "send_after": n.send_after.isoformat(),
             "sent_at": n.sent_at.isoformat() if n.sent_at else None} for n, c in rows]


def status_counts(session: Session) -> dict[str, int]:
    """Rows per status."""
    from sqlalchemy import func

    return dict(session.exec(select(Notification.status, func.count()).group_by(Notification.status)).all())
