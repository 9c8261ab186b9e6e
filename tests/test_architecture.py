"""The architecture as tests: imports point one way, models/ imports no Prefect, and no module imports
itself back through another (function-local imports included: a cycle hidden inside a function is still one)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("deployments", "flows", "tasks", "models")  # each may import only the ones after it


def modules() -> dict[str, Path]:
    """smartcity.<dotted name> -> file, for every module of the four code folders."""
    out = {}
    for top in LAYERS:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[f"smartcity.{name}"] = path
    return out


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The smartcity modules that a file imports, anywhere in it (`from pkg import module` included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    mods = modules()
    return {name: imports_of(path, set(mods)) - {name} for name, path in mods.items()}


def test_imports_point_one_way():
    """deployments -> flows -> tasks -> models, never back."""
    wrong = []
    for name, targets in graph().items():
        layer = LAYERS.index(name.split(".")[1])
        wrong += [f"{name} -> {t}" for t in targets if LAYERS.index(t.split(".")[1]) < layer]
    assert not wrong


def test_models_import_no_prefect():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "models").rglob("*.py")
        if any(
            isinstance(n, ast.Import | ast.ImportFrom)
            and any((getattr(n, "module", None) or a.name).startswith("prefect") for a in n.names)
            for n in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert not offenders


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", ["smartcity.models", "smartcity.deployments"])
def test_no_import_cycles(package):
    # A package's __init__ is not an import of its modules, so packages themselves are left out.
    edges = {
        name: {t for t in targets if t.startswith(package) and modules()[t].name != "__init__.py"}
        for name, targets in graph().items()
        if name.startswith(package)
    }
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])
