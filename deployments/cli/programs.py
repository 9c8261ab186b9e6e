"""`smartcity program`: check a program definition file, and show a program as text, JSON or a diagram."""

from __future__ import annotations

from typing import Annotated

import typer

from smartcity.deployments.cli.common import JsonOpt, emit, group

program_app = group("program", "Program definitions: validate a file, show a program.")


@program_app.command("validate")
def program_validate(path: str, as_json: JsonOpt = False) -> None:
    """Load and check a definition file; one line naming the file, key and line when it is refused (exit 2)."""
    from smartcity.models.programs.loading import load_file

    definition = load_file(path)
    emit(
        {"valid": True, "name": definition.name, "stages": len(definition.stages), "edges": len(definition.edge_list)},
        as_json,
        f"{path}: valid program {definition.name} ({len(definition.stages)} stages, {len(definition.edge_list)} edges)",
    )


@program_app.command("show")
def program_show(
    program: Annotated[str, typer.Argument(help="a shipped program's name or a definition file")] = "default",
    mermaid: Annotated[bool, typer.Option("--mermaid", help="the state diagram (Mermaid)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A program's stages and edges (shipped: default, smartcity-2018; or any definition file)."""
    from smartcity.models.programs.loading import resolve

    definition, _ = resolve(program)
    if mermaid:
        typer.echo(definition.mermaid())
        return
    lines = [f"{definition.name}: {definition.title.id} ({definition.title.en})", "stages:"]
    for s in definition.stages:
        flag = " (final)" if s.final else " (closed)" if s.closed else ""
        lines.append(f"  {s.name:<24} {s.label.id} / {s.label.en}{flag}")
    lines.append("edges:")
    for e in definition.edge_list:
        extra = (" + reason" if e.needs_reason else "") + (" (automatic)" if e.automatic else "")
        lines.append(f"  {e.source} -> {e.target}: {e.kind}, guard {e.guard}{extra}")
    emit(definition.summary(), as_json, "\n".join(lines))
