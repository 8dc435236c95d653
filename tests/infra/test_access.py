"""The one table of who may do what (driftline.deploy.functions) is what the template grants, statement by
statement, both ways: the local stack enforces the table, so a statement a construct adds on its own, or one the
table has and the template lacks, would make the rehearsal differ from AWS."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from driftline.deploy.access import Statement, render_resources
from driftline.deploy.functions import FUNCTIONS, PRINCIPALS, statements_for

pytestmark = pytest.mark.xdist_group("infra-synth")


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _canonical(actions: Any, resources: Any, conditions: Any) -> str:
    conditions = {
        op: {key: sorted(str(v) for v in _listed(values)) for key, values in keys.items()}
        for op, keys in (conditions or {}).items()
    }
    return json.dumps(
        {
            "actions": sorted(_listed(actions)),
            "resources": sorted(json.dumps(r, sort_keys=True) for r in _listed(resources)),
            "conditions": conditions,
        },
        sort_keys=True,
    )


def _template_statements(synth, logical_id: str, managed: bool = False) -> Counter:
    out: Counter = Counter()
    for resource_id, resource in synth.template["Resources"].items():
        props = resource.get("Properties", {})
        if managed:
            if resource_id != logical_id:
                continue
        elif resource["Type"] != "AWS::IAM::Policy" or {"Ref": logical_id} not in props.get("Roles", []):
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            out[_canonical(statement["Action"], statement["Resource"], statement.get("Condition"))] += 1
    return out


def _table_statements(synth, statements: tuple[Statement, ...], log_group_arn: str | None = None) -> Counter:
    stack = synth.stack

    def arn(resource):
        if resource.kind == "log-group":
            return log_group_arn
        return stack.arns(resource)

    out: Counter = Counter()
    for statement in statements:
        resources = [stack.resolve(r) for r in render_resources(statement.resources, arn)]
        out[_canonical(list(statement.actions), resources, statement.conditions)] += 1
    return out


def _logical_id(synth, construct) -> str:
    return synth.stack.get_logical_id(construct.node.default_child)


@pytest.fixture(params=["default", "alternative"])
def any_synth(request, synth, alt):
    return synth if request.param == "default" else alt


def test_every_function_role_is_exactly_its_table_entry(any_synth):
    timestream = any_synth.stack.config.timestream
    assert set(any_synth.stack.functions) >= set(FUNCTIONS)
    for key, function in any_synth.stack.functions.items():
        definition = FUNCTIONS["app" if key.startswith("app") else key]
        expected = _table_statements(
            any_synth,
            statements_for(
                definition.key,
                timestream=timestream,
                tracing=any_synth.stack.config.serving_tracing if key == "serving" else None,
            ),
            any_synth.stack.resolve(function.log_group.log_group_arn),
        )
        actual = _template_statements(any_synth, _logical_id(any_synth, function.role))
        assert actual == expected, (key, actual - expected, expected - actual)


def test_the_scheduler_role_and_the_sdk_policy_are_exactly_their_table_entries(any_synth):
    stack = any_synth.stack
    scheduler = _template_statements(any_synth, _logical_id(any_synth, stack.schedule.role))
    assert scheduler == _table_statements(any_synth, PRINCIPALS["scheduler"])
    sdk = _template_statements(any_synth, _logical_id(any_synth, stack.discovery.sdk_policy), managed=True)
    assert sdk == _table_statements(any_synth, PRINCIPALS["sdk"])


def test_a_statement_a_construct_would_add_on_its_own_is_caught(synth):
    """The comparison can fail: a grant outside the table shows up as a difference."""
    function = synth.stack.functions["writer"]
    expected = _table_statements(
        synth, statements_for("writer", timestream=True), synth.stack.resolve(function.log_group.log_group_arn)
    )
    actual = _template_statements(synth, _logical_id(synth, function.role))
    actual[_canonical("s3:GetObject", "*", None)] += 1
    assert actual != expected


def test_handler_strings_come_from_the_table(synth):
    functions = {
        r["Properties"]["FunctionName"]: r["Properties"] for r in synth.resources("AWS::Lambda::Function").values()
    }
    for key, definition in FUNCTIONS.items():
        props = functions[f"driftline-{key}"]
        if definition.package == "zip":
            assert props["Handler"] == definition.handler
        else:
            assert props["ImageConfig"]["Command"] == [definition.handler]
