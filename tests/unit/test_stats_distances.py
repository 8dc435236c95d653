from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline.stats.distances import KLD_EMPTY_BIN, hellinger, kld, tvd
from driftline.stats.registry import REGISTRY, Direction, Inputs, Role

P = np.array([0.5, 0.5, 0.0])
Q = np.array([0.25, 0.25, 0.5])


def test_tvd_by_hand():
    # |.5-.25| + |.5-.25| + |0-.5| = 1.0, halved
    assert tvd(P, Q) == pytest.approx(0.5)


def test_hellinger_by_hand():
    # sum sqrt(p*q) = 2 * sqrt(.125) = sqrt(.5) = 0.70711; sqrt(1 - 0.70711) = 0.54120
    assert hellinger(P, Q) == pytest.approx(math.sqrt(1 - math.sqrt(0.5)))
    assert hellinger(P, Q) == pytest.approx(0.541196, abs=1e-6)


def test_kld_by_hand_uses_the_empty_bin_stand_in():
    # KL(p||q) over p != 0: 2 * .5*ln(.5/.25) = ln 2
    # KL(q||p) over q != 0, p's empty bin -> 1e-4: 2 * .25*ln(.25/.5) + .5*ln(.5/1e-4) = -.5 ln 2 + .5 ln 5000
    # total = .5 ln 2 + .5 ln 5000 = .5 ln 10000 = ln 100
    assert kld(P, Q) == pytest.approx(math.log(100))
    assert KLD_EMPTY_BIN == 1e-4


def test_identical_distributions_are_at_distance_zero():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert tvd(p, p) == 0.0
    assert hellinger(p, p) == pytest.approx(0.0, abs=1e-7)
    assert kld(p, p) == 0.0


def test_disjoint_distributions_are_at_the_maximum():
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert tvd(p, q) == 1.0
    assert hellinger(p, q) == 1.0
    # not capped: 2 * ln(1 / 1e-4)
    assert kld(p, q) == pytest.approx(2 * math.log(1e4))


# probabilities are bin counts over a row count, as in a window
counts = st.lists(st.integers(0, 10_000), min_size=22, max_size=22).filter(lambda xs: sum(xs) > 0)


@given(counts, counts)
def test_bounded_distances_stay_in_unit_interval_and_are_symmetric(a, b):
    p = np.array(a) / sum(a)
    q = np.array(b) / sum(b)
    for f in (tvd, hellinger):
        assert 0.0 <= f(p, q) <= 1.0 + 1e-12
        assert f(p, q) == pytest.approx(f(q, p))
    assert kld(p, q) == pytest.approx(kld(q, p))


def test_descriptors_say_which_distances_are_judged():
    distances = {name: REGISTRY.get(name, Role.DISTANCE) for name in REGISTRY.names(Role.DISTANCE)}
    assert set(distances) == {"tvd", "hellinger", "kld"}
    assert distances["tvd"].threshold == 0.7
    assert distances["hellinger"].potential_threshold == 0.5
    assert distances["kld"].threshold is None
    assert distances["kld"].bounded is False
    assert all(d.direction is Direction.HIGHER and d.inputs is Inputs.PROBABILITIES for d in distances.values())
    # the registered function is the one defined: scoring it gives the same number, recorded with its method
    score = distances["tvd"].score(P, Q)
    assert (score.method, score.value, score.threshold) == ("tvd", tvd(P, Q), 0.7)
