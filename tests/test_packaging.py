"""The wheel installs one top-level package, `smartcity`, holding every folder of the code."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("models", "tasks", "flows", "deployments")


def test_every_code_folder_is_a_listed_package():
    """A new folder with an __init__.py must be listed in pyproject.toml, or the wheel would lack it."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        "smartcity." + ".".join(d.relative_to(ROOT).parts)
        for top in CODE
        for d in [ROOT / top, *(ROOT / top).rglob("*")]
        if d.is_dir() and (d / "__init__.py").is_file()
    }
    assert listed == on_disk


def test_the_wheel_installs_exactly_one_top_level_package(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next(tmp_path.glob("smartcity-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"smartcity"}
    # The data the code opens by path travels with it.
    for needed in (
        "smartcity/models/policies/selection_default.toml",
        "smartcity/models/programs/default.toml",
        "smartcity/models/data/phase1_2017.csv",
        "smartcity/models/migrations/env.py",
        "smartcity/flows/advance_stage.py",
    ):
        assert needed in names, needed
