"""Physical names that AWS limits in length: the controller schedule's name (EventBridge Scheduler: at most 64
characters) comes from one rule in the driftline package, which the stack and the SDK share. The alternative
synth uses the longest stack name and project StackConfig accepts."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from driftline.aws.schedules import SCHEDULE_NAME_MAX, Schedules, schedule_name
from driftline.config import Settings
from infra.config import StackConfig
from tests.infra.conftest import ALT_PROJECT, ALT_STACK

# one worker synthesises once for the whole module set (pytest -n with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("infra-synth")

# Scheduler's pattern for a schedule name
SCHEDULE_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")


def test_the_alternative_synth_uses_the_longest_names_the_config_accepts():
    longer_stack, longer_project = ALT_STACK + "x", ALT_PROJECT + "x"
    StackConfig(stack_name=ALT_STACK, project=ALT_PROJECT)
    for kwargs in ({"stack_name": longer_stack}, {"project": longer_project}):
        with pytest.raises(Exception, match="at most"):
            StackConfig(**kwargs)


def _schedule_name_in(synth) -> str:
    (schedule,) = synth.resources("AWS::Scheduler::Schedule").values()
    return schedule["Properties"]["Name"]


def test_the_longest_stack_and_project_give_a_schedule_name_scheduler_accepts(alt):
    name = _schedule_name_in(alt)
    assert len(f"{ALT_STACK}-controller-{ALT_PROJECT}") > SCHEDULE_NAME_MAX  # the case the rule exists for
    assert len(name) <= SCHEDULE_NAME_MAX
    assert SCHEDULE_NAME.match(name)
    assert name.startswith(f"{ALT_STACK}-controller-")  # readable, and listed by the SDK's name prefix
    assert alt.template["Outputs"]["ScheduleName"]["Value"] == name


def test_short_names_are_kept_as_they_are(synth):
    assert _schedule_name_in(synth) == "driftline-controller-default"
    assert schedule_name("driftline-controller", "x" * 43) == "driftline-controller-" + "x" * 43  # exactly 64


def test_long_projects_that_differ_only_at_the_end_get_different_names():
    prefix = f"{ALT_STACK}-controller"
    first, second = schedule_name(prefix, ALT_PROJECT), schedule_name(prefix, ALT_PROJECT[:-1] + "b")
    assert first != second
    assert max(len(first), len(second)) <= SCHEDULE_NAME_MAX
    head, _, digest = first.rpartition("-")
    assert second.rpartition("-")[0] == head  # only the digest tells them apart
    assert re.fullmatch(r"[0-9a-f]{8}", digest)
    assert schedule_name(prefix, ALT_PROJECT) == first  # stable: the SDK finds the schedule the stack made


@pytest.mark.parametrize("which", ["default", "alternative"])
def test_the_sdk_names_a_project_schedule_as_the_template_does(which, synth, alt):
    chosen = synth if which == "default" else alt
    controller = next(
        r["Properties"]
        for r in chosen.resources("AWS::Lambda::Function").values()
        if r["Properties"]["FunctionName"].endswith("-controller")
    )
    literal = {k: v for k, v in controller["Environment"]["Variables"].items() if isinstance(v, str)}
    settings = Settings.from_env(literal)  # the names are literals; some other values resolve at deploy
    project = chosen.stack.config.project  # the stack's schedule is that project's
    sdk = Schedules(SimpleNamespace(settings=settings, scheduler=None))  # type: ignore[arg-type]
    assert sdk.name_for(project) == _schedule_name_in(chosen)
