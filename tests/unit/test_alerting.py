"""The alert rule, pure: which configuration governs a result, and whether it fires for one window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from driftline.alerting import DEFAULT_ALERT, AlertConfig, AlertTarget, History, LastFired, applicable, decide
from driftline.errors import InvalidRequestError

T = datetime(2026, 11, 26, 10, tzinfo=UTC)


def run(config: AlertConfig, statuses: list[int], step: int = 10) -> list[int]:
    """Feed windows in order; return the positions that fire, keeping the last fired as the writer does."""
    fired: list[int] = []
    last: LastFired | None = None
    for i in range(len(statuses)):
        start = T + timedelta(minutes=step * i)
        seen = list(reversed(statuses[: i + 1]))[: config.windows + 1]
        if decide(config, History(seen, start, last)).fire:
            fired.append(i)
            last = LastFired(start, start)
    return fired


@pytest.mark.parametrize(
    ("kwargs", "statuses", "expected"),
    [
        ({}, [2, 2, 2, 0, 2], [0, 4]),  # default: entering detected
        ({}, [1, 1, 2, 2], [2]),  # potential does not notify by default; the step to detected does
        ({"statuses": ["potential_detection", "detected"]}, [1, 2, 0, 1], [0, 3]),
        ({"count": 2, "windows": 3}, [2, 0, 2, 2, 0, 0, 0, 2, 2], [2, 8]),
        ({"count": 3, "windows": 3}, [2, 2, 0, 2, 2, 2], [5]),
        ({"reset_policy": "always"}, [2, 2, 0, 2], [0, 1, 3]),
        ({"reset_policy": "always", "cooldown_minutes": 30}, [2] * 7, [0, 3, 6]),
        ({"reset_policy": "manual"}, [2, 0, 2, 0, 2], [0]),
        ({"cooldown_minutes": 60}, [2, 0, 2, 0, 2, 0, 0, 2], [0, 7]),  # episodes inside the hour are held back
    ],
)
def test_the_rule_over_a_series_of_windows(kwargs, statuses, expected):
    assert run(AlertConfig(name="a", project="p", **kwargs), statuses) == expected


def test_a_manual_alert_fires_again_after_a_reset():
    config = AlertConfig(name="a", project="p", reset_policy="manual", reset_at="2026-11-26T12:00:00+00:00")
    before = LastFired(T, T)
    reset = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert decide(config, History([2], T + timedelta(hours=3), before, reset_at=reset)).fire
    after = LastFired(T, reset + timedelta(seconds=1))
    assert not decide(config, History([2], T + timedelta(hours=3), after, reset_at=reset)).fire


def test_which_configurations_govern_a_result():
    drift = AlertConfig(name="drift", project="p", applications=["feature-*"], results=["*_drift"])
    mine = AlertConfig(name="mine", project="p", endpoints=["e1"], results=["latency_p95"])
    assert applicable([drift, mine], "e1", "feature-drift", "x_drift") == [drift]
    assert applicable([drift, mine], "e2", "my-app", "latency_p95") == [DEFAULT_ALERT]  # not its endpoint
    custom_default = AlertConfig(name="default", project="p", statuses=["potential_detection"])
    assert applicable([drift, custom_default], "e1", "a", "b") == [custom_default]
    assert applicable([drift, custom_default], "e1", "feature-drift", "x_drift") == [drift]


def test_configurations_round_trip_and_targets_parse():
    config = AlertConfig(
        name="ops",
        project="p",
        statuses=[1, "detected"],
        targets=["sns", "eventbridge:default", "https://hooks.example.com/x"],
    )
    again = AlertConfig.from_dict(config.to_dict())
    assert again == config
    assert [t.id for t in config.targets] == ["sns", "eventbridge:default", "webhook:https://hooks.example.com/x"]
    assert config.to_dict()["statuses"] == ["potential_detection", "detected"]
    assert AlertTarget.parse("http://127.0.0.1:9/x").kind == "webhook"  # loopback may be plain http


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "alert name"),
        ({"windows": 101}, "windows 101: expected an integer 1..100"),
        ({"count": True}, "count True"),
        ({"statuses": []}, "statuses is empty"),
        ({"targets": ["sms"]}, "alert target kind 'sms'"),
        ({"targets": ["sns", "sns"]}, "appears twice"),
        ({"targets": [{"kind": "webhook", "url": "https://x", "secret_parameter": "plain"}]}, "under /driftline/"),
        ({"targets": [{"kind": "webhook", "url": "https://x", "header": "bad header"}]}, "HTTP header name"),
    ],
)
def test_bad_configurations_say_what_was_expected(kwargs, message):
    with pytest.raises(InvalidRequestError, match=message):
        AlertConfig(**{"name": "a", "project": "p"} | kwargs)
