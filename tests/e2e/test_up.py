"""`smartcity up`: the server and `serve` together; healthy, serving, and Ctrl-C stops both."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.clirun import spawn
from tests.prefect_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.prefect_server]


def test_up_serves_the_registry_and_ctrl_c_stops_both(sqlite_url, tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    proc = spawn("up", "--port", str(port), db_url=sqlite_url, PREFECT_HOME=str(tmp_path), PREFECT_API_URL=api)
    from smartcity.deployments.runtime.registry import REGISTRY

    expected, names = {s.name for s in REGISTRY}, set()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not expected <= names:
        time.sleep(1)
        try:
            r = httpx.post(f"{api}/deployments/filter", json={}, timeout=3)
            names = {d["name"] for d in r.json()} if r.status_code == 200 else set()
        except httpx.HTTPError:
            pass
    assert expected <= names, expected - names
    assert httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=3).json()["api_url"] == api
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "Prefect UI: http://127.0.0.1:" in out and "stopped the Prefect server" in err
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=2)
