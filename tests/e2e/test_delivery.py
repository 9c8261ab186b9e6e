"""Reminders delivered through Apprise to real receivers on loopback: an authenticated SMTP server
(aiosmtpd) and an HTTP JSON endpoint. Each message must arrive exactly once, whatever fails."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from smartcity.models.core.stages import Stage
from smartcity.models.core.transitions import StageChange, change_stage
from smartcity.models.deadlines.tables import Notification
from smartcity.models.infra.db import session_scope
from smartcity.models.infra.settings import Settings
from smartcity.models.notifications.delivery import dispatch, enqueue_due
from smartcity.models.notifications.outbox import add_contact
from tests.clirun import cli_env, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import ROOT, T0, cohort_with, load_registry
from tests.mail import smtp_with_auth
from tests.prefect_server import free_port

pytestmark = pytest.mark.slow

BANDUNG = "3273"
SECRET = "Sup3rS3cretPw"
T14 = "2017-05-10T08:00+07:00"  # 08:00 WIB on the T-14 rung of Bandung's bimtek-1 (due Fri 2 June 2017)
T14_AT = datetime.fromisoformat(T14)
FAST_ENV = {"SMARTCITY_NOTIFY_BACKOFF_S": "0.05", "SMARTCITY_NOTIFY_TIMEOUT_S": "2", "SMARTCITY_NOTIFY_ATTEMPTS": "2"}


def ref_of(text: str) -> str:
    return re.search(r"Ref: (\S+)", text).group(1)


class HttpReceiver:
    """A JSON webhook on loopback. mode: ok | 500 | slow. `accepted` holds what it answered 200 in time."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mode, self.delay, self.slow_s = "ok", 0.0, 1.5
        self.accepted: list[dict] = []
        self.late: list[dict] = []
        self.rejected = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mode = receiver.mode
                if mode == "500":
                    receiver.rejected += 1
                    self.send_response(500)
                elif mode == "slow":
                    time.sleep(receiver.slow_s)  # the client has given up by now
                    receiver.late.append(body)
                    self.send_response(200)
                else:
                    time.sleep(receiver.delay)
                    receiver.accepted.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def url(self, path: str) -> str:
        return f"json://hook:{SECRET}@127.0.0.1:{self.port}/{path}"

    def refs(self) -> list[str]:
        return [ref_of(b["message"]) for b in self.accepted]


@pytest.fixture
def smtp():
    with smtp_with_auth("pic", SECRET) as box:
        box.url = box.url_for("pic@bandung.test")
        yield box


@pytest.fixture
def http():
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


def drafting_with_contacts(urls: list[tuple[str, str]]) -> None:
    """Bandung drafting since T0, with one PIC contact per (url, language)."""
    load_registry()
    cohort_with([BANDUNG])
    with session_scope() as s:
        for i, (url, lang) in enumerate(urls):
            add_contact(s, role="pic", region_code=BANDUNG, name=f"PIC {i}", url=url, language=lang, now=T0)
    for to in ("selected", "drafting"):
        with session_scope() as s:
            change_stage(s, StageChange(region_code=BANDUNG, to=Stage(to), actor="ani"), now=T0)


def sc(*args: str, db_url: str, **env: str) -> subprocess.CompletedProcess:
    """The CLI through its entry point in this process, no Prefect server: what the commands do. The first test
    below runs `remind` as a real process (`sc_process`), as a coordinator would."""
    done = smartcity_in_process(*args, db_url=db_url, **FAST_ENV, **env)
    return subprocess.CompletedProcess(["smartcity", *args], done.code, done.out, done.err)


