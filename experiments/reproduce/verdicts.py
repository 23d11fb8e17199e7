"""Verdicts on the paper's claims, by rules fixed before the runs.

Every rule reads 95% intervals of *paired* differences (same seed, and
runs that share CPU model, CPU flags, oneDNN setting, library versions and
commit: `stats.pair_by_machine`; a pair that does not is listed as unpaired
and left out). A verdict is one of three:

- **holds**: the interval lies where the paper's claim puts it;
- **contradicted**: the interval excludes the paper's effect;
- **not shown**: neither (the interval includes zero, or the margin), or
  fewer than 2 pairs (no interval).

No threshold was chosen after seeing a result.

Accuracy claims (Figs. 2, 4, 5, 12), `close_and_far`, `best_fixed` and
`as_well`:

- (a, b) "Chans is close to Full, Space far behind": at every depth, the
  interval of Chans - Full lies above `-CLOSE` (2 points) and that of
  Space - Full below `-FAR` (5 points). **Contradicted** if at some depth
  an interval lies wholly on the wrong side.
- (c) "random filters work best among fixed ones": random - every other
  fixed type lies above 0; **contradicted** if some type beats random.
- (e) "Chans un-shuffles as well as Full": Chans - Full PSNR above
  `-PSNR_CLOSE` (1 dB).
- (b) for the long study's ConvMixers, which train Full and Chans only,
  `close`: the Chans half of (a, b).
- The mechanism, `widens`: "Chans - Full widens as the depth multiplier d
  falls below k * k", judged on the paired (same-seed) difference
  (Chans - Full at d = k * k) - (Chans - Full at the smallest d): above 0
  holds, below 0 contradicted. (Written before any of the long study's
  d = 1 or d = 3 runs had trained.)

Robustness claims (Figs. 8 and 9): (d1) models that learn only channel
mixing (Chans) are more robust to adversarial perturbations than fully
learned ones (Full); (d2) smoothing the frozen random filters adds
robustness without costing clean accuracy. From a `robustness.study` result
(paired seeds), `more_robust` and `smoothing`:

- a model's *robust score* under an attack is its adversarial accuracy
  averaged over that attack's epsilons (FGSM on all test images, PGD on the
  subset);
- "more robust" means the 95% interval of the paired (same-seed) difference
  candidate - reference of that score lies above 0; "less robust" (which
  contradicts the claim) that it lies below 0;
- "without costing clean accuracy" means the interval of the paired clean
  accuracy difference lies above `-CLEAN_TOLERANCE`;
- verdict: **holds** if more robust under FGSM and PGD (and no gradient
  masking flagged for the candidate); **holds only against FGSM** if more
  robust under FGSM only (or masking is flagged); **contradicted** if less
  robust under FGSM; **not shown** otherwise.
- (d2) chooses among k smoothed settings (sigmas): each setting's FGSM and
  PGD tests are Holm-corrected over the k settings (`stats.holm`, paired t
  tests), so that the best of k is judged at a family-wise 5%.
"""

from __future__ import annotations

import statistics

from spatialmix_keras import plots, stats

CLEAN_TOLERANCE = 0.01
CLOSE = 0.02
FAR = 0.05
PSNR_CLOSE = 1.0
HOLDS = "holds"
FGSM_ONLY = "holds only against FGSM"
CONTRADICTED = "contradicted"
NOT_SHOWN = "not shown"
VERDICTS = (HOLDS, FGSM_ONLY, CONTRADICTED, NOT_SHOWN)


def scores(entry: dict) -> dict:
    """`{"clean", "fgsm", "pgd"}`: clean accuracy (all images) and robust
    scores (mean adversarial accuracy over each attack's epsilons)."""
    return {
        "clean": entry["white_box"]["clean_accuracy"],
        "fgsm": statistics.fmean(entry["white_box"]["fgsm"]),
        "pgd": statistics.fmean(entry["subset"]["pgd"]),
    }


def by_seed(results: dict, label: str, key) -> dict:
    """`{seed: key(entry)}` for the subjects labelled `label`."""
    found = {}
    for entry in results["subjects"]:
        if entry["label"] == label:
            seed = entry["seed"]
            if seed in found:
                raise ValueError(
                    f"Two subjects labelled {label!r} share seed {seed}: "
                    "runs cannot be paired."
                )
            found[seed] = key(entry)
    return found


def difference(results, candidate, reference, measure) -> tuple:
    """Paired `candidate - reference` of one score: `(mean, low, high, n)`."""
    return stats.paired_difference(
        by_seed(results, candidate, lambda e: scores(e)[measure]),
        by_seed(results, reference, lambda e: scores(e)[measure]),
    )


def _masked(results, label):
    return [
        f"{e['name']}: {m}"
        for e in results["subjects"]
        if e["label"] == label
        for m in e["masking"]
    ]


