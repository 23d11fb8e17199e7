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


def t_test_p_value(values) -> float:
    """Two-sided p-value of the one-sample t test of mean 0 (for paired
    differences): `I_{dof / (dof + t^2)}(dof / 2, 1 / 2)`, the regularised
    incomplete beta function (TensorFlow's `betainc`). NaN with fewer than
    2 values; 0 when every value is the same non-zero number."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return math.nan
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    dof = len(values) - 1
    t = mean / (sd / math.sqrt(len(values)))
    import tensorflow as tf

    x = dof / (dof + t * t)
    return float(tf.math.betainc(dof / 2.0, 0.5, tf.constant(x, tf.float64)))


def holm(p_values: dict) -> dict:
    """Holm's step-down adjusted p-values, `{name: adjusted}`: a choice
    among k settings is decided at family-wise 5% when its adjusted value
    is below 0.05. NaN (no test) is kept and does not count in k."""
    tested = sorted(
        (p, name) for name, p in p_values.items() if not math.isnan(p)
    )
    adjusted, running = {}, 0.0
    for i, (p, name) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - i) * p))
        adjusted[name] = running
    return {name: adjusted.get(name, math.nan) for name in p_values}


# What must be equal for two runs to form a pair: a seed run on another CPU,
# kernel set, library version or commit moved 10-epoch accuracy by ~0.4
# points (up to 0.9), the size of the effects judged.
PAIR_FIELDS = ("cpu_model", "cpu_flags", "onednn", "versions", "commit")


def machine_key(metrics: dict) -> dict:
    """The fields of a run's `metrics.json` that decide its arithmetic
    besides its seed (`PAIR_FIELDS`; None where the run did not record
    one)."""
    versions = dict(metrics.get("versions") or {})
    onednn = versions.pop("onednn", None)
    flags = metrics.get("cpu_flags")
    return {
        "cpu_model": metrics.get("cpu_model"),
        "cpu_flags": tuple(flags) if flags is not None else None,
        "onednn": onednn,
        "versions": tuple(sorted(versions.items())) or None,
        "commit": metrics.get("code_version"),
    }


def pair_by_machine(a: dict, b: dict) -> tuple[dict, dict, list[str]]:
    """Keeps the seeds whose two runs may be paired.

    Args:
        a, b: `{seed: (value, metrics)}`, the runs' values and their
            `metrics.json`.

    Returns:
        `(a_values, b_values, unpaired)`: `{seed: value}` of the seeds
        whose runs agree on every `PAIR_FIELDS` field (none unrecorded),
        and one line per seed left out, naming the fields that differ or
        are missing.
    """
    kept_a, kept_b, unpaired = {}, {}, []
    for seed in sorted(a.keys() & b.keys()):
        (value_a, metrics_a), (value_b, metrics_b) = a[seed], b[seed]
        key_a, key_b = machine_key(metrics_a), machine_key(metrics_b)
        missing = [
            f for f in PAIR_FIELDS if key_a[f] is None or key_b[f] is None
        ]
        differ = [
            f for f in PAIR_FIELDS if f not in missing and key_a[f] != key_b[f]
        ]
        if missing or differ:
            why = []
            if differ:
                why.append("differ in " + ", ".join(differ))
            if missing:
                why.append("did not record " + ", ".join(missing))
            unpaired.append(f"seed {seed}: {'; '.join(why)}")
            continue
        kept_a[seed], kept_b[seed] = value_a, value_b
    return kept_a, kept_b, unpaired
