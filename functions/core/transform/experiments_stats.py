"""Sample ratio mismatch (SRM): Pearson's chi-square test of observed unit counts against an
experiment's planned split. Pure stdlib (scipy is not a dependency of the Lambda layer).

The p-value is the chi-square survival function with k-1 degrees of freedom, computed as
the regularized upper incomplete gamma function Q(dof/2, chi2/2): its power series when
x < a + 1 and its continued fraction (modified Lentz) otherwise, the standard pair from
Numerical Recipes (Press et al., 3rd ed., section 6.2). Both converge to full double
precision in well under 200 terms for the sizes an experiment produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DEFAULT_P_THRESHOLD: Final = 0.001
_MAX_ITERATIONS: Final = 10_000
_EPSILON: Final = 1e-15
_TINY: Final = 1e-300


def regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), for a > 0 and x >= 0."""
    if a <= 0 or x < 0 or math.isnan(x):
        raise ValueError(f"Q(a, x) needs a > 0 and x >= 0, got a={a}, x={x}")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1:
        return max(0.0, 1.0 - _lower_series(a, x))
    return _upper_continued_fraction(a, x)


def _prefactor(a: float, x: float) -> float:
    return math.exp(-x + a * math.log(x) - math.lgamma(a))


def _lower_series(a: float, x: float) -> float:
    """P(a, x) by its power series (converges fast for x < a + 1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_ITERATIONS):
        denominator += 1
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPSILON:
            return total * _prefactor(a, x)
    raise ArithmeticError(f"P({a}, {x}) series did not converge")


def _upper_continued_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction, modified Lentz (converges fast for x >= a + 1)."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPSILON:
            return _prefactor(a, x) * h
    raise ArithmeticError(f"Q({a}, {x}) continued fraction did not converge")


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square with `dof` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    if statistic < 0:
        raise ValueError(f"a chi-square statistic is never negative, got {statistic}")
    return regularized_upper_gamma(dof / 2, statistic / 2)


@dataclass(frozen=True)
class SrmResult:
    units: int
    chi_square: float | None  # None: no units, or fewer than two planned variants
    p_value: float | None
    flagged: bool


def srm_test(
    observed: Mapping[str, int],
    planned: Mapping[str, float],
    *,
    threshold: float = DEFAULT_P_THRESHOLD,
) -> SrmResult:
    """Pearson chi-square of `observed` unit counts against the `planned` weights.

    Every planned variant takes part (a variant nobody was assigned to counts 0); weights
    are normalised, so a plan summing to 0.999 is tested as planned. Units in a variant
    with no planned weight (zero, or not in the plan at all) are a mismatch by themselves:
    their expected count is 0, so the statistic is infinite (stored as null, never as
    infinity) and the p-value 0. No units, or fewer than two weighted variants: nothing to
    test, never flagged.
    """
    units = sum(observed.values())
    weights = {v: w for v, w in planned.items() if w > 0}
    total_weight = sum(weights.values())
    if units == 0 or len(weights) < 2:
        return SrmResult(units=units, chi_square=None, p_value=None, flagged=False)
    if any(n for v, n in observed.items() if v not in weights):
        return SrmResult(units=units, chi_square=None, p_value=0.0, flagged=True)
    statistic = 0.0
    for variant, weight in weights.items():
        expected = units * weight / total_weight
        statistic += (observed.get(variant, 0) - expected) ** 2 / expected
    p_value = chi_square_sf(statistic, len(weights) - 1)
    return SrmResult(
        units=units, chi_square=statistic, p_value=p_value, flagged=p_value < threshold
    )
