"""Accuracy and training time against depth: Figs. 2, 3 (ResNets), 4 and 6
(ConvMixers).

At the `cifar` scale, runs carry seeds: the accuracy figures show means
with 95% intervals over them and the paired differences to Full, and
decide claims (a) and (b).
"""

from __future__ import annotations

import numpy as np

from spatialmix_keras import config as config_lib
from spatialmix_keras import stats

from ..sweeps import FREEZES, LABELS
from . import common


def _by_freeze_and(fig_dir, runs, key, value):
    table = {}
    for run in runs:
        metrics = common.metrics(fig_dir, run)
        if metrics is not None and key in run.meta:
            table.setdefault(run.meta.get("freeze", "none"), []).append(
                (run.meta[key], metrics[value], metrics)
            )
    return {f: sorted(v, key=lambda t: t[0]) for f, v in table.items()}


def _num_classes(fig_dir, runs) -> int:
    """The classes of the runs' dataset (for the chance line)."""
    from spatialmix_keras import datasets

    for config in common.configs(fig_dir, runs):
        return datasets.dataset_info(config["dataset"]).num_classes
    return 10


def _resnet(n, panel=""):
    """The network of depth n: a CIFAR ResNet has 6n + 2 layers, an
    ImageNet one 8n + 2."""
    return f"ResNet-{(8 if panel == 'ImageNet' else 6) * n + 2}"


# How a figure's x axis reads: its label, the tick of the run's meta value
# (in a panel), and the networks it shows.
_NETWORK_AXIS = {
    "fig2": (
        "ResNet depth",
        _resnet,
        "separable pre-activation ResNets (d = 9)",
    ),
    "fig4": (
        "ConvMixer depth",
        lambda d, panel="": f"ConvMixer/{d}",
        "ConvMixers",
    ),
}


def _axis(figure, fig_dir, runs, label):
    """`_NETWORK_AXIS[figure]` (`label` and the plain value for another
    figure), the ConvMixers' width, kernel and patch named."""
    axis_label, tick, networks = _NETWORK_AXIS.get(
        figure, (label, lambda x, panel="": str(x), "")
    )
    if figure == "fig4":
        networks += common.convmixer_shape(fig_dir, runs)
    return axis_label, tick, networks


# What a time figure's two panels show of a run `(depth, seconds, metrics)`.
_TIMES = (
    lambda t: t[1],
    lambda t: t[2]["train_time_per_trainable_param_s"],
)
# The accuracy figure whose runs a time figure times.
_ACCURACY_OF = {"fig3": "fig2", "fig6": "fig4"}


def _seeded_values(fig_dir, runs, value, key):
    """`(values, wall, seeds)`: `values[freeze, x][seed] = (value,
    metrics)` of every finished run, their summed training time and the
    seeds seen."""
    values = {}
    wall, seeds = 0.0, set()
    for run in runs:
        metrics = common.metrics(fig_dir, run)
        if metrics is None or key not in run.meta:
            continue
        cell = values.setdefault((run.meta["freeze"], run.meta[key]), {})
        cell[run.meta["seed"]] = (metrics[value], metrics)
        wall += metrics["train_time_s"]
        seeds.add(run.meta["seed"])
    return values, wall, seeds


def _seeded_lines(ax, values, tick):
    """A line per freeze mode (mean and 95% interval at each x, the modes
    side by side so that their error bars do not hide one another) and
    the table's rows, with the paired difference to Full."""
    xs = sorted({x for _, x in values})
    step = min(np.diff(xs), default=1.0)
    rows = []
    for i, freeze in enumerate(FREEZES):
        points = [(x, values[freeze, x]) for x in xs if (freeze, x) in values]
        if not points:
            continue
        cis = [stats.mean_ci([v for v, _ in c.values()]) for _, c in points]
        ax.errorbar(
            [p[0] + (i - 1) * 0.08 * step for p in points],
            [100 * c[0] for c in cis],
            yerr=common.error_bars(cis),
            fmt="-o",
            capsize=4,
            label=LABELS[freeze],
        )
        for (x, by_seed), ci in zip(points, cis, strict=True):
            row = [tick(x), LABELS[freeze], len(by_seed), stats.format_ci(*ci)]
            if freeze != "none" and ("none", x) in values:
                diff, _ = _to_full(values, freeze, x)
                row.append(f"{stats.format_ci(*diff[:3])} (n={diff[3]})")
            else:
                row.append("")
            rows.append(tuple(row))
    ax.set_xticks(xs, [tick(x) for x in xs])
    ax.set_xlim(xs[0] - step / 2, xs[-1] + step / 2)
    return rows


