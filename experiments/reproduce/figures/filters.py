"""Spatial filters: Fig. 5 (accuracy per fixed filter type, claim (c)) and
Fig. 7 (the filters a Full ConvMixer learned).
"""

from __future__ import annotations

import math
import os

import numpy as np

from spatialmix_keras import stats

from . import common


def filters_bar_report(fig_dir, runs, scale):
    """Test accuracy per filter type: mean and 95% CI over seeds, and the
    paired difference random - type with the verdict on claim (c)."""
    from .. import verdicts

    by_kind, params, wall = _by_kind(fig_dir, runs)
    rows, differences, unpaired = _kind_rows(by_kind, params)
    plt = common.plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    _draw_bars(ax, rows, by_kind)
    seeds_seen = max((r[1] for r in rows), default=0)
    ax.set_ylabel("test accuracy (mean, 95% CI over seeds)")
    panel = runs[0].meta.get("panel", "") if runs else ""
    ax.set_title(
        f"fig5: spatial filter types, separable ResNet-8\n{panel}, {scale} "
        f"scale, {common.seeds_label(seeds_seen)}",
        fontsize=9,
    )
    ax.set_ylim(0, 1)
    png = common.save_figure(plt, fig, fig_dir, "fig5", scale)
    verdict, reason = verdicts.best_fixed(differences)
    common.write_report(
        fig_dir,
        runs,
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
        "one seed are paired when both share CPU model, CPU flags, oneDNN "
        "setting, library versions and commit"
        + (f"; left out: {'; '.join(unpaired)}." if unpaired else ".")
        + f"\n\n**Verdict (c) random filters work best among fixed ones: "
        f"{verdict}.** {reason}.",
    )
    return png, rows


def _by_kind(fig_dir, runs):
    """`by_kind[kind] = {seed: (accuracy, metrics)}`, the trainable
    parameters of each kind and the summed training time."""
    by_kind, params, wall = {}, {}, 0.0
    for run in runs:
        metrics = common.metrics(fig_dir, run)
        if metrics:
            seeds = by_kind.setdefault(run.meta["kind"], {})
            seeds[run.meta.get("seed", 0)] = (
                metrics["final_test_accuracy"],
                metrics,
            )
            params[run.meta["kind"]] = metrics["trainable_params"]
            wall += metrics["train_time_s"]
    return by_kind, params, wall


def _kind_rows(by_kind, params):
    """The table's row per kind, the paired differences random - kind and
    the pairs left out (machines differ)."""
    rows, differences, unpaired = [], {}, []
    for kind, seeds in by_kind.items():
        mean, low, high = stats.mean_ci([v for v, _ in seeds.values()])
        diff = ""
        if kind not in ("learned", "random") and "random" in by_kind:
            a, b, left_out = stats.pair_by_machine(by_kind["random"], seeds)
            unpaired += [f"random - {kind}, {line}" for line in left_out]
            d = stats.paired_difference(a, b)
            differences[kind] = d
            diff = f"{stats.format_ci(*d[:3])} (n={d[3]})"
        ci = "" if math.isnan(low) else f"[{low:.4f}, {high:.4f}]"
        rows.append((kind, len(seeds), mean, ci, params[kind], diff))
    return rows, differences, unpaired


def _draw_bars(ax, rows, by_kind):
    """A bar per kind: mean with its 95% interval (none with one seed)."""
    cis = [stats.mean_ci([x for x, _ in v.values()]) for v in by_kind.values()]
    errors = [
        [0 if math.isnan(c[1]) else c[0] - c[1] for c in cis],
        [0 if math.isnan(c[2]) else c[2] - c[0] for c in cis],
    ]
    bars = ax.bar(
        # Full / Chans, as everywhere: which part learns, then the filters.
        [
            "Full\n(learned)" if r[0] == "learned" else f"Chans\n{r[0]}"
            for r in rows
        ],
        [r[2] for r in rows],
        yerr=errors,
        capsize=4,
        color=["tab:blue", "tab:red", "gold", "tab:green", "tab:orange"][
            : len(rows)
        ],
    )
    ax.bar_label(bars, fmt="%.3f", fontsize=8, label_type="center")


def _export(fig_dir, run):
    path = os.path.join(fig_dir, "exports", run.name, "model.keras")
    return path if os.path.exists(path) else None


def _kernels(path):
    import keras

    import spatialmix_keras

    spatialmix_keras.register()  # the custom layers, for loading
    from spatialmix_keras import spatial_filters

    model = keras.models.load_model(path, safe_mode=True)
    return spatial_filters.depthwise_kernels(model)


