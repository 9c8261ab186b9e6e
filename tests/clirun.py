"""Run the real `smartcity` CLI: in a subprocess, as a coordinator would, or in this process through the same
entry point.

A subprocess costs about 1 s of CPU in interpreter start and imports (2 s when the command imports Prefect):
tests that are about what a command does use `smartcity_in_process`; tests about the process itself (its exit
status as the shell sees it, signals, what it imports, what reaches the terminal through logging) keep
`smartcity` and `spawn`.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass

from tests.helpers import ROOT, one_ca_bundle

#: The CLI's wait for the Prefect API in tests: a loaded machine (two suites at once) answered the 2 s default
#: too late, and the command then ran without Prefect, so a test of its flow run found none. A dead API
#: (connection refused) still fails at once.
PROBE_TIMEOUT_S = "30"
DEAD_API = "http://127.0.0.1:9/api"  # nothing listens on the discard port


@dataclass
class Done:
    code: int
    out: str
    err: str


def cli_env(db_url: str, **extra: str) -> dict[str, str]:
    """Environment for a CLI process: the test database and, by default, no Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SMARTCITY_"))}
    env.update(
        one_ca_bundle(),
        SMARTCITY_DATABASE_URL=db_url,
        PREFECT_API_URL=DEAD_API,
        PYTHONPATH=str(ROOT),
        SMARTCITY_PREFECT_PROBE_TIMEOUT_S=PROBE_TIMEOUT_S,
    )
    env.update(extra)
    return env


def smartcity(*args: str, db_url: str, timeout: float = 300, **extra: str) -> Done:
    """`smartcity ARGS` to completion."""
    proc = subprocess.run(
        [sys.executable, "-m", "smartcity.deployments.cli.entry", *args],
        capture_output=True,
        text=True,
        env=cli_env(db_url, **extra),
        timeout=timeout,
        cwd=ROOT,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def spawn(*args: str, db_url: str, **extra: str) -> subprocess.Popen:
    """`smartcity ARGS` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "smartcity.deployments.cli.entry", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(db_url, **extra),
        cwd=ROOT,
    )


@contextmanager
def _as_cli_process(db_url: str, extra: dict[str, str]) -> Iterator[None]:
    """This process's environment, argv and working directory as `smartcity` would have them; restored after."""
    from tests.conftest import reset_caches

    saved_env, saved_argv, saved_cwd, saved_levels = dict(os.environ), sys.argv, os.getcwd(), _logging_levels()
    saved_prefect = _prefect_settings()
    env = cli_env(db_url, **extra)
    if "PREFECT_HOME" in saved_env and "PREFECT_HOME" not in extra:
        env["PREFECT_HOME"] = saved_env["PREFECT_HOME"]  # the session's temp home, never ~/.prefect
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    reset_caches()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        reset_caches()
        for thing, level in saved_levels.items():  # the CLI quiets Prefect's console handler for its own run
            if thing.level != level:  # a logger's setLevel clears every logger's cache: only when it changed
                thing.setLevel(level)
        if _prefect_settings() is not saved_prefect:  # a command that found a live API pointed Prefect at it
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()


def _prefect_settings() -> object:
    """Prefect's current settings object, if Prefect is imported (rebuilding it costs ~0.1 s: only on change)."""
    if "prefect.context" not in sys.modules:
        return None
    from prefect.context import get_settings_context

    return get_settings_context().settings


def _logging_levels() -> dict[logging.Logger | logging.Handler, int]:
    """The level of every logger and handler that exists now."""
    from smartcity.deployments.runtime.runner import all_loggers

    levels: dict[logging.Logger | logging.Handler, int] = {}
    for lg in all_loggers():
        levels[lg] = lg.level
        levels.update((h, h.level) for h in lg.handlers)
    return levels


def smartcity_in_process(*args: str, db_url: str, **extra: str) -> Done:
    """`smartcity ARGS` through the console script's own `main`, in this process, with the environment
    `smartcity` would get: the same parsing, fast path, errors, output and exit code, without the start-up.

    An exception that escapes `main` becomes what the interpreter would print and exit with (a traceback on
    stderr, code 1), so a test that asserts "no traceback" still sees one."""
    from smartcity.deployments.cli import entry

    out, err = io.TextIOWrapper(io.BytesIO(), "utf-8"), io.TextIOWrapper(io.BytesIO(), "utf-8")
    with _as_cli_process(db_url, extra), redirect_stdout(out), redirect_stderr(err):
        sys.argv = ["smartcity", *args]
        try:
            code = entry.main()
        except SystemExit as exc:  # what the interpreter does with sys.exit(...)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 - the interpreter prints any uncaught error and exits 1
            traceback.print_exc()
            code = 1
    return Done(code, _text(out), _text(err))


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    # Universal newlines, as `subprocess.run(text=True)` decodes a child's output.
    return buffer.getvalue().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