def _paired_values(results, candidate, reference, measure) -> list:
    a = by_seed(results, candidate, lambda e: scores(e)[measure])
    b = by_seed(results, reference, lambda e: scores(e)[measure])
    return [a[seed] - b[seed] for seed in sorted(a.keys() & b.keys())]


def _robust_verdict(fgsm_more, pgd_more, fgsm_less, masked, n):
    if n < 2:
        return NOT_SHOWN
    if fgsm_more and pgd_more and not masked:
        return HOLDS
    if fgsm_more:
        return FGSM_ONLY
    if fgsm_less:
        return CONTRADICTED
    return NOT_SHOWN


def more_robust(results: dict, candidate: str, reference: str) -> tuple:
    """`(verdict, reason)` for "candidate is more robust than reference"."""
    fgsm = difference(results, candidate, reference, "fgsm")
    pgd = difference(results, candidate, reference, "pgd")
    reason = (
        f"{candidate} - {reference} robust score, FGSM {_interval(fgsm)}, "
        f"PGD {_interval(pgd)}"
    )
    masked = _masked(results, candidate)
    if masked:
        reason += f"; gradient masking flagged: {'; '.join(masked)}"
    if fgsm[3] < 2:
        reason += " (fewer than 2 paired seeds)"
    verdict = _robust_verdict(
        fgsm[1] > 0, pgd[1] > 0, fgsm[2] < 0, masked, fgsm[3]
    )
    return verdict, reason


def smoothing(results: dict, reference: str) -> tuple:
    """`(verdict, reason)` for "smoothing adds robustness without costing
    clean accuracy", over the smoothed labels (every label but
    `reference`): each label's FGSM and PGD paired t tests are
    Holm-corrected over the labels, so that choosing the best of k settings
    is judged at a family-wise 5%; the clean rule reads each label's 95%
    interval. The verdict is the best label's."""
    smoothed = [
        label for label in plots.study_labels(results) if label != reference
    ]
    if not smoothed:
        raise ValueError("No smoothed models besides the reference.")
    adjusted = {
        measure: stats.holm(
            {
                label: stats.t_test_p_value(
                    _paired_values(results, label, reference, measure)
                )
                for label in smoothed
            }
        )
        for measure in ("fgsm", "pgd")
    }
    rank = {HOLDS: 0, FGSM_ONLY: 1, NOT_SHOWN: 2, CONTRADICTED: 3}
    found = []
    for label in smoothed:
        fgsm = difference(results, label, reference, "fgsm")
        pgd = difference(results, label, reference, "pgd")
        clean = difference(results, label, reference, "clean")
        p_fgsm, p_pgd = adjusted["fgsm"][label], adjusted["pgd"][label]
        verdict = _robust_verdict(
            p_fgsm < 0.05 and fgsm[0] > 0,
            p_pgd < 0.05 and pgd[0] > 0,
            p_fgsm < 0.05 and fgsm[0] < 0,
            _masked(results, label),
            fgsm[3],
        )
        reason = (
            f"robust score FGSM {_interval(fgsm)}, Holm p {p_fgsm:.3g}; "
            f"PGD {_interval(pgd)}, Holm p {p_pgd:.3g}; clean accuracy "
            f"{_interval(clean)}"
        )
        if verdict in (HOLDS, FGSM_ONLY) and not clean[1] > -CLEAN_TOLERANCE:
            verdict = NOT_SHOWN
            reason += f" (may cost more than {100 * CLEAN_TOLERANCE:g} point)"
        found.append((rank[verdict], label, verdict, reason))
    found.sort(key=lambda f: f[0])
    lines = "; ".join(
        f"{label}: {verdict} ({reason})" for _, label, verdict, reason in found
    )
    if len(found) > 1:
        lines = (
            f"the best of {len(found)} smoothed models, Holm-corrected; "
            + lines
        )
    return found[0][2], lines


def table(results: dict) -> list[str]:
    """Markdown rows: per label, mean [95% CI] over seeds of clean and
    adversarial accuracy."""
    s = results["settings"]
    header = (
        ["model", "seeds", "clean"]
        + [f"FGSM {255 * e:g}" for e in s["fgsm_eps"]]
        + [f"PGD-{s['pgd_steps']} {255 * e:g}" for e in s["pgd_eps"]]
    )
    rows = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label in plots.study_labels(results):
        group = [e for e in results["subjects"] if e["label"] == label]
        columns = [[e["white_box"]["clean_accuracy"] for e in group]]
        columns += [
            [e["white_box"]["fgsm"][i] for e in group]
            for i in range(len(s["fgsm_eps"]))
        ]
        columns += [
            [e["subset"]["pgd"][i] for e in group]
            for i in range(len(s["pgd_eps"]))
        ]
        cells = [stats.format_ci(*stats.mean_ci(c)) for c in columns]
        rows.append(f"| {label} | {len(group)} | " + " | ".join(cells) + " |")
    return rows


