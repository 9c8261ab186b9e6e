"""The demo's serve loop: the whole deployment registry served in a child process against the demo's server.

The child serves with `InProcessRunner` (`deployments/runtime/inprocess.py`): each flow run is a thread of
the child, not a new Python process as with Prefect's own runner, whose process starts took most of the
demo's time on 2 cores. It runs in its own session so a signal meant for the demo does not reach it halfway:
the demo stops its whole process group through `server._stop`, on exit, Ctrl-C, SIGTERM and SIGHUP.

Run as `python -m smartcity.deployments.demo.serving`: it serves, with the demo's adjustments (below).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from functools import cache
from typing import IO, Any

#: Runs the serve loop executes at once (threads: most of a run's time is spent waiting on the two databases).
RUN_LIMIT = 8
#: Seconds between the serve loop's polls for scheduled runs (Prefect's default is 10): a chain of triggered
#: runs pays it once per link, and the simulated clock waits for every chain. A poll is one light read.
POLL_SECONDS = 0.5


def serve_env(base: dict[str, str]) -> dict[str, str]:
    """The child's environment: the demo's database and API (in `base`), quiet logs, written as they come (the
    log is what tells why a serve loop stopped)."""
    return {
        **base,
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def start_serving(env: dict[str, str], log: IO[str]) -> subprocess.Popen:
    """Start the serve loop as a child in its own session (stopped with `server._stop`). It may start before
    the server answers: it imports the flows meanwhile, then waits for the API."""
    return subprocess.Popen(
        [sys.executable, "-m", "smartcity.deployments.demo.serving"],
        env=serve_env(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_served(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Block until every registry deployment exists and its trigger is an automation, or raise with the reason."""
    deadline = time.monotonic() + timeout
    missing: list[str] = ["(no answer yet)"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the serve loop exited with code {proc.returncode}")
        missing = asyncio.run(_missing(*_expected()))
        if not missing:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the serve loop did not register {', '.join(missing)} within {timeout:.0f}s")


async def _missing(expected: set[str], triggers: set[str]) -> list[str]:
    """The deployments, and triggers (automations), that the server does not know yet."""
    from prefect import get_client

    async with get_client() as client:
        deployments = {d.name for d in await client.read_deployments()}
        automations = {a.name for a in await client.read_automations()}
    return sorted(expected - deployments) + [f"trigger {t}" for t in sorted(triggers - automations)]


@cache
def _expected() -> tuple[set[str], set[str]]:
    """The names of the demo's deployments and of their triggers (built outside any event loop: Prefect's
    `to_deployment` returns a coroutine inside one)."""
    deployments = demo_deployments()
    return {d.name for d in deployments}, {t.name for d in deployments for t in d.triggers or []}


def demo_deployments() -> list[Any]:
    """Every registry deployment (see `demo_served`)."""
    return [deployment for deployment, _ in demo_served()]


def demo_served() -> list[tuple[Any, Any]]:
    """Every registry deployment with its flow; the demo's cohort report is labelled simulated, as its data
    is."""
    from smartcity.deployments.runtime.registry import REGISTRY, to_runner_deployment

    served = []
    for spec in REGISTRY:
        deployment = to_runner_deployment(spec)
        if spec.name == "cohort-report":
            deployment.parameters = {**(deployment.parameters or {}), "simulated": True}
        served.append((deployment, spec.load_flow()))
    return served


def main() -> None:
    """Serve the registry until stopped (the child's entry point)."""
    from prefect.settings import get_current_settings

    from smartcity.deployments.runtime.inprocess import InProcessRunner
    from smartcity.deployments.runtime.server import wait_healthy

    runner = InProcessRunner(demo_served(), limit=RUN_LIMIT, poll_seconds=POLL_SECONDS)  # imports overlap the start
    wait_healthy(str(get_current_settings().api.url))
    asyncio.run(runner.serve())


if __name__ == "__main__":
    main()
