"""The one statistics registry: typed roles and results, directions honoured by the status rule, and only the
statistics a configuration asks for computed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from driftline.errors import ConfigurationError
from driftline.schemas import ResultStatus
from driftline.stats import distances, stattests
from driftline.stats.drift import DriftConfig, assess, status_for
from driftline.stats.reference import numeric_reference, numeric_window
from driftline.stats.registry import (
    REGISTRY,
    Direction,
    Inputs,
    Registry,
    Role,
    Score,
    Statistic,
    TestOutcome,
    TestScore,
    statistic,
)


def pair(ref, cur):
    r = numeric_reference(np.asarray(ref, dtype=float))
    return r, numeric_window(np.asarray(cur, dtype=float), r)


def test_every_statistic_is_in_the_one_registry_with_a_typed_role():
    # at least these (a new statistic is one more definition, and no test here needs to learn about it)
    assert {"ks", "chi2"} <= set(REGISTRY.names(Role.TEST))
    assert {"wasserstein", "jensenshannon", "psi", "hellinger", "tvd"} <= set(REGISTRY.names(Role.EFFECT))
    assert "wasserstein" not in REGISTRY.names(Role.EFFECT, "categorical")
    assert {"tvd", "hellinger", "kld"} <= set(REGISTRY.names(Role.DISTANCE))
    # the registered function is the module's own: one definition
    assert REGISTRY.get("ks", Role.TEST).func is stattests.ks
    assert REGISTRY.get("kld", Role.DISTANCE).func is distances.kld
    assert all(s.inputs is Inputs.SKETCHES for s in REGISTRY if s.role is not Role.DISTANCE)


def test_directions_by_hand():
    assert Direction.HIGHER.reached(0.1, 0.1)
    assert not Direction.HIGHER.reached(0.09, 0.1)
    assert Direction.LOWER.reached(0.05, 0.05)
    assert not Direction.LOWER.reached(0.06, 0.05)
    assert Direction.HIGHER.status(0.7, 0.7, 0.5) == ResultStatus.detected
    assert Direction.HIGHER.status(0.6, 0.7, 0.5) == ResultStatus.potential_detection
    assert Direction.HIGHER.status(0.6, 0.7) == ResultStatus.no_detection
    assert Direction.LOWER.status(0.2, 0.3, 0.4) == ResultStatus.detected


def test_scores_record_method_value_threshold_and_for_tests_the_p_value():
    # F_ref at 1,2,3,4 = .25 .5 .75 1 ; F_cur = 0 0 .25 1 -> D = 0.5
    test = REGISTRY.get("ks", Role.TEST).test(*pair([1, 2, 3, 4], [3, 4, 4, 4]))
    assert isinstance(test, TestScore)
    assert (test.method, test.value, test.threshold, test.direction) == ("ks", 0.5, 0.05, Direction.LOWER)
    assert test.judged == test.p_value
    assert test.corrected(0.01).judged == 0.01
    assert test.corrected(0.01).drifted
    effect = REGISTRY.get("wasserstein", Role.EFFECT).score(*pair([0, 1], [1, 1]), threshold=2.0)
    assert (effect.method, effect.value, effect.threshold) == ("wasserstein", pytest.approx(1.0), 2.0)
    assert not effect.drifted
    assert not Score("kld", 9.0, Direction.HIGHER).drifted  # no threshold: reported, never judged
    with pytest.raises(ConfigurationError, match="not a test"):
        REGISTRY.get("psi", Role.EFFECT).test(*pair([0, 1], [1, 1]))


def test_the_status_rule_reads_each_direction_from_the_scores():
    significant = TestScore("t", 3.0, Direction.LOWER, 0.05, p_value=0.01)
    # an effect where *lower* means drift (a similarity): 0.2 is at or below its threshold 0.5
    similarity = Score("overlap", 0.2, Direction.LOWER, 0.5)
    assert status_for(significant, similarity) == ResultStatus.detected
    assert status_for(significant, dataclasses.replace(similarity, value=0.8)) == ResultStatus.potential_detection
    assert status_for(dataclasses.replace(significant, p_value=0.2), similarity) == ResultStatus.no_detection


def test_a_registered_statistic_with_lower_means_drift_is_judged_that_way(monkeypatch):
    """A statistic added to the registry is usable by name, and its direction is the one honoured."""

    def overlap(reference, window) -> float:
        return 1.0 - stattests.tvd(reference, window)

    similarity = Statistic(
        "overlap", Role.EFFECT, overlap, Inputs.SKETCHES, ("numeric",), Direction.LOWER, threshold=0.9
    )
    monkeypatch.setitem(REGISTRY._items, (Role.EFFECT, "overlap"), similarity)
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, 4000)
    reference, _ = pair(ref, ref)
    config = DriftConfig(numeric_effect="overlap", report_effects=[])
    same, _ = assess({"x": reference}, {"x": numeric_window(rng.normal(0, 1, 2000), reference)}, config)
    moved, _ = assess({"x": reference}, {"x": numeric_window(rng.normal(1.0, 1, 2000), reference)}, config)
    assert same[0].status == ResultStatus.no_detection
    assert moved[0].effect < 0.9
    assert moved[0].status == ResultStatus.detected  # low overlap is drift
    assert moved[0].extra_data()["effects"] == {"overlap": moved[0].effect}


def test_only_the_effects_asked_for_are_computed(monkeypatch):
    calls: list[str] = []
    for name in REGISTRY.names(Role.EFFECT):
        descriptor = REGISTRY.get(name, Role.EFFECT)

        def counted(reference, window, _name=name, _func=descriptor.func):
            calls.append(_name)
            return _func(reference, window)

        monkeypatch.setitem(REGISTRY._items, (Role.EFFECT, name), dataclasses.replace(descriptor, func=counted))
    rng = np.random.default_rng(2)
    reference, window = pair(rng.normal(0, 1, 3000), rng.normal(0, 1, 1000))
    verdicts, _ = assess({"x": reference}, {"x": window}, DriftConfig(report_effects=[]))
    assert calls == ["wasserstein"]  # the judged effect only
    assert verdicts[0].effects == {"wasserstein": verdicts[0].effect}
    calls.clear()
    assess({"x": reference}, {"x": window}, DriftConfig(report_effects=["psi"]))
    assert calls == ["psi", "wasserstein"]
    calls.clear()
    assess({"x": reference}, {"x": window})  # the default reports what feature_drift always reported
    assert calls == ["wasserstein", "jensenshannon", "psi", "hellinger", "tvd"]


def test_report_effects_are_checked():
    assert DriftConfig(report_effects=["psi", "psi"]).report_effects == ("psi",)
    with pytest.raises(ConfigurationError, match="unknown effect 'ks'"):
        DriftConfig(report_effects=["ks"])
    with pytest.raises(ConfigurationError, match="list of effect names"):
        DriftConfig(report_effects="psi")


def test_registration_refuses_duplicates_and_a_test_where_high_means_drift():
    registry = Registry()

    @statistic(
        "gap",
        Role.EFFECT,
        inputs=Inputs.PROBABILITIES,
        feature_types=("numeric",),
        direction=Direction.HIGHER,
        threshold=0.2,
        registry=registry,
    )
    def gap(p, q) -> float:
        return float(np.max(np.abs(p - q)))

    assert gap(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == 0.5  # the decorator leaves the function as it was
    assert registry.get("gap", Role.EFFECT).score(np.array([1.0, 0.0]), np.array([0.5, 0.5])).drifted
    with pytest.raises(ConfigurationError, match="registered twice"):
        registry.register(registry.get("gap", Role.EFFECT))
    with pytest.raises(ConfigurationError, match="p-value means drift when it is low"):
        registry.register(
            Statistic(
                "up",
                Role.TEST,
                lambda r, w: TestOutcome(0.0, 1.0),
                Inputs.SKETCHES,
                ("numeric",),
                Direction.HIGHER,
                threshold=0.05,
            )
        )
