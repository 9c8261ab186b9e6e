"""`smartcity evaluation ...`: the yearly implementation evaluation (monev): import scores, show the ranked index.

Neither command imports Prefect. The import is all or nothing; its errors name each bad line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, UserActorOpt, actor_or_user, emit, group, utcnow
from smartcity.models.core.errors import BadInput

evaluation_app = group("evaluation", "Yearly implementation evaluation (monev): import scores, show the index.")


@evaluation_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV: year,cohort,bps_code,dimension,score[,source]")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="why stored scores change (needed when any score differs)")
    ] = None,
    simulated: Annotated[
        bool, typer.Option("--simulated", help="mark every score as simulated (shown wherever it appears)")
    ] = False,
    actor: UserActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import per-region dimension scores, all or nothing; the same file again changes nothing."""
    from smartcity.models.evaluation.ops import import_scores
    from smartcity.models.infra.db import session_scope

    who = actor_or_user(actor)
    with session_scope() as session:
        summary = import_scores(session=session, path=file, actor=who, now=utcnow(), reason=reason, simulated=simulated)
    emit(
        summary,
        as_json,
        f"{summary['source']}: {summary['rows']} score(s): {summary['added']} added, {summary['changed']} changed, "
        f"{summary['unchanged']} unchanged" + (" (simulated)" if summary["simulated"] else ""),
    )


@evaluation_app.command("show")
def show(
    year: Annotated[int, typer.Option("--year", help="the evaluation year, e.g. 2019")],
    cohort: Annotated[str | None, typer.Option("--cohort", help="one cohort; default: every cohort scored")] = None,
    lang: Annotated[str, typer.Option("--lang", help="en | id (Bahasa Indonesia)")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """The weighted index per region, ranked per cohort, with the weights; incomplete regions listed apart."""
    from smartcity.models.evaluation.ops import evaluation_index
    from smartcity.models.evaluation.render import WORDS, evaluation_markdown
    from smartcity.models.infra.db import session_scope

    lang = lang.strip().lower()
    if lang not in WORDS:
        raise BadInput(f"--lang {lang!r}: one of {', '.join(WORDS)}")
    with session_scope() as session:
        groups = evaluation_index(session=session, year=year, cohort=cohort)
    emit([g.model_dump(mode="json") for g in groups], as_json, evaluation_markdown(year, groups, lang).rstrip("\n"))
