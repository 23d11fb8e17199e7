"""Spatial filters: Fig. 5 (accuracy per fixed filter type, claim (c)) and
Fig. 7 (the filters a Full ConvMixer learned).
"""

from __future__ import annotations

import math
import os

import numpy as np

from spatialmix_keras.reproduce import stats
from spatialmix_keras.reproduce.figures import common


def filters_bar_report(fig_dir, runs, scale):
    """Test accuracy per filter type: mean and 95% CI over seeds, and the
    paired difference random - type with the verdict on claim (c)."""
    from spatialmix_keras.reproduce import verdicts

    plt = common.plt()
    by_kind, params, wall = {}, {}, 0.0  # kind -> {seed: accuracy}
    for run in runs:
        metrics = common.metrics(fig_dir, run)
        if metrics:
            seeds = by_kind.setdefault(run.meta["kind"], {})
            seeds[run.meta.get("seed", 0)] = metrics["final_test_accuracy"]
            params[run.meta["kind"]] = metrics["trainable_params"]
            wall += metrics["train_time_s"]
    rows, differences = [], {}
    for kind, seeds in by_kind.items():
        mean, low, high = stats.mean_ci(list(seeds.values()))
        diff = ""
        if kind not in ("learned", "random") and "random" in by_kind:
            d = stats.paired_difference(by_kind["random"], seeds)
            differences[kind] = d
            diff = f"{stats.format_ci(*d[:3])} (n={d[3]})"
        ci = "" if math.isnan(low) else f"[{low:.4f}, {high:.4f}]"
        rows.append((kind, len(seeds), mean, ci, params[kind], diff))
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    means = [r[2] for r in rows]
    errors = [
        [
            0 if math.isnan(c[1]) else c[0] - c[1]
            for c in (stats.mean_ci(list(v.values())) for v in by_kind.values())
        ],
        [
            0 if math.isnan(c[2]) else c[2] - c[0]
            for c in (stats.mean_ci(list(v.values())) for v in by_kind.values())
        ],
    ]
    bars = ax.bar(
        [r[0] for r in rows],
        means,
        yerr=errors,
        capsize=4,
        color=["tab:blue", "tab:red", "gold", "tab:green", "tab:orange"][
            : len(rows)
        ],
    )
    ax.bar_label(bars, fmt="%.3f", fontsize=8, label_type="center")
    seeds_seen = max((r[1] for r in rows), default=0)
    ax.set_ylabel("test accuracy (mean, 95% CI over seeds)")
    ax.set_title(
        f"fig5: spatial filter types, separable ResNet-8, {scale} scale, "
        f"{seeds_seen} seed(s)",
        fontsize=9,
    )
    ax.set_ylim(0, 1)
    png = common.save_figure(plt, fig, fig_dir, "fig5")
    verdict, reason = verdicts.best_fixed(differences)
    common.write_report(
        fig_dir,
        "fig5",
        scale,
        [
            "spatial filters",
            "seeds",
            "test accuracy",
            "95% CI",
            "trainable params",
            "random - this (points) [95% CI]",
        ],
        rows,
        wall,
        "learned = Full; the others are Chans with frozen filters. Runs of "
        "one seed are paired."
        f"\n\n**Verdict (c) random filters work best among fixed ones: "
        f"{verdict}.** {reason}.",
    )
    return png, rows


def learned_filters_report(fig_dir, runs, scale):
    import keras

    from spatialmix_keras import spatial_filters

    plt = common.plt()
    full = [
        r
        for r in runs
        if r.meta.get("freeze") == "none" and common.metrics(fig_dir, r)
    ]
    run = max(full, key=lambda r: r.meta["depth"])
    import spatialmix_keras  # noqa: F401  (registers the layers)

    model = keras.models.load_model(
        os.path.join(fig_dir, "exports", run.name, "model.keras"),
        safe_mode=True,
    )
    kernels = list(spatial_filters.depthwise_kernels(model).items())[:4]
    fig, axes = plt.subplots(
        1, len(kernels), figsize=(3 * len(kernels), 3), dpi=120, squeeze=False
    )
    rows = []
    for ax, (name, kernel) in zip(axes[0], kernels, strict=True):
        ax.imshow(
            spatial_filters.filter_grid(kernel, zoom=1)[..., 0], cmap="gray"
        )
        ax.set_title(name, fontsize=8)
        ax.axis("off")
        rows.append(
            (name, "x".join(map(str, kernel.shape)), float(np.std(kernel)))
        )
    fig.suptitle(
        f"fig7: depthwise filters learned by {run.name}\nFull ConvMixer"
        f"{common.convmixer_shape(fig_dir, runs)}, "
        f"{run.meta.get('panel', '')}, {scale} scale",
        fontsize=9,
    )
    png = common.save_figure(plt, fig, fig_dir, "fig7")
    common.write_report(
        fig_dir,
        "fig7",
        scale,
        ["layer", "kernel", "filter std"],
        rows,
        common.metrics(fig_dir, run)["train_time_s"],
        f"Learned depthwise filters of {run.name}.",
    )
    return png, rows