def _seeded_lines_report(figure, ylabel, value, key, fig_dir, runs, scale):
    """Mean over seeds with 95% intervals per freeze mode and x, plus the
    paired Chans - Full and Space - Full differences."""
    plt = common.plt()
    values, wall, seeds_seen = _seeded_values(fig_dir, runs, value, key)
    axis_label, tick, networks = _axis(figure, fig_dir, runs, key)
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    rows = _seeded_lines(ax, values, tick)
    ax.set_xlabel(axis_label)
    ax.set_ylabel(f"{ylabel} (%), mean and 95% CI")
    panel = runs[0].meta.get("panel", "") if runs else ""
    ax.set_title(
        f"{figure}: {networks}\n{panel}, {scale} scale, "
        f"{common.seeds_label(len(seeds_seen))}; modes side by side at each "
        f"{key}\n"
        "y axis zoomed to the data (does not start at 0)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend()
    png = common.save_figure(plt, fig, fig_dir, figure, scale)
    common.write_report(
        fig_dir,
        runs,
        figure,
        scale,
        [
            "model",
            "mode",
            "seeds",
            f"{ylabel} (%), mean [95% CI]",
            "paired difference to Full (points) [95% CI]",
        ],
        rows,
        wall,
        notes=(
            "Runs of one seed are paired: the Full, Chans and Space runs "
            "share the initial weights (Full starts from the filters Chans "
            "keeps frozen) and the data order. Intervals are Student-t over "
            "seeds; with one seed there is none (an anecdote)."
            + _unpaired_note(values, tick)
            + _close_and_far_note(
                figure,
                values,
                # Every depth the sweep plans: one not run yet shows nothing.
                sorted({r.meta[key] for r in runs if key in r.meta}),
                tick,
            )
        ),
    )
    return png, rows


def _to_full(values, freeze, x):
    """`(difference, unpaired)`: `freeze` - Full at `x` over the seeds whose
    two runs share machine, libraries and commit (`stats.pair_by_machine`),
    and a line per seed left out."""
    a, b, unpaired = stats.pair_by_machine(values[freeze, x], values["none", x])
    return stats.paired_difference(a, b), unpaired


def _unpaired_note(values, tick):
    lines = [
        f"{tick(x)} {LABELS[freeze]} - Full, {line}"
        for (freeze, x) in sorted(values)
        if freeze != "none" and ("none", x) in values
        for line in _to_full(values, freeze, x)[1]
    ]
    if not lines:
        return "\n\nEvery pair shares CPU, flags, oneDNN, libraries and commit."
    return (
        "\n\nLeft out (a pair counts only when both runs share CPU model, "
        "CPU flags, oneDNN setting, library versions and commit): "
        + "; ".join(lines)
        + "."
    )


_CLAIMS = {
    "fig2": "(a) separable ResNets: Chans close to Full, Space far behind",
    "fig4": "(b) ConvMixers: Chans close to Full, Space far behind",
}


def _close_and_far_note(figure, values, xs, tick):
    if figure not in _CLAIMS:
        return ""
    from .. import verdicts

    differences = {}
    for x in xs:
        if ("none", x) not in values:
            differences[tick(x)] = {}
            continue
        differences[tick(x)] = {
            LABELS[freeze]: _to_full(values, freeze, x)[0]
            for freeze in ("spatial", "channel")
            if (freeze, x) in values
        }
    verdict, reason = verdicts.close_and_far(differences)
    return (
        f"\n\n**Verdict {_CLAIMS[figure]}: {verdict}.** {reason}. Rule: "
        f"Chans - Full above -{100 * verdicts.CLOSE:g} and Space - Full "
        f"below -{100 * verdicts.FAR:g} points at every depth "
        "(`experiments/reproduce/verdicts.py`)."
    )


def lines_report(figure, ylabel, value, key="depth", xlabel="depth"):
    """One panel per dataset (`meta["panel"]`), one line per freeze mode;
    with seeds (the cifar scale), means and intervals over them."""

    def report(fig_dir, runs, scale):
        if any("seed" in r.meta for r in runs):
            return _seeded_lines_report(
                figure, ylabel, value, key, fig_dir, runs, scale
            )
        return _panels_report(
            figure, ylabel, value, key, xlabel, fig_dir, runs, scale
        )

    return report


def _panels_report(figure, ylabel, value, key, xlabel, fig_dir, runs, scale):
    """One run per point (no seeds): a panel per dataset."""
    plt = common.plt()
    axis_label, tick, networks = _axis(figure, fig_dir, runs, xlabel)
    panels = list(dict.fromkeys(r.meta.get("panel", "") for r in runs))
    accuracy = "accuracy" in value
    chance = 100 / _num_classes(fig_dir, runs) if accuracy else None
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 3.5), dpi=120
    )
    rows, wall = [], 0.0
    for ax, panel in zip(np.atleast_1d(axes), panels, strict=True):
        table = _by_freeze_and(
            fig_dir,
            [r for r in runs if r.meta.get("panel", "") == panel],
            key,
            value,
        )
        rows += _panel_lines(ax, table, panel, 100 if accuracy else 1)
        wall += sum(t[2]["train_time_s"] for v in table.values() for t in v)
        ticks = sorted({t[0] for v in table.values() for t in v})
        ax.set_xticks(
            ticks,
            [tick(x, panel) for x in ticks],
            rotation=30 if len(ticks) > 3 else 0,  # paper: n up to 9
        )
        ax.set_title(panel)
        ax.set_xlabel(axis_label)
        ax.set_ylabel(f"{ylabel} (%)" if accuracy else ylabel)
        if accuracy:
            ax.axhline(chance, color="gray", ls=":", label="chance")
        if accuracy and scale == "smoke":
            ax.set_ylim(0, 100)  # no zoom into chance-level noise
        ax.grid(alpha=0.3)
        ax.legend()
    zoom = (
        "y axes from 0 to 100%"
        if accuracy and scale == "smoke"
        else "y axes zoomed to the data (do not start at 0)"
    )
    fig.suptitle(
        f"{figure}: {networks}, {scale} scale, one run per point\n"
        f"{zoom}; modes side by side at each {xlabel}",
        fontsize=9,
    )
    png = common.save_figure(plt, fig, fig_dir, figure, scale)
    columns = [
        "data",
        "model",
        xlabel,
        ylabel,
        "trainable params",
        "train time (s)",
    ]
    common.write_report(fig_dir, runs, figure, scale, columns, rows, wall)
    return png, rows


