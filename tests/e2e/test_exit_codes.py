"""One rule for exit codes, across every command: 2 when the request is wrong (an unknown name, a missing or
malformed option), 1 when a well-formed request is refused by the program's rules. Each case is one line
on stderr and changes nothing. The cases share one prepared SQLite database. Every case runs through the CLI's
own entry point in this process (about 40 commands: a process each would cost about a minute of CPU); a sample
of one case per kind of failure runs as a real process too, and must end the same way, exit status included."""

from __future__ import annotations

import pytest

from smartcity.models.infra.db import session_scope
from smartcity.models.reviews.ops import add_reviewer
from tests.clirun import smartcity, smartcity_in_process
from tests.conftest import dump_database
from tests.helpers import T0, cohort_with, load_registry

BANDUNG, SIMEULUE = "3273", "1101"  # Bandung is nominated in cohort 2017; Simeulue is in no cohort
REASON, ACTOR = ["--reason", "audit"], ["--actor", "ani"]

UNKNOWN_REGION = [
    ["region", "advance", "9999", "--to", "selected", *ACTOR],
    ["region", "history", "9999"],
    ["cohort", "nominate", "2017", "9999"],
    [
        "quickwin",
        "register",
        "9999",
        "--title",
        "t",
        "--dimension",
        "living",
        "--budget",
        "1",
        "--start",
        "2018-01-01",
        "--kpi",
        "a:b:1",
        *ACTOR,
    ],
    ["quickwin", "list", "9999"],
    ["deadlines", "list", "9999"],
    ["deadline", "extend", "9999", "--key", "masterplan", "--days", "2", *REASON, *ACTOR],
    ["milestone", "done", "9999", "--key", "bimtek-1", *ACTOR],
    ["masterplan", "submit", "9999", "--version", "v1", *ACTOR],
    ["reviews", "rounds", "9999"],
    ["reviewers", "conflict", "1", "--region", "9999", *REASON],
    ["contacts", "add", "--role", "pic", "--name", "n", "--url", "json://localhost/x", "--region", "9999"],
]

CASES: list[tuple[list[str], int, str]] = [
    *((args, 2, "9999") for args in UNKNOWN_REGION),
    (
        ["region", "advance", "Kota Surakrta", "--to", "selected", *ACTOR],
        2,
        "unknown region 'Kota Surakrta'; did you mean Kota Surakarta (3372)?",
    ),
    # an unknown cohort
    (["cohort", "advance", "nope", "--to", "selected", *ACTOR], 2, "cohort 'nope' does not exist"),
    (["cohort", "nominate", "nope", BANDUNG], 2, "cohort 'nope' does not exist"),
    (["status", "--cohort", "nope"], 2, "cohort 'nope' does not exist"),
    (["status", "--json", "--cohort", "nope"], 2, "cohort 'nope' does not exist"),
    (["report", "--format", "md", "--out", "-", "--cohort", "nope"], 2, "nope"),
    (["region", "advance", BANDUNG, "--to", "selected", "--cohort", "nope", *ACTOR], 2, "cohort 'nope'"),
    # an unknown reviewer, contact, deadline, quick win
    (["reviewers", "deactivate", "42", *REASON, *ACTOR], 2, "reviewer 42 does not exist"),
    (["reviewers", "conflict", "42", "--region", BANDUNG, *REASON], 2, "reviewer 42 does not exist"),
    (["reviewers", "contact", "1", "--contact-id", "999"], 2, "contact 999 does not exist"),
    (["deadline", "extend", BANDUNG, "--key", "nokey", "--days", "2", *REASON, *ACTOR], 2, "no deadline 'nokey'"),
    (["quickwin", "verify", "999", "--coordinator", "budi", "--all-checks"], 2, "quick win 999 does not exist"),
    (["quickwin", "evidence", "999", "--url", "https://x.org/a", *ACTOR], 2, "quick win 999 does not exist"),
    # a missing required option: bad usage
    (["region", "advance", BANDUNG, "--to", "withdrawn", *ACTOR], 2, "withdraw to withdrawn needs a reason (--reason)"),
    (["region", "advance", BANDUNG, "--to", "selected", "--force", *ACTOR], 2, "--force needs --reason"),
    (["cohort", "advance", "2017", "--to", "withdrawn", *ACTOR], 2, "--to withdrawn needs --reason"),
    (
        [
            "quickwin",
            "register",
            BANDUNG,
            "--title",
            "t",
            "--dimension",
            "living",
            "--budget",
            "1",
            "--start",
            "2027-02-30",
            "--kpi",
            "a:b:1",
            *ACTOR,
        ],
        2,
        "--start 2027-02-30 is not a date",
    ),
    # well-formed, real names, refused by the program's rules
    (["region", "advance", BANDUNG, "--to", "drafting", *ACTOR], 1, "cannot skip"),
    (["region", "advance", SIMEULUE, "--to", "selected", *ACTOR], 1, "is not enrolled"),
    (["cohort", "create", "2017", "--year", "2017", "--quota", "3"], 1, "already exists"),
    (["masterplan", "submit", BANDUNG, "--version", "v1", *ACTOR], 1, "only in drafting"),
    (
        [
            "quickwin",
            "register",
            BANDUNG,
            "--title",
            "t",
            "--dimension",
            "living",
            "--budget",
            "1",
            "--start",
            "2018-01-01",
            "--kpi",
            "a:b:1",
            *ACTOR,
        ],
        1,
        "is nominated",
    ),
]


@pytest.fixture
def prepared(sqlite_url):
    """A registry, cohort 2017 with two nominees, and one reviewer."""
    load_registry()
    cohort_with([BANDUNG, "3171"])
    with session_scope() as session:
        add_reviewer(
            session, name="Prof. Suhono", institution="ITB", province="Jawa Barat", expertise="governance", now=T0
        )
    return sqlite_url


def wrong_endings(cases: list[tuple[list[str], int, str]], results: list) -> list[tuple]:
    """The cases whose exit code, one-line message or absence of a traceback is not as the rule says."""
    return [
        (args, done.code, done.err.strip())
        for (args, code, text), done in zip(cases, results, strict=True)
        if done.code != code
        or text not in done.err
        or len(done.err.strip().splitlines()) != 1
        or "Traceback" in done.err
    ]


def test_every_command_follows_one_exit_code_rule(prepared):
    before = dump_database(prepared)
    results = [smartcity_in_process(*args, db_url=prepared) for args, _, _ in CASES]
    wrong = wrong_endings(CASES, results)
    assert wrong == [], "\n".join(map(str, wrong))
    assert dump_database(prepared) == before


#: One case of each kind, run as real processes: an unknown name (2), a bad option value (2), a missing
#: required option (2), and a refusal by the program's rules (1).
SAMPLE_TEXTS = ("9999", "--start 2027-02-30 is not a date", "--force needs --reason", "cannot skip")
PROCESS_SAMPLE = [next(case for case in CASES if case[2] == text) for text in SAMPLE_TEXTS]


def test_the_exit_status_a_shell_sees_follows_the_rule(prepared):
    before = dump_database(prepared)
    assert {code for _, code, _ in PROCESS_SAMPLE} == {1, 2}
    results = [smartcity(*args, db_url=prepared, timeout=60) for args, _, _ in PROCESS_SAMPLE]
    wrong = wrong_endings(PROCESS_SAMPLE, results)
    assert wrong == [], "\n".join(map(str, wrong))
    assert dump_database(prepared) == before
