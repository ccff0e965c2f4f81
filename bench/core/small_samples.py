"""How many images a verdict needs: the rule `bench check` applies to its paired comparisons
(an exact two-sided Wilcoxon signed-rank test, Holm's correction over the family), which the
report's claims reuse to say when their verdicts rest on too few images."""

from __future__ import annotations

ALPHA = 0.05
"""The significance level of `bench check`'s verdicts."""


def smallest_holm_p(n: int, family: int) -> float:
    """The smallest Holm-corrected p-value a comparison on ``n`` images can get in a family of
    ``family`` comparisons: the exact two-sided Wilcoxon test's smallest p (all differences of
    one sign) is 2/2^n, and Holm multiplies the smallest p by the family's size."""
    return min(1.0, family * 2.0 ** (1 - n)) if n > 0 else 1.0


def images_for_a_verdict(family: int, alpha: float = ALPHA) -> int:
    """The fewest images on which a comparison in a family of ``family`` can reach p < alpha."""
    n = 1
    while smallest_holm_p(n, family) >= alpha:
        n += 1
    return n
