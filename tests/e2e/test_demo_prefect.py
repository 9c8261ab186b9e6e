"""`smartcity demo --ui` on its Prefect path, small (--regions 2): the story plays through the served registry,
and the UI it leaves reads like the program's office, as a person sees it in Chromium. SIGTERM stops it all.
Also, without a server: when the story settles, and which published events the settle waits a run for."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.settings import PREFECT_API_URL, temporary_settings

from smartcity.deployments.runtime.registry import REGISTRY
from tests.browser import run_chromium
from tests.clirun import cli_env
from tests.helpers import ROOT

pytestmark = pytest.mark.slow
WHEN = datetime(2017, 9, 11, 3, tzinfo=UTC)


def wait_for_line(path, pattern: str, proc: subprocess.Popen, timeout: float) -> re.Match:
    """The first match of `pattern` in the growing output file; fails if the demo exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text())
        if found:
            return found
        assert proc.poll() is None, f"the demo exited with {proc.returncode}: {path.read_text()[-3000:]}"
        time.sleep(1)
    raise AssertionError(f"no {pattern!r} within {timeout:.0f}s: {path.read_text()[-3000:]}")


async def triggered_runs(api: str) -> dict[str, list]:
    """The runs of each triggered deployment, by deployment name."""
    async with get_client() as client:
        return {
            s.name: await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[s.name]))
            )
            for s in REGISTRY
            if s.trigger_event
        }


async def deployment_names() -> set[str]:
    async with get_client() as client:
        return {d.name for d in await client.read_deployments()}


async def board_artifact_id() -> str:
    async with get_client() as client:
        r = await client._client.post(
            "/artifacts/filter",
            json={"artifacts": {"key": {"any_": ["program-board"]}}, "sort": "CREATED_DESC", "limit": 1},
        )
        r.raise_for_status()
        return r.json()[0]["id"]


def page_text(chromium: str, url: str, shot) -> str:
    """The page's visible text (tags stripped); its screenshot is saved by the same load."""
    done = run_chromium(chromium, f"--screenshot={shot}", "--dump-dom", "--window-size=1400,2400", url, budget_ms=40000)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    dom = done.stdout
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", dom, flags=re.S)))


