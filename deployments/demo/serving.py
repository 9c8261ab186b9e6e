"""The demo's serve loop: the whole deployment registry served in a child process against the demo's server.

The child runs Prefect's `serve` in the foreground of its own process (it installs its own signal handling),
in its own session so a signal meant for the demo does not reach it halfway: the demo stops its whole
process group (flow-run subprocesses included) through `server._stop`, on exit, Ctrl-C, SIGTERM and SIGHUP.

Run as `python -m smartcity.deployments.demo.serving`: it serves, with the demo's adjustments (below).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import IO, Any

#: Runs the serve loop executes at once: each is a Python process, and the machine may have only 2 cores.
PROCESS_LIMIT = 4
#: Seconds between the serve loop's polls for scheduled runs (Prefect's default is 10): a chain of triggered
#: runs pays it once per link, and the simulated clock waits for every chain.
POLL_SECONDS = "1"


def serve_env(base: dict[str, str]) -> dict[str, str]:
    """The child's environment: the demo's database and API (in `base`), a fast poll, quiet logs."""
    return {
        **base,
        "PREFECT_RUNNER_POLL_FREQUENCY": POLL_SECONDS,
        "PREFECT_RUNNER_PROCESS_LIMIT": str(PROCESS_LIMIT),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


def start_serving(env: dict[str, str], log: IO[str]) -> subprocess.Popen:
    """Start the serve loop as a child in its own session (stopped with `server._stop`)."""
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
        missing = asyncio.run(_missing())
        if not missing:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the serve loop did not register {', '.join(missing)} within {timeout:.0f}s")


async def _missing() -> list[str]:
    """Registry deployments, and triggers, the server does not know yet."""
    from prefect import get_client

    from smartcity.deployments.runtime.registry import REGISTRY

    async with get_client() as client:
        deployments = {d.name for d in await client.read_deployments()}
        automations = {a.name for a in await client.read_automations()}
    missing = [s.name for s in REGISTRY if s.name not in deployments]
    return missing + [
        f"trigger of {s.name}"
        for s in REGISTRY
        if s.trigger_event and f"{s.name} on {s.trigger_event}" not in automations
    ]


def demo_deployments() -> list[Any]:
    """Every registry deployment; the demo's cohort report is labelled simulated, as its data is."""
    from smartcity.deployments.runtime.registry import REGISTRY, to_runner_deployment

    deployments = []
    for spec in REGISTRY:
        deployment = to_runner_deployment(spec)
        if spec.name == "cohort-report":
            deployment.parameters = {**(deployment.parameters or {}), "simulated": True}
        deployments.append(deployment)
    return deployments


def main() -> None:
    """Serve the registry until stopped (the child's entry point)."""
    from prefect import serve

    serve(*demo_deployments(), limit=PROCESS_LIMIT, print_starting_message=False)


if __name__ == "__main__":
    main()