def sc_process(*args: str, db_url: str, **env: str) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, no Prefect server."""
    return subprocess.run(
        [sys.executable, "-m", "smartcity.deployments.cli.app", *args],
        capture_output=True,
        text=True,
        env=cli_env(db_url, **FAST_ENV, **env),
        timeout=180,
        cwd=ROOT,
    )


def statuses() -> dict[str, str]:
    with session_scope() as s:
        return {ref_of(n.body): n.status for n in s.exec(select(Notification)).all()}


def test_email_with_auth_and_json_arrive_once_with_local_time(sqlite_url, smtp, http):
    drafting_with_contacts([(smtp.url, "id"), (http.url("pic-en"), "en")])
    done = sc_process("remind", "--now", T14, db_url=sqlite_url)
    assert done.returncode == 0, done.stderr
    assert "2 reminder(s) enqueued, 2 sent, 0 failed" in done.stdout and "not reachable" in done.stderr
    [mail] = smtp.messages
    text = mail.get_body(preferencelist=("plain", "html")).get_content()
    assert "Kota Bandung" in mail["Subject"] and "Bimbingan teknis 1" in mail["Subject"]
    assert "Tenggat: Jumat, 2 Juni 2017 17:00 WIB" in text and "jatuh tempo dalam 14 hari kerja" in text
    [hook] = http.accepted
    assert "Due: Friday, 2 June 2017 17:00 WIB" in hook["message"] and "Technical guidance workshop 1" in hook["title"]
    assert enqueue_due(T14_AT) == 0 and asyncio.run(dispatch(T14_AT))["sent"] == 0  # a re-run sends nothing
    assert (len(smtp.messages), len(http.accepted)) == (1, 1)


def test_receiver_down_then_up_and_no_secret_anywhere(sqlite_url):
    down = HttpReceiver()  # its port is chosen but nothing listens yet
    dead_smtp = f"mailto://pic:{SECRET}@127.0.0.1:{free_port()}?smtp=127.0.0.1&from=a@x.test&to=b@y.test&mode=insecure"
    drafting_with_contacts([(down.url(f"pic-{i}"), "id") for i in range(3)] + [(dead_smtp, "en")])
    first = sc("remind", "--now", T14, db_url=sqlite_url)
    assert first.returncode == 1 and "4 failed" in first.stdout and "outbox --failed" in first.stderr
    failed = sc("outbox", "--failed", "--json", db_url=sqlite_url)
    rows = json.loads(failed.stdout)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"pending"} and all(r["attempts"] == 2 for r in rows)
    assert all(r["last_error"] for r in rows)
    outputs = [first.stdout + first.stderr, failed.stdout, sc("outbox", db_url=sqlite_url).stdout]
    outputs += [sc("contacts", "list", *flag, db_url=sqlite_url).stdout for flag in ((), ("--json",))]
    bad = sc(
        "contacts",
        "add",
        "--role",
        "pic",
        "--region",
        BANDUNG,
        "--name",
        "x",
        "--url",
        f"nosuchscheme://{SECRET}@host",
        db_url=sqlite_url,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "not a valid Apprise" in bad.stderr
    outputs += [bad.stdout + bad.stderr]
    assert "****" in outputs[3] and "127.0.0.1" in outputs[3]
    assert not [o for o in outputs if SECRET in o]
    with session_scope() as s:
        errors = [n.last_error for n in s.exec(select(Notification)).all()]
        assert len(s.exec(select(Notification)).all()) == 4  # the bad contact wrote nothing
    assert all(errors) and not [e for e in errors if SECRET in e]
    down.start()
    try:
        second = sc("remind", "--now", T14, db_url=sqlite_url)
        assert "3 sent, 1 failed" in second.stdout, second.stdout + second.stderr
        assert sorted(down.refs()) == sorted(set(down.refs())) and len(down.refs()) == 3
        assert sc("outbox", "--failed", "--json", db_url=sqlite_url).stdout.count('"status": "pending"') == 1
    finally:
        down.stop()


KILLER = """
import asyncio, os, signal, sys
from datetime import datetime
from smartcity.models.notifications.delivery import AppriseSender, dispatch

class DiesMidway(AppriseSender):
    calls = 0
    def send(self, url, title, body):
        DiesMidway.calls += 1
        if DiesMidway.calls > int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a real crash
        super().send(url, title, body)

