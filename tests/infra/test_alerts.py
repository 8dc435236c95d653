"""The alerts topic can be reached by everything that notifies it, as AWS would judge it: CloudWatch alarms (the
service principal, through the topic's policy and its KMS key's policy) and every role that may publish (which
then also needs the key). A topic under the AWS managed key alias/aws/sns drops alarm notifications, since that
key's policy cannot admit cloudwatch.amazonaws.com."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.infra.test_iam import _listed, statements

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

# What SNS asks KMS for on a publisher's behalf (a data key, and Decrypt of the one it reuses)
KEY_USE = ("kms:GenerateDataKey", "kms:Decrypt")


@pytest.fixture(params=["default", "alternative"])
def any_synth(request, synth, alt):
    return synth if request.param == "default" else alt


def _topic(synth) -> tuple[str, dict[str, Any]]:
    ((logical_id, topic),) = synth.resources("AWS::SNS::Topic").items()
    return logical_id, topic


def _key(synth) -> tuple[str, dict[str, Any]]:
    _, topic = _topic(synth)
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    assert isinstance(key_ref, dict), f"the topic must use a key of the stack, not {key_ref!r}"
    logical_id = key_ref["Fn::GetAtt"][0] if "Fn::GetAtt" in key_ref else key_ref["Ref"]
    key = synth.template["Resources"][logical_id]
    assert key["Type"] == "AWS::KMS::Key"
    return logical_id, key


def _allows(statement: dict[str, Any], action: str) -> bool:
    return statement["Effect"] == "Allow" and any(fnmatchcase(action, a) for a in _listed(statement["Action"]))


def _from_our_alarms(statement: dict[str, Any], synth) -> bool:
    condition = statement.get("Condition", {})
    source_arn = str(condition.get("ArnLike", {}).get("aws:SourceArn", ""))
    return (
        condition.get("StringEquals", {}).get("aws:SourceAccount") == {"Ref": "AWS::AccountId"}
        and ":cloudwatch:" in source_arn
        and f":alarm:{synth.stack.config.stack_name}-*" in source_arn
    )


def _service_statements(document: dict[str, Any], service: str) -> list[dict[str, Any]]:
    def services(statement: dict[str, Any]) -> list[Any]:
        principal = statement.get("Principal", {})
        return _listed(principal.get("Service", [])) if isinstance(principal, dict) else []  # "*"

    return [s for s in document["Statement"] if service in services(s)]


def test_the_topic_is_encrypted_with_a_rotating_key_of_the_stack(any_synth):
    _, key = _key(any_synth)
    assert key["Properties"]["EnableKeyRotation"] is True
    assert "alias/aws/sns" not in str(_topic(any_synth)[1]["Properties"])


def test_the_key_policy_lets_our_alarms_use_the_key(any_synth):
    _, key = _key(any_synth)
    granted = _service_statements(key["Properties"]["KeyPolicy"], "cloudwatch.amazonaws.com")
    assert granted, "CloudWatch alarms cannot publish to the topic: the key policy does not admit them"
    for action in KEY_USE:
        assert any(_allows(s, action) for s in granted), action
    assert all(_from_our_alarms(s, any_synth) for s in granted), "scope the grant to this account's alarms"


def test_the_topic_policy_lets_our_alarms_publish(any_synth):
    topic_id, _ = _topic(any_synth)
    (policy,) = [
        p
        for p in any_synth.resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]
    granted = _service_statements(policy["Properties"]["PolicyDocument"], "cloudwatch.amazonaws.com")
    assert any(_allows(s, "sns:Publish") and _from_our_alarms(s, any_synth) for s in granted)


def test_every_alarm_notifies_the_topic_and_is_covered_by_the_grants(any_synth):
    topic_id, _ = _topic(any_synth)
    alarms = any_synth.resources("AWS::CloudWatch::Alarm")
    assert alarms
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        actions = [a for kind in ("AlarmActions", "OKActions", "InsufficientDataActions") for a in props.get(kind, [])]
        assert props["AlarmActions"], logical_id
        assert all(a == {"Ref": topic_id} for a in actions), (logical_id, actions)
        # the grants above admit alarms named {stack}-*
        assert props["AlarmName"].startswith(f"{any_synth.stack.config.stack_name}-"), props["AlarmName"]


def test_an_eventbridge_rule_that_targets_the_topic_would_be_granted_the_key(any_synth):
    """No rule targets the topic today (the alert rule copies events to a log group); if one ever does,
    events.amazonaws.com needs the key too (without source conditions: EventBridge's KMS calls carry none)."""
    topic_id, _ = _topic(any_synth)
    _, key = _key(any_synth)
    targeting = [
        logical_id
        for logical_id, rule in any_synth.resources("AWS::Events::Rule").items()
        if any(t["Arn"] == {"Ref": topic_id} for t in rule["Properties"].get("Targets", []))
    ]
    if targeting:
        granted = _service_statements(key["Properties"]["KeyPolicy"], "events.amazonaws.com")
        for action in KEY_USE:
            assert any(_allows(s, action) for s in granted), (targeting, action)


def test_every_role_that_may_publish_to_the_topic_may_use_its_key(any_synth):
    topic_id, _ = _topic(any_synth)
    key_id, _ = _key(any_synth)
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    by_role: dict[str, list[dict[str, Any]]] = {}
    for logical_id, statement in statements(any_synth.template):
        policy = any_synth.template["Resources"][logical_id]
        for role in policy["Properties"].get("Roles", []):
            by_role.setdefault(role["Ref"], []).append(statement)
    publishers = {
        role
        for role, found in by_role.items()
        if any(_allows(s, "sns:Publish") and {"Ref": topic_id} in _listed(s["Resource"]) for s in found)
    }
    assert len(publishers) >= 2  # the writer and the controller
    for role in publishers:
        for action in KEY_USE:
            assert any(_allows(s, action) and key_arn in _listed(s["Resource"]) for s in by_role[role]), (role, action)
