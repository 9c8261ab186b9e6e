"""Program definitions are checked when they load: each bad file is refused with one line naming the file, the key
path and the line, like python-statemachine refuses a bad machine at class creation."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcity.models.programs.definition import UnknownStage
from smartcity.models.programs.loading import SHIPPED_DIR, DefinitionError, load_file, parse, shipped, shipped_names

DEFAULT_TEXT = (SHIPPED_DIR / "default.toml").read_text(encoding="utf-8")

#: A small program of its own (not Smart City): the checks below break it one way at a time.
TINY = """
name = "tiny"
title = { id = "Uji", en = "Test" }

[[stages]]
name = "open"
label = { id = "buka", en = "open" }

[[stages]]
name = "working"
label = { id = "kerja", en = "working" }

[[stages]]
name = "done"
label = { id = "selesai", en = "done" }
final = true

[[edges]]
from = "open"
to = "working"

[[edges]]
from = "working"
to = "done"
guard = { name = "review_quorum_approved", params = { min_quorum = 2 } }

[deadlines]
[[deadlines.rules]]
stage = "working"
working_days = 5

[[deadlines.ladder]]
key = "due"
offset = 0
recipients = ["pic"]
"""


def refused(text: str) -> str:
    with pytest.raises(DefinitionError) as exc:
        parse(text, source="bad.toml")
    message = str(exc.value)
    assert "\n" not in message and message.startswith("bad.toml: ")
    return message


def test_every_shipped_definition_loads_and_is_named_after_its_file():
    assert {"default", "smartcity-2018"} <= set(shipped_names())
    for name in shipped_names():
        assert shipped(name).name == name


def test_the_tiny_program_loads():
    tiny = parse(TINY, source="tiny.toml")
    assert tiny.main_line == ("open", "working", "done")
    assert tiny.find_edge("working", "done").params == {"min_quorum": 2}


def test_an_unknown_guard_is_refused_with_its_key_path_and_line():
    text = TINY.replace('name = "review_quorum_approved"', 'name = "quorum_ok"')
    message = refused(text)
    line = text.splitlines().index('guard = { name = "quorum_ok", params = { min_quorum = 2 } }') + 1
    assert f"edges[1].guard (line {line}): unknown guard 'quorum_ok'" in message
    assert "review_quorum_approved" in message  # the known guards are listed


def test_a_bad_guard_parameter_is_refused():
    assert "guard review_quorum_approved: parameter min_quorum" in refused(
        TINY.replace("min_quorum = 2", "min_quorum = 0")
    )
    assert "parameter quorum: Extra inputs are not permitted" in refused(TINY.replace("min_quorum = 2", "quorum = 2"))


def test_an_edge_out_of_a_final_stage_is_refused():
    text = TINY + '\n[[edges]]\nfrom = "done"\nto = "open"\n'
    line = text.splitlines().index('from = "done"')  # the [[edges]] header just above it
    assert f"edges[2] (line {line}): an edge leaves final stage 'done'" in refused(text)


def test_a_stage_that_cannot_be_reached_is_refused():
    text = TINY.replace(
        '[[edges]]\nfrom = "open"',
        '[[stages]]\nname = "island"\nlabel = { id = "pulau", en = "island" }\n\n[[edges]]\nfrom = "open"',
        1,
    )
    assert "stages: island cannot be reached from 'open'" in refused(text)


def test_a_stage_with_no_path_to_a_final_one_is_refused():
    trap = '[[stages]]\nname = "trap"\nlabel = { id = "jebakan", en = "trap" }\n\n'
    text = TINY.replace("[[edges]]", trap + "[[edges]]", 1) + '\n[[edges]]\nfrom = "open"\nto = "trap"\n'
    assert "stages: trap has no path to a final stage" in refused(text)


def test_references_to_unknown_stages_are_refused():
    assert "edges[0] (line 18): unknown stage 'opne'" in refused(TINY.replace('from = "open"', 'from = "opne"'))
    assert "deadlines.rules[0] (line 28): unknown stage 'workin'" in refused(
        TINY.replace('stage = "working"', 'stage = "workin"')
    )


def test_no_final_stage_duplicates_and_unknown_keys_are_refused():
    assert "no final stage" in refused(TINY.replace("final = true", "final = false"))
    assert "duplicate stage open" in refused(TINY.replace('name = "working"', 'name = "open"', 1))
    message = refused(TINY.replace("final = true", "final = true\nfinl = true"))
    line = TINY.replace("final = true", "final = true\nfinl = true").splitlines().index("finl = true") + 1
    assert f"stages[2].finl (line {line}): unknown key" in message


def test_automatic_edges_and_guard_roles_are_checked():
    two_auto = TINY.replace('from = "open"\nto = "working"', 'from = "open"\nto = "working"\nautomatic = true')
    two_auto += '\n[[edges]]\nfrom = "open"\nto = "done"\nautomatic = true\n'
    assert "more than one automatic edge leaves open" in refused(two_auto)
    twice = TINY.replace(
        'from = "open"\nto = "working"', 'from = "open"\nto = "working"\nguard = "review_quorum_approved"'
    )
    assert "guard review_quorum_approved guards more than one edge" in refused(twice)


def test_bad_toml_and_missing_files_are_one_line_errors(tmp_path: Path):
    assert "not valid TOML" in refused("name = \n")
    with pytest.raises(DefinitionError, match="no such file"):
        load_file(tmp_path / "nope.toml")
    path = tmp_path / "village.toml"
    path.write_text(TINY.replace('"review_quorum_approved"', '"nope"'), encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"^village.toml: edges\[1\]\.guard \(line \d+\): unknown guard 'nope'"):
        load_file(path)


def test_the_default_definition_refuses_unknown_stage_names_by_listing_them():
    with pytest.raises(UnknownStage, match="stages: nominated, selected, drafting"):
        shipped().parse_stage("aproved")


def test_the_weights_of_the_evaluation_policy_must_add_up():
    assert "weights add up to 1.1, not 1" in refused(DEFAULT_TEXT.replace("quick_win = 0.10", "quick_win = 0.20"))


def test_the_shipped_selection_policy_file_is_the_default_programs_own():
    # `models/policies/selection_default.toml` stays as a starting point for `cohort whatif --policy`; the
    # definition is what a cohort runs, and the two must not drift apart.
    from smartcity.models.selection.scoring import DEFAULT_POLICY_PATH, SelectionPolicy

    assert shipped().selection == SelectionPolicy.from_toml(DEFAULT_POLICY_PATH)