def learned_filters_report(fig_dir, runs, scale):
    """The depthwise filters of the deepest exported Full ConvMixer, beside
    its initialisation: the frozen filters of the Chans run of its seed
    (runs of one seed share them). Per layer: how far training moved them,
    `||D - D0|| / ||D0||`, and their high-frequency share before and after."""
    from spatialmix_keras import spatial_filters

    run, learned, frozen, initial = _learned_and_initial(fig_dir, runs)
    plt = common.plt()
    panels = [("learned", learned)] + (
        [("initial (Chans, frozen)", initial)] if initial else []
    )
    fig = _draw_filters(plt, panels)
    fig.suptitle(
        f"fig7: depthwise filters learned by {run.name}"
        + (" and their initialisation" if initial else "")
        + f"\nFull ConvMixer{common.convmixer_shape(fig_dir, runs)}, "
        f"{run.meta.get('panel', '')}, {scale} scale",
        fontsize=9,
    )
    png = common.save_figure(plt, fig, fig_dir, "fig7", scale)
    header = ["layer", "kernel", "filter std", "high-frequency share"]
    notes = (
        f"Learned depthwise filters of {run.name} (its first "
        f"{len(learned)} depthwise layers)."
    )
    if initial:
        header += ["high-frequency share at init", "moved ‖D − D0‖ / ‖D0‖"]
        notes += (
            f" Initialisation: the frozen filters of {frozen[0].name}, which "
            "Full starts from. High-frequency share: the filters' energy "
            f"above {spatial_filters.HIGH_FREQUENCY_CUTOFF} cycles per pixel "
            "(white noise ~0.80, smooth filters less)."
        )
    rows = _filter_rows(learned, initial)
    common.write_report(
        fig_dir,
        [run],
        "fig7",
        scale,
        header,
        rows,
        common.metrics(fig_dir, run)["train_time_s"],
        notes,
    )
    return png, rows


def _learned_and_initial(fig_dir, runs):
    """`(run, learned, frozen, initial)`: the deepest exported Full run and
    its first four depthwise kernels by layer, the Chans runs of its depth
    and seed, and the first one's frozen kernels of those layers (None
    without one)."""
    full = [
        r
        for r in runs
        if r.meta.get("freeze") == "none"
        and common.metrics(fig_dir, r)
        and _export(fig_dir, r)
    ]
    if not full:
        raise ValueError(
            f"fig7 needs an exported Full run; none of {fig_dir}/exports/ "
            "holds one (reports drawn from copied JSON files have no models)."
        )
    run = max(full, key=lambda r: r.meta["depth"])
    learned = dict(list(_kernels(_export(fig_dir, run)).items())[:4])
    frozen = [
        r
        for r in runs
        if r.meta.get("freeze") == "spatial"
        and r.meta["depth"] == run.meta["depth"]
        and r.meta.get("seed", 0) == run.meta.get("seed", 0)
        and _export(fig_dir, r)
    ]
    initial = None
    if frozen:
        initial = {
            k: v
            for k, v in _kernels(_export(fig_dir, frozen[0])).items()
            if k in learned
        }
    return run, learned, frozen, initial


def _draw_filters(plt, panels):
    """A row of filter grids per `(label, {layer: kernel})` panel."""
    from spatialmix_keras import spatial_filters

    columns = len(panels[0][1])
    fig, axes = plt.subplots(
        len(panels),
        columns,
        figsize=(3 * columns, 3.5 * len(panels)),
        dpi=120,
        squeeze=False,
    )
    for row, (label, kernels) in zip(axes, panels, strict=True):
        for ax, (name, kernel) in zip(row, kernels.items(), strict=True):
            ax.imshow(
                spatial_filters.filter_grid(kernel, zoom=1)[..., 0],
                cmap="gray",
            )
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.axis("off")
    return fig


def _filter_rows(learned, initial):
    """Per layer: kernel shape, filter std, high-frequency share, and with
    the initialisation its share and how far training moved the filters."""
    from spatialmix_keras import spatial_filters

    rows = []
    for name, kernel in learned.items():
        row = [
            name,
            "x".join(map(str, kernel.shape)),
            float(np.std(kernel)),
            spatial_filters.high_frequency_share([kernel]),
        ]
        if initial:
            row += [
                spatial_filters.high_frequency_share([initial[name]]),
                spatial_filters.filter_movement(
                    {name: initial[name]}, {name: kernel}
                ),
            ]
        rows.append(tuple(row))
    return rows
