"""What every command group of `smartcity` shares: the root app, one way to get a group, `--json` and `emit`.

Each area's module (audit, deadlines, quickwins, reports, reviews, selection) declares its commands on
`app` or on `group(NAME)`; deployments/cli/app.py imports them all once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Run Gerakan Menuju 100 Smart City on Prefect.",
)
_GROUPS: dict[str, typer.Typer] = {}

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
UserActorOpt = Annotated[
    str | None, typer.Option("--actor", help="who does this, for the audit trail (default: your OS user name)")
]


def actor_or_user(actor: str | None) -> str:
    """`--actor` as given, else the OS user name (getpass.getuser()); BadInput when neither names anyone."""
    import getpass

    from smartcity.models.core.errors import BadInput

    if actor is not None:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no USER/LOGNAME (some containers)
        raise BadInput("no OS user name to record: pass --actor NAME") from None


def group(name: str, help: str | None = None) -> typer.Typer:
    """The command group `smartcity NAME`: made and attached the first time, the same object after that."""
    if name not in _GROUPS:
        _GROUPS[name] = typer.Typer(no_args_is_help=True, help=help)
        app.add_typer(_GROUPS[name], name=name)
    return _GROUPS[name]


def emit(data: Any, as_json: bool, text: str) -> None:
    """Print `data` as JSON with --json, else the human `text`."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False) if as_json else text)


def utcnow() -> datetime:
    """The real clock; only the CLI edge reads it, and passes it down."""
    return datetime.now(UTC)


def region_code(text: str) -> str:
    """The BPS code of the region a coordinator named by code or name; exit 2 with a near miss if unknown."""
    from smartcity.models.core.regions import resolve_region
    from smartcity.models.infra.db import session_scope

    with session_scope() as session:
        return resolve_region(session, text).bps_code


def region_codes(texts: list[str]) -> list[str]:
    """`region_code` for several, checked all at once: one line names the first unknown one and the others."""
    from smartcity.models.core.errors import NotFound
    from smartcity.models.core.regions import resolve_region
    from smartcity.models.infra.db import session_scope

    codes: list[str] = []
    unknown: list[tuple[str, str]] = []
    with session_scope() as session:
        for text in (t for t in texts if t.strip()):
            try:
                codes.append(resolve_region(session, text).bps_code)
            except NotFound as exc:
                unknown.append((text, str(exc)))
    if unknown:
        others = ", ".join(repr(text) for text, _ in unknown[1:21]) + (" ..." if len(unknown) > 21 else "")
        raise NotFound(unknown[0][1] + (f"; also unknown: {others}" if others else ""))
    return codes