def test_small_prefect_demo_leaves_an_office_in_the_ui(tmp_path, chromium):
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartcity.deployments.cli.entry",
                "demo",
                "--regions",
                "2",
                "--ui",
                "--home",
                str(tmp_path / "demo"),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            # The story's last wait includes the board refresh's window (10 s by default): the board it checks
            # is the same with a short one.
            env=cli_env("sqlite:///unused.db", SMARTCITY_REFRESH_WINDOW_S="2"),
            cwd=ROOT,
        )
    try:
        wait_for_line(out, r"Event Feed .*", proc, timeout=400)
        text = out.read_text()
        assert "stage counts: quick_win_delivered=2" in text
        assert re.search(r"Prefect: \d+ flow runs, 0 with a generated name", text), text[-2000:]
        ui = re.search(r"Deployments \(Run buttons.*?(http://127\.0\.0\.1:\d+)/deployments", text).group(1)
        # The demo's server, for this block only: the process-wide settings stay as they were for later tests.
        with temporary_settings({PREFECT_API_URL: f"{ui}/api"}):
            runs = asyncio.run(triggered_runs(f"{ui}/api"))
            names = asyncio.run(deployment_names())
            board_id = asyncio.run(board_artifact_id())
        codes = sorted(re.findall(r"^  (\d{4})  .* quick_win_delivered$", text, flags=re.M))
        assert len(codes) == 2
        # every chained step was started by its trigger: one run per region (or per round, or the cohort)
        assert sorted(r.name for r in runs["drafting-setup"]) == [f"drafting-setup-{c}" for c in codes]
        assert sorted(r.name for r in runs["close-region-file"]) == [f"close-region-file-{c}" for c in codes]
        assert len(runs["quick-win-tracking"]) == 2 and len(runs["review-round"]) >= 2
        assert [r.name for r in runs["cohort-report"]] == ["cohort-report-2017"]
        assert all(r.state.is_completed() for rs in runs.values() for r in rs)

        deployments = page_text(chromium, f"{ui}/deployments", tmp_path / "deployments.png")
        shown = [s.name for s in REGISTRY if s.name in deployments]  # the page lists 10 at a time
        assert len(shown) >= min(10, len(REGISTRY)) and "review-round" in deployments, deployments[-1500:]
        assert names == {s.name for s in REGISTRY}
        listing = page_text(chromium, f"{ui}/runs", tmp_path / "runs.png")
        assert f"close-region-file-{codes[-1]}" in listing or f"close-region-file-{codes[0]}" in listing
        assert "cohort-report-2017" in listing and "to-quick_win_delivered" in listing
        board = page_text(chromium, f"{ui}/artifacts/artifact/{board_id}", tmp_path / "board.png")
        names = re.findall(r"^  \d{4}  (.+?)\s{2,}.* quick_win_delivered$", text, flags=re.M)
        assert names and all(name in board for name in names), board[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, out.read_text()[-2000:]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{ui}/api/health", timeout=2)


@pytest.mark.prefect_server
def test_only_runs_that_started_count_as_keeping_a_generated_name(prefect_api):
    """A triggered run has a generated name until it starts (then its flow names it): the demo's closing count
    is of runs that kept one, so a refresh still waiting out its window at the end is not one."""
    from prefect import flow
    from prefect.states import Completed, Pending, Scheduled

    from smartcity.deployments.demo.chain import generated_names

    @flow(name="generated-name-probe")
    def probe() -> None:
        return None

    async def scenario() -> tuple[list[str], list[str], list[str]]:
        async with get_client() as client:
            waiting = [
                (await client.create_flow_run(probe, name=name, state=state)).name
                for name, state in (("quiet-otter", Scheduled()), ("brisk-heron", Pending()))
            ]
            kept = (await client.create_flow_run(probe, name="stale-walrus", state=Completed())).name
        return waiting, [kept], await generated_names()

    waiting, kept, names = asyncio.run(scenario())
    assert set(kept) <= set(names) and not set(waiting) & set(names), names


@pytest.mark.postgres
def test_served_demo_on_a_postgres_prefect_server_drops_its_database(tmp_path):
    """`--prefect-postgres`: the story's runs on a Prefect server backed by a database of its own, gone at the end.

    `--quick` (selection, cohort moves, monthly sweeps and the report as flow runs): where the server keeps its
    data is the option's whole promise, and the served path is the Chromium test's subject (on the default
    SQLite server) and the benchmark's (`python -m benchmarks.bench_demo --prefect-postgres URL`)."""
    from tests.clirun import smartcity
    from tests.conftest import IN_CI, PG_ADMIN_URL, pg_available

    if problem := pg_available():
        pytest.fail(problem) if IN_CI else pytest.skip(problem)
    home = tmp_path / "demo"
    done = smartcity(
        "demo", "--quick", "--regions", "2", "--home", str(home), "--prefect-postgres", PG_ADMIN_URL,
        db_url="sqlite:///unused.db", timeout=400,
    )  # fmt: skip
    assert done.code == 0, done.err[-3000:]
    assert "stage counts: quick_win_delivered=2" in done.out
    assert re.search(r"Prefect: \d+ flow runs, 0 with a generated name", done.out), done.out[-2000:]
    database = re.search(r"Prefect's data: database (smartcity_demo_[0-9a-f]{8}) on ", done.out).group(1)
    assert not (home / "prefect" / "prefect.db").exists(), "the server kept its data in SQLite after all"
    engine = sa.create_engine(PG_ADMIN_URL)
    with engine.connect() as conn:
        left = conn.execute(sa.text("select count(*) from pg_database where datname = :n"), {"n": database}).scalar()
    engine.dispose()
    assert left == 0, f"{database} was not dropped"


@pytest.mark.postgres
def test_prefect_databases_are_copies_of_one_template_built_once_per_prefect_version():
    """A server database starts as a copy of Prefect's migrated schema (no migrations at the server's start); the
    template is built once, under a lock, and only a complete build gets the template's name."""
    from smartcity.deployments.runtime.server import prefect_postgres_template, throwaway_postgres_database
    from tests.conftest import IN_CI, PG_ADMIN_URL, pg_available

    if problem := pg_available():
        pytest.fail(problem) if IN_CI else pytest.skip(problem)
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def oid(name: str):
        with admin.connect() as conn:
            return conn.execute(sa.text("select oid from pg_database where datname = :n"), {"n": name}).scalar()

    try:
        template = prefect_postgres_template(admin)
        built = oid(template)
        assert template.startswith("smartcity_prefect_template_") and built is not None
        assert oid(f"{template}_building") is None
        with throwaway_postgres_database(PG_ADMIN_URL, "smartcity_copy") as url:
            name = sa.make_url(url).database
            copy = sa.create_engine(sa.make_url(PG_ADMIN_URL).set(database=name))
            with copy.connect() as conn:
                head = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
                tables = conn.execute(sa.text("select count(*) from pg_tables where tablename = 'flow_run'")).scalar()
                runs = conn.execute(sa.text("select count(*) from flow_run")).scalar()
            copy.dispose()
            assert len(head) == 1 and tables == 1 and runs == 0
        assert oid(name) is None, "the copy outlived its block"
        assert prefect_postgres_template(admin) == template and oid(template) == built  # not built again
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_template_build_that_fails_leaves_no_template(tmp_path, monkeypatch):
    """Prefect's migrations failing (here a stand-in `prefect` module that exits 1) leave neither a template nor
    its scratch database, so the next run builds it again instead of copying half a schema."""
    import prefect

    from smartcity.deployments.runtime.server import prefect_postgres_template
    from tests.conftest import IN_CI, PG_ADMIN_URL, pg_available

    if problem := pg_available():
        pytest.fail(problem) if IN_CI else pytest.skip(problem)
    fake = tmp_path / "prefect"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("import sys\nsys.exit('migration failed: boom')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(prefect, "__version__", "0.0.0+broken")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(RuntimeError, match=r"Prefect's migrations failed there \(migration failed: boom\)"):
            prefect_postgres_template(admin)
        with admin.connect() as conn:
            left = conn.execute(
                sa.text("select datname from pg_database where datname like 'smartcity_prefect_template_0_0_0%'")
            ).all()
        assert left == []
    finally:
        admin.dispose()


def test_a_prefect_postgres_that_refuses_leaves_the_last_demo_as_it_was(tmp_path):
    from tests.clirun import smartcity_in_process

    home = tmp_path / "demo"
    home.mkdir()
    (home / "demo.db").write_text("the last demo")
    url = "postgresql://coordinator:pw-PLANTED@127.0.0.1:1/postgres"  # nothing listens on port 1
    done = smartcity_in_process("demo", "--home", str(home), "--prefect-postgres", url, db_url="sqlite:///unused.db")
    assert done.code == 2 and done.err.count("\n") == 1 and "--prefect-postgres" in done.err, done.err
    assert "pw-PLANTED" not in done.err + done.out
    assert (home / "demo.db").read_text() == "the last demo" and len(list(home.iterdir())) == 1


@pytest.mark.parametrize(
    "args",
    [("--regions", "1"), ("--regions", "26"), ("--regions", "3", "--registry", "/work/shared/data/regions_2018.csv")],
)
def test_bad_regions_option_is_refused_before_anything_starts(tmp_path, args):
    from tests.clirun import smartcity

    done = smartcity("demo", "--no-prefect", "--home", str(tmp_path / "demo"), *args, db_url="sqlite:///unused.db")
    assert done.code == 2 and done.err.count("\n") == 1 and "--regions" in done.err, done.err
    assert not (tmp_path / "demo").exists()


def test_two_demos_started_at_once_never_share_a_port():
    """Both find 4200 free (neither server has bound it yet): only one may take it, or the second demo would
    talk to the first one's server (seen when two test suites ran at once)."""
    from smartcity.deployments.demo.command import _server_port
    from smartcity.deployments.runtime.server import port_in_use

    with _server_port(keep=True) as first, _server_port(keep=True) as second:
        assert first != second
        if 4200 not in (first, second):  # then 4200 is someone else's: a server on it, or a demo starting one
            assert port_in_use(4200) or _port_lock_held_elsewhere()


def _port_lock_held_elsewhere() -> bool:
    """True when another process holds the demos' lock on port 4200 (a demo running meanwhile, e.g. the
    Chromium test on the other pytest worker)."""
    import fcntl
    import tempfile
    from pathlib import Path

    with open(Path(tempfile.gettempdir()) / "smartcity-demo-port-4200.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def test_ui_with_quick_is_refused_before_anything_starts(tmp_path):
    from tests.clirun import smartcity_in_process

    done = smartcity_in_process(
        "demo", "--ui", "--quick", "--home", str(tmp_path / "demo"), db_url="sqlite:///unused.db"
    )
    assert done.code == 2 and done.err.count("\n") == 1 and "--quick" in done.err, done.err
    assert not (tmp_path / "demo").exists()


def test_the_story_settles_before_a_region_acts_again_before_any_region_and_before_a_follow_up_is_due(sqlite_url):
    from smartcity.deployments.demo.story import Story, wib

    log: list[str] = []

    class Recording(Story):
        def settle(self, final: bool = False) -> None:
            log.append("settle")
            super().settle(final)

    story = Recording(receiver_url="json://127.0.0.1:9", flows=False)
    day = wib("2017-09-11T10:00")

    def act(name: str, follow_up: timedelta | None = None):
        def action() -> None:
            log.append(name)
            if follow_up is not None:
                story.then(lambda: log.append(f"after {name} as of {story.now:%m-%d %H:%M}"), within=follow_up)

        return action

    story.at(day, act("3273 submits"), region="3273")
    story.at(day + timedelta(minutes=30), act("3274 submits"), region="3274")
    story.at(day + timedelta(hours=1), act("3273 again"), region="3273")
    story.at(day + timedelta(hours=2), act("3274 reviewed", follow_up=timedelta(days=3)), region="3274")
    story.at(day + timedelta(days=1), act("3275 next day"), region="3275")
    story.at(day + timedelta(days=2), act("3276 two days on"), region="3276")
    story.at(day + timedelta(days=3, hours=2), act("3277 at the follow-up's latest time"), region="3277")
    story.at(day + timedelta(days=3, hours=3), act("every region"))
    story.run_until(day + timedelta(days=4))
    assert log == [
        "3273 submits",
        "3274 submits",  # another region, same day: its runs overlap the first one's
        "settle",  # 3273 acts again: its first runs may still be moving it
        "3273 again",
        "3274 reviewed",
        "3275 next day",  # other regions, other days, no follow-up due yet: no settle
        "3276 two days on",
        "settle",  # the clock reaches the follow-up's latest time: it runs first, as of its own time (12:00 WIB)
        "after 3274 reviewed as of 09-11 05:00",
        "3277 at the follow-up's latest time",
        "settle",
        "every region",
        "settle",
    ]


def test_a_sweep_waits_only_for_the_runs_of_the_regions_it_reminds(sqlite_url):
    from sqlmodel import select

    from smartcity.deployments.demo.story import Story, wib
    from smartcity.models.core.enrollments import find_enrollment
    from smartcity.models.deadlines.tables import Deadline
    from smartcity.models.infra.db import session_scope
    from tests.helpers import cohort_with, load_registry

    load_registry()
    cohort_with(["3273", "3271", "3275"])
    day = wib("2017-09-11T10:00")
    with session_scope() as s:  # only two reminders, both 3273's: the next evening, and the one after
        for d in s.exec(select(Deadline)).all():
            d.status = "cancelled"
        enrollment = find_enrollment(s, "3273").id
        for i, hours in enumerate((20, 44)):
            s.add(
                Deadline(
                    enrollment_id=enrollment, kind="milestone", key=f"bimtek-{i}", stage="drafting",
                    due_at=day + timedelta(days=9), created_at=day, next_rung="-7",
                    next_rung_at=day + timedelta(hours=hours),
                )
            )  # fmt: skip
    log: list[str] = []

    class Recording(Story):
        def settle(self, final: bool = False) -> None:
            log.append("settle")
            super().settle(final)

        def sweep(self, instant) -> None:
            log.append(f"sweep at +{(instant - day).total_seconds() / 3600:.0f}h")
            with session_scope() as s:
                for d in s.exec(select(Deadline).where(Deadline.next_rung_at <= instant)).all():
                    d.status, d.next_rung_at = "done", None

    story = Recording(receiver_url="json://127.0.0.1:9", flows=False)
    for hours, code in ((0, "3271"), (22, "3273"), (48, "3275")):
        story.at(day + timedelta(hours=hours), lambda code=code: log.append(f"{code} acts"), region=code)
    story.run_until(day + timedelta(days=3))
    assert log == [
        "3271 acts",
        "sweep at +20h",  # it reminds 3273 only, which has no run in flight: 3271's runs go on meanwhile
        "3273 acts",
        "settle",  # the next sweep reminds 3273, whose runs may be closing what falls due
        "sweep at +44h",
        "3275 acts",
        "settle",
    ]


def test_the_settle_waits_for_a_run_per_event_its_served_triggers_match(sqlite_url):
    from prefect.events import DeploymentEventTrigger
    from sqlmodel import select

    from smartcity.deployments.demo.settle import Chain
    from smartcity.models.core.events import enqueue
    from smartcity.models.core.tables import EventOutbox
    from smartcity.models.infra.db import session_scope

    def deployment(name: str, **trigger) -> SimpleNamespace:
        return SimpleNamespace(name=name, triggers=[DeploymentEventTrigger(**trigger)])

    chain = Chain(
        [
            deployment(
                "close-file",
                expect={"smartcity.region.*"},
                match={"prefect.resource.id": "smartcity.*", "smartcity.follow-up": "close-region-file"},
            ),
            deployment(
                "review", expect={"smartcity.masterplan.submitted"}, match={"prefect.resource.id": "smartcity.*"}
            ),
            deployment("board", expect={"smartcity.region.*"}, within=timedelta(seconds=30)),
        ]
    )
    labelled = {"prefect.resource.id": "smartcity.region.3273", "smartcity.follow-up": "close-region-file"}
    events = [
        ("smartcity.region.quick_win_delivered", labelled, True),
        ("smartcity.region.drafting", {"prefect.resource.id": "smartcity.region.3273"}, True),
        ("smartcity.masterplan.submitted", {"prefect.resource.id": "smartcity.region.3274"}, True),
        ("smartcity.region.quick_win_delivered", {**labelled, "prefect.resource.id": "smartcity.region.3274"}, False),
        ("smartcity.region.quick_win_delivered", {**labelled, "prefect.resource.id": "smartcity.region.3275"}, True),
    ]
    with session_scope() as s:
        for i, (event, resource, published) in enumerate(events):
            row = enqueue(s, key=f"k{i}", event=event, resource=resource, related=[], payload={}, occurred_at=WHEN)
            row.published_at = WHEN if published else None
    assert chain.coalesced == ["board"]
    # An event above an unpublished one waits until that one is published, so each is counted once.
    assert chain.count_published() == (1, 3)
    assert chain.expected == {"close-file": 1, "review": 1}
    with session_scope() as s:
        for row in s.exec(select(EventOutbox)).all():
            row.published_at = row.published_at or WHEN
    assert chain.count_published() == (0, 5)
    assert chain.expected == {"close-file": 3, "review": 1}


def test_a_resume_that_meets_the_sqlite_lock_race_is_sent_again_at_once():
    """Prefect's SQLite server answers a resume 503 when another write commits in between; the story asks again
    within a fraction of a second (Prefect's client would wait 2 s, then 4 s), and only on 503."""
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES

    from smartcity.deployments.demo.chain import resume_at_once

    def answer(code: int) -> httpx.HTTPStatusError:
        request = httpx.Request("POST", "http://server/api/flow_runs/x/resume")
        return httpx.HTTPStatusError(str(code), request=request, response=httpx.Response(code, request=request))

    class Server:
        def __init__(self, codes: list[int]) -> None:
            self.codes, self.calls, self.retries = codes, 0, []

        async def resume_flow_run(self, run_id, run_input):
            self.calls += 1
            self.retries.append(PREFECT_CLIENT_MAX_RETRIES.value())  # Prefect's own slow retry is off
            if self.codes:
                raise answer(self.codes.pop(0))
            return ("accepted", run_id, run_input)

    locked = Server([503, 503])
    assert asyncio.run(resume_at_once(locked, "run", {"decision": "approve"})) == (
        "accepted",
        "run",
        {"decision": "approve"},
    )
    assert locked.calls == 3 and set(locked.retries) == {0}
    missing = Server([404])
    with pytest.raises(httpx.HTTPStatusError):
        asyncio.run(resume_at_once(missing, "run", {}))
    assert missing.calls == 1