def _panel_lines(ax, table, panel, scale_y):
    """A line per freeze mode of one panel, side by side so that no mode's
    marker hides another's, and the table's rows."""
    xs_all = sorted({t[0] for v in table.values() for t in v})
    step = min(np.diff(xs_all), default=1.0)
    rows = []
    for i, freeze in enumerate(FREEZES):
        if freeze not in table:
            continue
        xs = [t[0] + (i - 1) * 0.06 * step for t in table[freeze]]
        ys = [scale_y * t[1] for t in table[freeze]]
        ax.plot(xs, ys, "-o", label=LABELS[freeze])
        rows += [
            (
                panel,
                LABELS[freeze],
                x,
                y,
                m["trainable_params"],
                m["train_time_s"],
            )
            for x, y, m in table[freeze]
        ]
    return rows


def time_report(figure):
    def report(fig_dir, runs, scale):
        plt = common.plt()
        table = _by_freeze_and(fig_dir, runs, "depth", "train_time_s")
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120)
        rows = _time_lines(axes, table)
        wall = sum(row[2] for row in rows)
        axes[0].set_ylabel("train time (s)")
        axes[1].set_ylabel("train time / trainable param (s)")
        axis_label, tick, networks = _NETWORK_AXIS[_ACCURACY_OF[figure]]
        ticks = sorted({t[0] for v in table.values() for t in v})
        for ax in axes:
            ax.set_xticks(ticks, [tick(x) for x in ticks])
            ax.set_xlabel(axis_label)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend()
        seeds = {r.meta.get("seed", 0) for r in runs}
        fig.suptitle(
            f"{figure}: training time of {networks}, {scale} scale, "
            f"{common.seeds_label(len(seeds))}: a dot per run, lines join "
            "their means",
            fontsize=9,
        )
        png = common.save_figure(plt, fig, fig_dir, figure, scale)
        common.write_report(
            fig_dir,
            runs,
            figure,
            scale,
            [
                "model",
                "depth",
                "train time (s)",
                "trainable params",
                "time / param (s)",
            ],
            rows,
            wall,
            notes=_compose_note(fig_dir, runs) if figure == "fig3" else "",
        )
        return png, rows

    return report


def _time_lines(axes, table):
    """Per freeze mode, a dot per run and a line joining the means over
    seeds in each panel of `_TIMES`; returns the table's rows."""
    rows = []
    for freeze in FREEZES:
        if freeze not in table:
            continue
        for ax, value in zip(axes, _TIMES, strict=True):
            points = [(t[0], value(t)) for t in table[freeze]]
            xs = sorted({x for x, _ in points})
            means = [np.mean([v for px, v in points if px == x]) for x in xs]
            (line,) = ax.plot(xs, means, "-", label=LABELS[freeze])
            ax.plot(*zip(*points, strict=True), "o", color=line.get_color())
        rows += [
            (
                LABELS[freeze],
                x,
                seconds,
                m["trainable_params"],
                m["train_time_per_trainable_param_s"],
            )
            for x, seconds, m in table[freeze]
        ]
    return rows


def _compose_note(fig_dir, runs):
    """How the separable convolutions of a time figure were computed."""
    settings = {
        config_lib.model_spec(config).get("compose", "auto")
        for config in common.configs(fig_dir, runs)
    }
    if not settings:
        return ""
    return (
        f"Separable convolutions computed with compose={sorted(settings)} "
        "('auto' composes the paper's d = 9 layers into one convolution, "
        "'never' is the paper's two-part computation). Composed, Chans and "
        "Full train at the same speed; the paper's Chans advantage belongs "
        "to the two-part computation (resnet20: composed 2.3-2.7x faster "
        "than 'never', benchmarks/README.md). For the paper's timing, run "
        "the sweep with --config.model.compose=never."
    )
