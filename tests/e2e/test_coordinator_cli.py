"""What a coordinator expects to find: cohorts listed, regions by name, filters in any case, local times."""

from __future__ import annotations

import json

from tests.clirun import smartcity_in_process
from tests.helpers import cohort_with, load_registry

SURAKARTA, MAKASSAR = "3372", "7371"


def test_cohorts_regions_by_name_filters_and_local_times(sqlite_url):
    load_registry()
    cohort_with([SURAKARTA, MAKASSAR, "3273"], quota=3)
    moved = smartcity_in_process(
        "region", "advance", "kota surakarta", "--to", "selected", "--actor", "ani", db_url=sqlite_url
    )
    assert moved.code == 0 and f"region {SURAKARTA}: now selected" in moved.out, moved
    moved = smartcity_in_process(
        "region", "advance", "Kota Makassar", "--to", "selected", "--actor", "ani", db_url=sqlite_url
    )
    assert moved.code == 0, moved

    cohorts = json.loads(smartcity_in_process("cohort", "list", "--json", db_url=sqlite_url).out)
    assert cohorts == [
        {
            "name": "2017",
            "year": 2017,
            "quota": 3,
            "program": "Gerakan Menuju 100 Smart City",
            "stages": {"nominated": 1, "selected": 2},
            "regions": 3,
        }
    ]
    text = smartcity_in_process("cohort", "list", db_url=sqlite_url).out
    assert "2017" in text and "quota    3" in text and "selected: 2" in text and "nominated: 1" in text

    history = json.loads(smartcity_in_process("region", "history", "Kota Makassar", "--json", db_url=sqlite_url).out)
    utc_hour = int(history[0]["at"][11:13])
    assert history[0]["at_local"].endswith(" WITA") and int(history[0]["at_local"][11:13]) == (utc_hour + 8) % 24
    assert smartcity_in_process("region", "history", SURAKARTA, db_url=sqlite_url).out.split("  ")[0].endswith(" WIB")

    west_java = json.loads(
        smartcity_in_process("regions", "list", "--province", "jawa  BARAT", "--json", db_url=sqlite_url).out
    )
    assert len(west_java) > 20 and {r["province"] for r in west_java} == {"Jawa Barat"}
    typo = smartcity_in_process("regions", "list", "--province", "Jawa Barta", db_url=sqlite_url)
    assert typo.code == 0 and typo.out.strip() == "no regions in province 'Jawa Barta'; did you mean Jawa Barat?"