asyncio.run(dispatch(datetime.fromisoformat(sys.argv[2]), DiesMidway(2.0)))
"""


def test_dispatch_killed_midway_then_rerun_sends_no_duplicate(sqlite_url, http):
    drafting_with_contacts([(http.url(f"pic-{i}"), "id") for i in range(6)])
    assert enqueue_due(T14_AT) == 6
    env = cli_env(sqlite_url, SMARTCITY_NOTIFY_CONCURRENCY="1", SMARTCITY_NOTIFY_LEASE_S="1")
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, "3", T14_AT.isoformat()],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    assert len(http.accepted) == 3
    assert sorted(statuses().values()) == ["pending", "pending", "sending", "sent", "sent", "sent"]
    cfg = Settings(notify_lease_s=1, notify_backoff_s=0)
    assert asyncio.run(dispatch(T14_AT, settings=cfg))["sent"] == 2  # the dead one's row is still leased
    time.sleep(1.2)
    assert asyncio.run(dispatch(T14_AT, settings=cfg))["sent"] == 1  # lease over: reclaimed
    assert sorted(http.refs()) == sorted(statuses()) and len(set(http.refs())) == 6 == len(http.refs())


def test_two_dispatches_at_once_send_each_message_once(db_url, http):
    http.delay = 0.1  # long enough for the two runs to overlap
    drafting_with_contacts([(http.url(f"pic-{i}"), "id") for i in range(8)])
    cfg = Settings(notify_concurrency=3, notify_backoff_s=0)
    results: list[tuple[int, dict]] = []

    def sweep_and_dispatch() -> None:  # what one `smartcity remind` does, on its own connections
        results.append((enqueue_due(T14_AT), asyncio.run(dispatch(T14_AT, settings=cfg))))

    threads = [threading.Thread(target=sweep_and_dispatch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(e for e, _ in results) == 8 and sum(d["sent"] for _, d in results) == 8, results
    assert len(http.refs()) == 8 and len(set(http.refs())) == 8
    assert set(statuses().values()) == {"sent"}


def test_http_500_and_slow_receiver_then_recovery(sqlite_url, http):
    drafting_with_contacts([(http.url(f"pic-{i}"), "en") for i in range(4)])
    enqueue_due(T14_AT)
    cfg = Settings(notify_timeout_s=0.5, notify_attempts=2, notify_backoff_s=0, notify_concurrency=4)
    http.mode = "500"
    assert asyncio.run(dispatch(T14_AT, settings=cfg)) == {"sent": 0, "failed": 4, "skipped": 0}
    assert http.rejected == 8 and set(statuses().values()) == {"pending"}
    http.mode = "slow"
    assert asyncio.run(dispatch(T14_AT, settings=cfg)) == {"sent": 0, "failed": 4, "skipped": 0}
    with session_scope() as s:
        rows = s.exec(select(Notification)).all()
    # Apprise reports a read timeout as a connection error; either way the row waits, counted.
    assert all(n.attempts == 4 and "connection error" in n.last_error.lower() for n in rows), rows
    time.sleep(http.slow_s + 0.5)  # let the slow handlers finish
    http.mode = "ok"
    assert asyncio.run(dispatch(T14_AT, settings=cfg))["sent"] == 4
    assert asyncio.run(dispatch(T14_AT, settings=cfg))["sent"] == 0
    sent = {ref for ref, status in statuses().items() if status == "sent"}
    assert sorted(http.refs()) == sorted(sent) and len(sent) == 4  # acknowledged exactly once each
    # Copies that reached the slow receiver after the client gave up carry the same Ref, so a
    # receiver can drop them: after a timeout, delivery is at-least-once (see models/notifications/delivery.py).
    assert {ref_of(b["message"]) for b in http.late} <= sent


def test_dry_run_changes_nothing_and_naive_now_is_refused(sqlite_url, http):
    drafting_with_contacts([(http.url("pic"), "id")])
    before = dump_database(sqlite_url)
    dry = sc("remind", "--now", T14, "--dry-run", "--json", db_url=sqlite_url)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert [p["rung"] for p in plan["would_enqueue"]] == ["T-14"] and http.accepted == []
    assert dump_database(sqlite_url) == before
    naive = sc("remind", "--now", "2017-09-01T08:00", db_url=sqlite_url)
    assert naive.returncode == 2 and "no UTC offset" in naive.stderr and len(naive.stderr.splitlines()) == 1


def test_a_reminder_with_no_contact_is_flagged_then_delivered_once_a_contact_is_added(sqlite_url, http):
    drafting_with_contacts([])  # Bandung drafting, and nobody to write to
    first = sc("remind", "--now", T14, db_url=sqlite_url)
    assert first.returncode == 0 and "0 reminder(s) enqueued" in first.stdout, first
    assert "warning: 1 reminder(s) have no recipient" in first.stderr and "contacts add" in first.stderr
    listed = sc("outbox", "--failed", db_url=sqlite_url)
    assert "unaddressed" in listed.stdout and "nobody yet: no pic contact" in listed.stdout, listed.stdout
    added = sc(
        "contacts",
        "add",
        "--role",
        "pic",
        "--region",
        BANDUNG,
        "--name",
        "PIC Bandung",
        "--url",
        http.url("pic"),
        db_url=sqlite_url,
    )
    assert added.returncode == 0 and "1 reminder(s) that had no pic contact now go to it" in added.stdout, added
    assert SECRET not in added.stdout + added.stderr
    second = sc("remind", "--now", T14, db_url=sqlite_url)
    assert "1 sent, 0 failed" in second.stdout and "no recipient" not in second.stderr, second
    assert len(http.accepted) == 1 and "Bimbingan teknis 1" in http.accepted[0]["title"]
    assert "1 sent" not in sc("remind", "--now", T14, db_url=sqlite_url).stdout and len(http.accepted) == 1


def test_dry_run_lists_messages_waiting_for_a_retry(sqlite_url):
    """A dry run is most wanted when messages wait for a retry: it lists them (it used to crash, reading rows
    the rollback had expired) and still changes nothing."""
    down = HttpReceiver()  # nothing listens: the send fails and the message waits for a retry
    drafting_with_contacts([(down.url("pic"), "id")])
    assert sc("remind", "--now", T14, db_url=sqlite_url).returncode == 1
    before = dump_database(sqlite_url)
    for flag in ((), ("--json",)):
        dry = sc("remind", "--now", T14, "--dry-run", *flag, db_url=sqlite_url)
        assert dry.returncode == 0 and not dry.stderr.strip(), dry.stderr
        if flag:
            waiting = json.loads(dry.stdout)["would_send_waiting"]
            assert [(w["rung"], w["attempts"]) for w in waiting] == [("T-14", 2)], waiting
        else:
            assert "would retry/send 1 waiting message(s)" in dry.stdout and "(tried 2x)" in dry.stdout, dry.stdout
    assert dump_database(sqlite_url) == before
