"""The chi-square survival function against known values and closed forms, and the SRM
test's behaviour at the chosen threshold (false positives bounded, real mismatches caught)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.core.transform.experiments_stats import (
    DEFAULT_P_THRESHOLD,
    chi_square_sf,
    regularized_upper_gamma,
    srm_test,
)
from pablo.generate.experiments import quotas

# Critical values of the chi-square distribution (any statistics table, e.g. NIST/SEMATECH
# e-Handbook 1.3.6.7.4): P(X >= x) for x at the 5% and 0.1% levels.
KNOWN = [
    (3.841458820694124, 1, 0.05),
    (5.991464547107979, 2, 0.05),
    (7.814727903251178, 3, 0.05),
    (11.070497693516351, 5, 0.05),
    (10.827566170662733, 1, 0.001),
    (13.815510557964274, 2, 0.001),
    (16.26623619623813, 3, 0.001),
    (43.77297182574219, 30, 0.05),
]


@pytest.mark.parametrize(("statistic", "dof", "p"), KNOWN)
def test_critical_values(statistic: float, dof: int, p: float) -> None:
    assert chi_square_sf(statistic, dof) == pytest.approx(p, rel=1e-9)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.floats(min_value=0, max_value=400, allow_nan=False))
def test_closed_forms_for_one_two_and_four_degrees_of_freedom(x: float) -> None:
    # P(X >= x) = erfc(sqrt(x/2)) (1 dof), exp(-x/2) (2 dof), exp(-x/2)(1 + x/2) (4 dof)
    assert chi_square_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert chi_square_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9, abs=1e-300)
    assert chi_square_sf(x, 4) == pytest.approx(
        math.exp(-x / 2) * (1 + x / 2), rel=1e-9, abs=1e-300
    )


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.floats(min_value=0.1, max_value=50), st.floats(min_value=0, max_value=200, allow_nan=False)
)
def test_upper_gamma_is_a_decreasing_probability(a: float, x: float) -> None:
    q = regularized_upper_gamma(a, x)
    assert 0.0 <= q <= 1.0
    assert regularized_upper_gamma(a, x + 1) <= q + 1e-15


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="degrees of freedom"):
        chi_square_sf(1.0, 0)
    with pytest.raises(ValueError, match="never negative"):
        chi_square_sf(-1.0, 1)
    assert chi_square_sf(0.0, 3) == 1.0 and chi_square_sf(math.inf, 3) == 0.0


PLANS = [
    {"control": 0.5, "treatment": 0.5},
    {"control": 0.5, "short_copy": 0.25, "long_copy": 0.25},
    {"a": 0.2, "b": 0.3, "c": 0.5},
    {"control": 0.9, "holdout": 0.1},
]


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    st.sampled_from(PLANS),
    st.integers(min_value=50, max_value=2000),
    st.integers(min_value=0, max_value=2**32),
)
def test_random_balanced_splits_rarely_fail_at_the_threshold(
    plan: dict[str, float], units: int, seed: int
) -> None:
    # Given 200 experiments whose units are assigned at random with the planned weights
    rng = random.Random(seed)
    variants, weights = list(plan), list(plan.values())
    flagged = 0
    trials = 200
    for _ in range(trials):
        counts = dict.fromkeys(variants, 0)
        for variant in rng.choices(variants, weights=weights, k=units):
            counts[variant] += 1
        flagged += srm_test(counts, plan).flagged
    # Then about 0.1% are flagged: 200 x 0.001 = 0.2 expected; 4 or more happens with
    # probability ~6e-5 under a correct test, so the bound only fails for a broken test.
    assert flagged <= 3


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.sampled_from(PLANS), st.integers(min_value=1, max_value=100_000))
def test_an_exact_split_is_never_flagged(plan: dict[str, float], units: int) -> None:
    percents = tuple(round(w * 100) for w in plan.values())
    counts = dict(zip(plan, quotas(units, percents), strict=True))
    result = srm_test(counts, plan)
    assert not result.flagged and result.p_value is not None and result.p_value > 0.1


@pytest.mark.parametrize(("units", "flagged"), [(100, False), (500, True), (5000, True)])
def test_a_60_40_split_of_a_50_50_plan_is_flagged_once_there_are_enough_units(
    units: int, flagged: bool
) -> None:
    counts = {"control": units * 6 // 10, "treatment": units - units * 6 // 10}
    result = srm_test(counts, {"control": 0.5, "treatment": 0.5})
    assert result.flagged is flagged
    assert result.chi_square == pytest.approx(units * 0.04, rel=1e-9)


def test_nothing_to_test_is_never_flagged_and_strays_always_are() -> None:
    assert srm_test({"control": 0, "treatment": 0}, {"control": 0.5, "treatment": 0.5}) == (
        srm_test({}, {"control": 0.5, "treatment": 0.5})
    )
    assert not srm_test({}, {"control": 0.5, "treatment": 0.5}).flagged
    stray = srm_test({"control": 10, "old": 1}, {"control": 0.5, "treatment": 0.5})
    assert stray.flagged and stray.p_value == 0.0 and stray.chi_square is None
    assert DEFAULT_P_THRESHOLD == 0.001
