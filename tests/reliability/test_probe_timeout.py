"""How long a command waits for the Prefect API is a setting: a slow API (a loaded machine) is used when the
setting gives it time, and is treated as absent (the command runs without it) when it does not."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import reset_caches

ANSWER_AFTER_S = 1.0


class SlowApi(BaseHTTPRequestHandler):
    """Answers /admin/version as Prefect does, one second late."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        time.sleep(ANSWER_AFTER_S)
        body = b'"3.9.1"'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("wait_s", "ready"), [("0.2", False), ("10", True)])
def test_the_probe_waits_as_long_as_the_setting_says(slow_api, monkeypatch, wait_s, ready):
    from prefect.context import refresh_global_settings_context

    from smartcity.deployments.runtime.runner import connect

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = slow_api
    monkeypatch.setenv("SMARTCITY_PREFECT_PROBE_TIMEOUT_S", wait_s)
    reset_caches()
    try:
        api = connect()  # when the API answers, it points this process's Prefect client at it
    finally:
        # ... so point it back: later tests of this worker use the session's server.
        os.environ.pop("PREFECT_API_URL")
        if previous is not None:
            os.environ["PREFECT_API_URL"] = previous
        refresh_global_settings_context()
        reset_caches()
    assert api.url == slow_api and api.ready is ready, api
    if not ready:
        assert "ReadTimeout" in (api.problem or ""), api.problem
