"""Reading program definitions: the shipped ones by name, any other from a file, each validated when read.

A bad file is refused with one line that names the file, the key path and, where it can be found, the line:
`village.toml: edges[2].guard (line 31): unknown guard 'quorum' (known: ...)`.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartcity.models.core.errors import BadInput
from smartcity.models.programs.definition import ProgramDefinition

#: The shipped definitions: `<name>.toml`, where `name` is also the definition's own `name`.
SHIPPED_DIR = Path(__file__).resolve().parent
DEFAULT_PROGRAM = "default"


class DefinitionError(BadInput, ValueError):
    """A program definition that cannot be read or is not valid; the message is one line."""


def shipped_names() -> list[str]:
    """The names of the definitions that ship with the engine."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


def parse(text: str, *, source: str) -> ProgramDefinition:
    """Parse and check a definition from TOML text; DefinitionError names `source`, the key and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
    try:
        return ProgramDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(f"{source}: {_describe(exc, text)}") from None


def load_file(path: str | Path) -> ProgramDefinition:
    """The definition in `path` (not cached: a file being edited is read again)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    return parse(text, source=path.name)


@lru_cache(maxsize=16)
def shipped(name: str = DEFAULT_PROGRAM) -> ProgramDefinition:
    """A shipped definition by name, read once per process."""
    path = SHIPPED_DIR / f"{name}.toml"
    if not path.is_file():
        raise DefinitionError(f"no shipped program {name!r} (shipped: {', '.join(shipped_names())})")
    return load_file(path)


@lru_cache(maxsize=64)
def from_source(text: str) -> ProgramDefinition:
    """A definition stored as text (a cohort's registered program), parsed once per process."""
    return parse(text, source="stored definition")


def resolve(name_or_path: str) -> tuple[ProgramDefinition, str | None]:
    """A shipped name, or a path to a file: the definition and the file's text (None when shipped)."""
    if name_or_path in shipped_names():
        return shipped(name_or_path), None
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        raise DefinitionError(
            f"no shipped program {name_or_path!r} and no such file (shipped: {', '.join(shipped_names())})"
        )
    definition = load_file(path)
    return definition, path.read_text(encoding="utf-8")


def _describe(exc: ValidationError, text: str) -> str:
    errs = exc.errors(include_url=False)
    first = errs[0]
    loc = _model_loc(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "missing required key"
    # A check on the whole program names its own key path ("edges[3]: ...") in the message.
    if not loc and (m := re.match(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): ", msg)):
        loc, msg = _parse_path(m.group(1)), msg[m.end() :]
    path = _show(loc)
    line = _line_of(text, loc)
    where = f"{path} (line {line})" if path and line else path or (f"line {line}" if line else "")
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{where + ': ' if where else ''}{msg}{more}".replace("\n", " ")


def _model_loc(loc: tuple[Any, ...]) -> list[str | int]:
    # Pydantic inserts the guard model's name and "function-after[...]" steps; keep only keys and indices.
    return [p for p in loc if isinstance(p, int) or not (p.startswith("function-") or p[:1].isupper())]


def _parse_path(text: str) -> list[str | int]:
    out: list[str | int] = []
    for part in text.split("."):
        m = re.fullmatch(r"([a-z_]+)(?:\[(\d+)\])?", part)
        if m:
            out.append(m.group(1))
            if m.group(2) is not None:
                out.append(int(m.group(2)))
    return out


def _show(loc: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _line_of(text: str, loc: list[str | int]) -> int | None:
    """The line of `loc` in the TOML text, following [tables], [[arrays of tables]] and keys (best effort)."""
    lines = text.splitlines()
    start, found, table = 0, None, ""
    i = 0
    while i < len(loc):
        key = loc[i]
        if isinstance(key, int):
            i += 1
            continue
        dotted = f"{table}.{key}" if table else key
        index = loc[i + 1] if i + 1 < len(loc) and isinstance(loc[i + 1], int) else None
        if index is not None:
            heads = [
                n for n in range(start, len(lines)) if re.match(rf"\s*\[\[\s*{re.escape(dotted)}\s*\]\]", lines[n])
            ]
            if len(heads) > int(index):
                start = found = heads[int(index)]
                table, i = dotted, i + 2
                continue
        hit = next(
            (
                n
                for n in range(start, len(lines))
                if re.match(rf"\s*\[\s*{re.escape(dotted)}\s*\]", lines[n])
                or re.match(rf"\s*\"?{re.escape(str(key))}\"?\s*=", lines[n])
            ),
            None,
        )
        if hit is None:
            break
        start = found = hit
        if lines[hit].lstrip().startswith("["):
            table = dotted
        i += 1
    return None if found is None else found + 1
