"""The run forms a coordinator fills in the Prefect UI: Prefect renders each flow's parameter schema, so
typed parameters become a stage dropdown and a date-time picker instead of free-text boxes."""

from __future__ import annotations

from prefect.utilities.callables import parameter_schema

from smartcity.flows.advance_cohort import advance_cohort
from smartcity.flows.advance_stage import advance_stage
from smartcity.flows.review_round import ReviewForm
from smartcity.models.core.stages import Stage
from smartcity.models.reviews.ops import RUBRIC
from smartcity.models.vocabulary import Decision


def resolved(schema: dict, prop: str) -> dict:
    """A property of the schema with its $ref (or allOf/anyOf wrapper) followed."""
    node = schema["properties"][prop]
    for key in ("allOf", "anyOf"):
        if key in node:
            node = next(n for n in node[key] if n.get("type") != "null")
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_advance_stage_form_takes_a_stage_name_and_a_date_time():
    # Programs are data, so the form takes a stage name (shape-checked, listed in the help text) rather than a
    # fixed list; the run checks it against the cohort's definition.
    schema = parameter_schema(advance_stage.fn).model_dump_for_openapi()
    assert resolved(schema, "to")["pattern"] == "^[a-z][a-z0-9_]*$"
    assert all(s.value in resolved(schema, "to")["description"] for s in Stage if s != Stage.nominated)
    assert resolved(schema, "at").get("format") == "date-time"
    assert set(schema["required"]) == {"region_code", "to", "actor"}


def test_advance_cohort_form_takes_a_stage_name():
    schema = parameter_schema(advance_cohort.fn).model_dump_for_openapi()
    assert resolved(schema, "to")["pattern"] == "^[a-z][a-z0-9_]*$"
    assert resolved(schema, "at").get("format") == "date-time"


def test_the_review_form_is_the_rubric():
    """One score (1-5) and one comment per rubric dimension, then the decision as a list."""
    schema = ReviewForm.model_json_schema()
    props = schema["properties"]
    for key in RUBRIC:
        assert (props[key]["minimum"], props[key]["maximum"]) == (1, 5)
        assert f"{key}_comment" in props
    decision = schema["$defs"][props["decision"]["$ref"].rsplit("/", 1)[-1]]
    assert decision["enum"] == [d.value for d in Decision]
