"""Smoke test of the program-definition figure's parts (no timing asserted; `python -m benchmarks.run` reads it)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks import program_definition


def test_every_shipped_definition_is_timed_against_parsing_its_toml():
    loads = program_definition.load(runs=2)
    assert {"default", "smartcity-2018"} <= set(loads)
    assert all(v["load_ms"] > 0 and v["toml_only_ms"] > 0 for v in loads.values())


def test_the_baseline_engine_is_the_code_from_before_programs_were_data(tmp_path):
    view = program_definition._old_engine(tmp_path)
    probe = (
        f"import sys; sys.path.insert(0, {str(view)!r}); import smartcity.models.core.stages as s; "
        "print(hasattr(s, 'EDGES'), list(__import__('smartcity').__path__)[0])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    has_edges, where = done.stdout.split()
    assert has_edges == "True" and where.startswith(str(view))  # the old stage machine, not this checkout's
