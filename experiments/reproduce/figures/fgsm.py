"""FGSM accuracy against epsilon: Figs. 8 (Full / Chans / Space) and 9
(smoothed frozen filters), with the robustness study's verdict when it
has run (claim (d)).
"""

from __future__ import annotations

import json
import os

from spatialmix_keras import stats

from ..running import run_dir
from ..sweeps import LABELS
from . import common


def _fgsm_curves(fig_dir, runs):
    """`({group: {seed: curve}}, eps)` of the finished FGSM runs (one, or
    one per seed): the freeze mode's name (Fig. 8) or the smoothing (Fig.
    9) groups the seeds of one setting."""
    by_name = {r.name: r for r in runs}
    groups, eps = {}, None
    for attack in (r for r in runs if r.task == "fgsm"):
        path = os.path.join(run_dir(fig_dir, attack), "results.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            curves = json.load(f)["curves"]
        eps = eps or curves[0]["eps"]
        for name, curve in zip(attack.after, curves, strict=True):
            if curve["eps"] != eps:
                raise ValueError(
                    f"{path} was attacked at other epsilons ({curve['eps']}) "
                    f"than the other FGSM sweeps of the figure ({eps})."
                )
            meta = by_name[name].meta
            group = (
                LABELS[meta["freeze"]]
                if "freeze" in meta
                else f"sigma={meta['sigma']}"
            )
            groups.setdefault(group, {})[meta.get("seed", 0)] = curve
    if not groups:
        raise ValueError(
            f"No FGSM sweep has finished in {fig_dir} yet: nothing to draw "
            "(--status says where its runs stand)."
        )
    return groups, eps


def _fgsm_title(figure, fig_dir, runs, scale, seeds):
    panel = runs[0].meta.get("panel", "CIFAR-10") if runs else ""
    if figure == "fig8":
        depth = min(r.meta["depth"] for r in runs if "depth" in r.meta)
        model, setting = f"separable ResNet-{6 * depth + 2}", ""
    else:
        model = "ConvMixer" + common.convmixer_shape(fig_dir, runs, depth=True)
        setting = "smoothed frozen filters, "
        panel = {"smoke": "CIFAR-10 (small)", "cpu": "Fashion-MNIST"}.get(
            scale, "CIFAR-10"
        )
    return (
        f"{figure}: FGSM on {model}\n"
        f"{setting}{panel}, {scale} scale, {common.seeds_label(seeds)}"
    )


def fgsm_report(figure):
    """FGSM accuracy against epsilon, mean over seeds with 95% intervals
    per setting, and the paired differences to the reference (Full, or no
    smoothing)."""
    reference = {"fig8": "Full", "fig9": "sigma=none"}[figure]

    def report(fig_dir, runs, scale):
        groups, eps = _fgsm_curves(fig_dir, runs)
        eps = [255 * e for e in eps]
        seeds = max(len(g) for g in groups.values())
        plt = common.plt()
        fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
        rows, intervals, differences = _fgsm_lines(ax, groups, eps, reference)
        ax.set_xlabel("epsilon (x 1/255, on [0, 1] pixels)")
        ax.set_ylabel("accuracy (%), mean and 95% CI")
        ax.set_ylim(0, 100)
        ax.set_title(
            _fgsm_title(figure, fig_dir, runs, scale, seeds), fontsize=9
        )
        ax.grid(alpha=0.3)
        ax.legend()
        png = common.save_figure(plt, fig, fig_dir, figure, scale)
        wall = sum(
            (common.metrics(fig_dir, r) or {}).get("train_time_s", 0)
            for r in runs
            if r.task == "classify"
        )
        after = _interval_tables(eps, intervals, differences, reference)
        common.write_report(
            fig_dir,
            runs,
            figure,
            scale,
            ["setting", "seeds", *[f"eps={e:g}/255" for e in eps]],
            rows,
            wall,
            "FGSM accuracy on the test split (mean over seeds; fractions).",
            after=after + _blank_line_before(_robustness_note(fig_dir, runs)),
        )
        return png, rows

    return report


def _fgsm_lines(ax, groups, eps, reference):
    """A line per setting (mean over seeds with 95% intervals at each
    epsilon); returns the table's rows and the markdown rows of the
    intervals and of the paired differences to `reference`."""
    # group -> per epsilon, {seed: accuracy}
    accuracy = {
        group: [
            {s: c["accuracy"][k] for s, c in by_seed.items()}
            for k in range(len(eps))
        ]
        for group, by_seed in groups.items()
    }
    rows, intervals, differences = [], [], []
    for group, per_eps in accuracy.items():
        cis = [stats.mean_ci(list(a.values())) for a in per_eps]
        rows.append((group, len(groups[group]), *[c[0] for c in cis]))
        intervals.append(
            f"| {group} | "
            + " | ".join(stats.format_ci(*c) for c in cis)
            + " |"
        )
        ax.errorbar(
            eps,
            [100 * c[0] for c in cis],
            yerr=common.error_bars(cis),
            fmt="-o",
            capsize=3,
            label=group,
        )
        if group != reference and reference in accuracy:
            cells = []
            for a, base in zip(per_eps, accuracy[reference], strict=True):
                d = stats.paired_difference(a, base)
                cells.append(f"{stats.format_ci(*d[:3])} (n={d[3]})")
            differences.append(
                f"| {group} - {reference} | " + " | ".join(cells) + " |"
            )
    return rows, intervals, differences


def _interval_tables(eps, intervals, differences, reference):
    header = "| setting | " + " | ".join(f"{e:g}/255" for e in eps) + " |"
    rule = "| --- " * (len(eps) + 1) + "|"
    after = [
        "Mean test accuracy (%) with a 95% t interval over seeds (none "
        "with one seed):",
        "",
        header,
        rule,
        *intervals,
    ]
    if differences:
        after += [
            "",
            f"Paired difference to {reference} (points; runs of one seed "
            "share their initial weights and data order):",
            "",
            header,
            rule,
            *differences,
        ]
    return "\n".join(after)


def _blank_line_before(text):
    return f"\n\n{text}" if text else ""


def _robustness_note(fig_dir, runs):
    """The robustness study's verdict and table, when it has run; studies
    run one per seed are merged first (written to `runs/robustness/`)."""
    studies = [
        os.path.join(run_dir(fig_dir, r), "robustness.json")
        for r in runs
        if r.task == "robustness"
    ]
    studies = [path for path in studies if os.path.exists(path)]
    if not studies:
        return ""
    from .. import robustness_report, verdicts

    if len(studies) == 1:
        path = studies[0]
    else:
        study = next(r for r in runs if r.task == "robustness")
        path = robustness_report.merge(
            [os.path.dirname(p) for p in studies],
            claim=study.arguments["claim"],
            reference=study.arguments["reference"],
            title=study.arguments["title"],
            output_dir=os.path.join(fig_dir, "runs", "robustness"),
        )
    results = common.read_json(path)
    s = results["settings"]
    where = os.path.relpath(os.path.dirname(path), fig_dir)
    pairs = (
        "transfer between the models of each seed"
        if results.get("studies", 1) > 1
        else "transfer between every pair of models"
    )
    lines = [
        f"## Robustness study ([{where}/robustness.md]({where}/robustness.md))",
        "",
        f"FGSM on "
        f"{s['examples']} images, PGD-{s['pgd_steps']} with random start on "
        f"the first {s['pgd_examples']}, {pairs}; mean [95% CI] over seeds.",
        "",
        *verdicts.table(results),
    ]
    if "verdict" in results:
        v = results["verdict"]
        lines += [
            "",
            f"**Verdict: {v['claim']}: {v['verdict']}.** {v['reason']}.",
        ]
    return "\n".join(lines)
