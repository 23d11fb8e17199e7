"""Means over seeds with 95% confidence intervals, and paired differences.

Runs of one seed are paired (Full, Chans and Space share the initial weights
and the data order), so the Chans - Full difference is taken seed by seed
and its interval comes from those differences (a paired t interval), which
is narrower than comparing two independent means when seeds agree.

>>> m, low, high = mean_ci([0.80, 0.82, 0.81])
>>> round(m, 3), round(low, 3), round(high, 3)
(0.81, 0.785, 0.835)
"""

from __future__ import annotations

import math
import statistics

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(dof: int) -> float:
    """Two-sided 95% quantile of Student's t (normal's 1.96 past 30)."""
    if dof < 1:
        raise ValueError(f"Expected dof >= 1. Received: dof={dof}")
    return _T95[dof - 1] if dof <= len(_T95) else 1.96


def mean_ci(values) -> tuple[float, float, float]:
    """`(mean, low, high)`: the 95% t interval of the mean; with one value
    the interval is unknown (NaN)."""
    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = (
        t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    )
    return mean, mean - half, mean + half


def paired_difference(a: dict, b: dict) -> tuple[float, float, float, int]:
    """`a - b` over the keys (seeds) both have: `(mean, low, high, n)`."""
    seeds = sorted(a.keys() & b.keys())
    if not seeds:
        return math.nan, math.nan, math.nan, 0
    return (*mean_ci([a[s] - b[s] for s in seeds]), len(seeds))


def format_ci(mean: float, low: float, high: float, scale: float = 100) -> str:
    """`'81.0 [78.5, 83.5]'` (percent by default); no interval for NaN."""
    if math.isnan(low):
        return f"{scale * mean:.1f}"
    return f"{scale * mean:.1f} [{scale * low:.1f}, {scale * high:.1f}]"