def transfer_table(results: dict, attack: str, eps_index: int) -> list[str]:
    """Markdown rows: accuracy of each target (row) on images crafted on
    each source (column); the diagonal is the white-box accuracy, and
    "-" a pair of merged studies (`robustness.merge`) never measured."""
    entries = results["subjects"]
    names = [e["name"] for e in entries]
    rows = [
        "| target \\ source | " + " | ".join(names) + " |",
        "|" + " --- |" * (len(names) + 1),
    ]
    for e in entries:
        cells = []
        for source in names:
            if source == e["name"]:
                cells.append(f"**{100 * e['subset'][attack][eps_index]:.1f}**")
            else:
                value = e["transfer"][attack][eps_index].get(source)
                cells.append("-" if value is None else f"{100 * value:.1f}")
        rows.append(f"| {e['name']} | " + " | ".join(cells) + " |")
    return rows


def _interval(d, scale=100, unit="points"):
    mean, low, high, n = d
    if n == 0:
        return "no pairs"
    if n < 2:
        return f"{scale * mean:+.1f} {unit} (n={n}, no interval)"
    return (
        f"{scale * mean:+.1f} [{scale * low:+.1f}, {scale * high:+.1f}] "
        f"{unit} (n={n})"
    )


def _combine(verdicts_):
    if CONTRADICTED in verdicts_:
        return CONTRADICTED
    if verdicts_ and all(v == HOLDS for v in verdicts_):
        return HOLDS
    return NOT_SHOWN


def close_and_far(differences: dict) -> tuple:
    """Claims (a) and (b). `differences`: `{x: {"Chans": d, "Space": d}}`
    with `d = (mean, low, high, n)` paired differences to Full (fractions).
    Returns `(verdict, reason)`."""
    found, reasons = [], []
    for x, d in differences.items():
        chans, space = d.get("Chans"), d.get("Space")
        if chans is None or space is None:
            found.append(NOT_SHOWN)  # a depth not run yet decides nothing
            reasons.append(f"{x}: no paired runs yet")
            continue
        reasons.append(
            f"{x}: Chans - Full {_interval(chans)}, Space - Full "
            f"{_interval(space)}"
        )
        if min(chans[3], space[3]) < 2:
            found.append(NOT_SHOWN)
        elif chans[1] > -CLOSE and space[2] < -FAR:
            found.append(HOLDS)
        elif chans[2] < -CLOSE or space[1] > -FAR:
            found.append(CONTRADICTED)
        else:
            found.append(NOT_SHOWN)
    return _combine(found), "; ".join(reasons) or "no paired runs yet"


def close(difference: tuple) -> tuple:
    """The Chans half of claims (a, b): `difference` is Chans - Full
    (fractions, paired). Returns `(verdict, reason)`."""
    reason = f"Chans - Full {_interval(difference)}"
    if difference[3] < 2:
        return NOT_SHOWN, reason
    if difference[1] > -CLOSE:
        return HOLDS, reason
    if difference[2] < -CLOSE:
        return CONTRADICTED, reason
    return NOT_SHOWN, reason


def widens(gap: tuple, d_full: int, d_small: int) -> tuple:
    """The mechanism: `gap` is the paired (Chans - Full at `d_full`) -
    (Chans - Full at `d_small`), fractions. Returns `(verdict, reason)`."""
    reason = (
        f"(Chans - Full at d = {d_full}) - (Chans - Full at d = {d_small}) "
        f"{_interval(gap)}"
    )
    if gap[3] < 2:
        return NOT_SHOWN, reason
    if gap[1] > 0:
        return HOLDS, reason
    if gap[2] < 0:
        return CONTRADICTED, reason
    return NOT_SHOWN, reason


def best_fixed(differences: dict) -> tuple:
    """Claim (c). `differences`: `{kind: d}`, random - kind for every other
    fixed filter type. Returns `(verdict, reason)`."""
    found, reasons = [], []
    for kind, d in differences.items():
        reasons.append(f"random - {kind} {_interval(d)}")
        if d[3] < 2:
            found.append(NOT_SHOWN)
        elif d[1] > 0:
            found.append(HOLDS)
        elif d[2] < 0:
            found.append(CONTRADICTED)
        else:
            found.append(NOT_SHOWN)
    return _combine(found), "; ".join(reasons) or "no paired runs yet"


def as_well(difference: tuple) -> tuple:
    """Claim (e): `difference` is Chans - Full PSNR (dB), paired."""
    reason = f"Chans - Full PSNR {_interval(difference, 1, 'dB')}"
    if difference[3] < 2:
        return NOT_SHOWN, reason
    if difference[1] > -PSNR_CLOSE:
        return HOLDS, reason
    if difference[2] < -PSNR_CLOSE:
        return CONTRADICTED, reason
    return NOT_SHOWN, reason
