"""Reports: the tables and PNGs of each figure, from its finished runs.

Each report reads the runs' `metrics.json` (or FGSM `results.json`),
writes `<figure>.md` (a table, the hardware, how the runs were trained, the
wall time) and `<figure>.png` beside them, and returns `(png, rows)`.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform

import numpy as np

from spatialmix_keras import config as config_lib
from spatialmix_keras import files, machine
from spatialmix_keras.reproduce import stats
from spatialmix_keras.reproduce.running import run_dir
from spatialmix_keras.reproduce.sweeps import FREEZES, LABELS


def _metrics(fig_dir, run):
    path = os.path.join(run_dir(fig_dir, run), "metrics.json")
    if not os.path.exists(path):
        return None
    return _read_json(path)


def _hardware():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    cpu = machine.cpu_features().get("cpu_model") or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} CPU threads, "
        f"{len(gpus)} GPU(s), TensorFlow {tf.__version__}"
    )


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _training_summary(fig_dir):
    """How the figure's runs were trained, from their config and metrics."""
    settings = set()
    runs = os.path.join(fig_dir, "runs")
    for name in sorted(os.listdir(runs)) if os.path.isdir(runs) else ():
        paths = [
            os.path.join(runs, name, f"{f}.json") for f in ("config", "metrics")
        ]
        if not all(os.path.exists(p) for p in paths):
            continue
        config, metrics = (_read_json(p) for p in paths)
        batch = metrics["global_batch_size"]
        steps = metrics["num_train_examples"] // batch
        if config.get("steps_per_epoch"):
            steps = min(steps, config["steps_per_epoch"])
        settings.add(
            f"{config['dataset']} ({metrics['num_train_examples']} train, "
            f"{metrics['num_test_examples']} test images), "
            f"{metrics['epochs']} epochs of {steps} steps of {batch} images "
            f"({metrics['epochs'] * steps * batch} images seen)"
        )
    return "; ".join(sorted(settings))


def _code_versions(fig_dir):
    runs = os.path.join(fig_dir, "runs")
    found = set()
    for name in sorted(os.listdir(runs)) if os.path.isdir(runs) else ():
        path = os.path.join(runs, name, "metrics.json")
        if os.path.exists(path):
            found.add(_read_json(path).get("code_version"))
    return ", ".join(sorted(v for v in found if v))


def _write_report(
    fig_dir, figure, scale, header, rows, wall_s, notes="", after=""
):
    path = os.path.join(fig_dir, f"{figure}.md")
    lines = [
        f"# {figure} ({scale} scale)",
        "",
        f"Hardware: {_hardware()}. Training wall time of the runs: "
        f"{wall_s / 60:.1f} min.",
        "",
    ]
    training = _training_summary(fig_dir)
    if training:
        lines += [f"Training: {training}.", ""]
    versions = _code_versions(fig_dir) or (
        "not recorded (runs made before metrics.json carried code_version)"
    )
    drawn = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    lines += [
        f"Code of the runs: {versions}. Report drawn {drawn} UTC by "
        f"{machine.code_version() or 'an unknown version'}.",
        "",
    ]
    if notes:
        lines += [notes, ""]
    lines += [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                f"{v:.4f}" if isinstance(v, float) else str(v) for v in row
            )
            + " |"
        )
    if after:
        lines += ["", after]
    return files.write_text(path, "\n".join(lines) + "\n")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, fig, fig_dir, figure):
    """Writes `<fig_dir>/<figure>.png` and closes the figure; its path."""
    fig.tight_layout()
    png = os.path.join(fig_dir, f"{figure}.png")
    files.atomic_write(png, fig.savefig)
    plt.close(fig)
    return png


def _by_freeze_and(fig_dir, runs, key, value):
    table = {}
    for run in runs:
        metrics = _metrics(fig_dir, run)
        if metrics is not None and key in run.meta:
            table.setdefault(run.meta.get("freeze", "none"), []).append(
                (run.meta[key], metrics[value], metrics)
            )
    return {f: sorted(v, key=lambda t: t[0]) for f, v in table.items()}


# How a figure's x axis reads, from the run's meta key (depth n of a CIFAR
# ResNet is 6n + 2 layers).
_NETWORK_AXIS = {
    "fig2": (
        "ResNet depth",
        lambda n: f"ResNet-{6 * n + 2}",
        "separable pre-activation ResNets (d = 9)",
    ),
    "fig4": ("ConvMixer depth", lambda d: f"ConvMixer/{d}", "ConvMixers"),
}


def _convmixer_shape(fig_dir, runs) -> str:
    """`" (width 128, kernel 8, patch 4)"` from the first run's config."""
    for run in runs:
        path = os.path.join(run_dir(fig_dir, run), "config.json")
        if os.path.exists(path):
            spec = config_lib.model_spec(_read_json(path))
            if {"dim", "kernel_size", "patch_size"} <= set(spec):
                return (
                    f" (width {spec['dim']}, kernel {spec['kernel_size']}, "
                    f"patch {spec['patch_size']})"
                )
    return ""


def _error_bars(cis):
    """Matplotlib's `yerr` (points below, above) of `stats.mean_ci`
    fractions, in percent; none where one seed gives no interval."""
    return [
        [100 * (c[0] - c[1]) if c[1] == c[1] else 0 for c in cis],
        [100 * (c[2] - c[0]) if c[2] == c[2] else 0 for c in cis],
    ]


def _seeded_lines_report(figure, ylabel, value, key, fig_dir, runs, scale):
    """Mean over seeds with 95% intervals per freeze mode and x, plus the
    paired Chans - Full and Space - Full differences."""
    plt = _plt()
    values = {}  # (freeze, x) -> {seed: value}
    wall, seeds_seen = 0.0, set()
    for run in runs:
        metrics = _metrics(fig_dir, run)
        if metrics is None or key not in run.meta:
            continue
        cell = values.setdefault((run.meta["freeze"], run.meta[key]), {})
        cell[run.meta["seed"]] = metrics[value]
        wall += metrics["train_time_s"]
        seeds_seen.add(run.meta["seed"])
    xs = sorted({x for _, x in values})
    axis_label, tick, networks = _NETWORK_AXIS.get(figure, (key, str, ""))
    if figure == "fig4":
        networks += _convmixer_shape(fig_dir, runs)
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    rows = []
    for freeze in FREEZES:
        points = [(x, values[freeze, x]) for x in xs if (freeze, x) in values]
        if not points:
            continue
        cis = [stats.mean_ci(list(v.values())) for _, v in points]
        means = [100 * c[0] for c in cis]
        errors = _error_bars(cis)
        ax.errorbar(
            [p[0] for p in points],
            means,
            yerr=errors,
            fmt="-o",
            capsize=4,
            label=LABELS[freeze],
        )
        for (x, by_seed), ci in zip(points, cis, strict=True):
            row = [tick(x), LABELS[freeze], len(by_seed), stats.format_ci(*ci)]
            if freeze != "none" and ("none", x) in values:
                diff = stats.paired_difference(by_seed, values["none", x])
                row.append(f"{stats.format_ci(*diff[:3])} (n={diff[3]})")
            else:
                row.append("")
            rows.append(tuple(row))
    ax.set_xticks(xs, [tick(x) for x in xs])
    ax.set_xlabel(axis_label)
    ax.set_ylabel(f"{ylabel} (%), mean and 95% CI")
    panel = runs[0].meta.get("panel", "") if runs else ""
    ax.set_title(
        f"{figure}: {networks}, {panel}, {scale} scale, "
        f"{len(seeds_seen)} seed(s)\n"
        "y axis zoomed to the data (does not start at 0)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend()
    png = _save_figure(plt, fig, fig_dir, figure)
    _write_report(
        fig_dir,
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
            + _close_and_far_note(figure, values, xs, tick)
        ),
    )
    return png, rows


_CLAIMS = {
    "fig2": "(a) separable ResNets: Chans close to Full, Space far behind",
    "fig4": "(b) ConvMixers: Chans close to Full, Space far behind",
}


def _close_and_far_note(figure, values, xs, tick):
    if figure not in _CLAIMS:
        return ""
    from spatialmix_keras.reproduce import verdicts

    differences = {}
    for x in xs:
        if ("none", x) not in values:
            continue
        differences[tick(x)] = {
            LABELS[freeze]: stats.paired_difference(
                values[freeze, x], values["none", x]
            )
            for freeze in ("spatial", "channel")
            if (freeze, x) in values
        }
    verdict, reason = verdicts.close_and_far(differences)
    return (
        f"\n\n**Verdict {_CLAIMS[figure]}: {verdict}.** {reason}. Rule: "
        f"Chans - Full above -{100 * verdicts.CLOSE:g} and Space - Full "
        f"below -{100 * verdicts.FAR:g} points at every depth "
        "(`reproduce/verdicts.py`)."
    )


def lines_report(figure, ylabel, value, key="depth", xlabel="depth"):
    """One panel per dataset (`meta["panel"]`), one line per freeze mode;
    with seeds (the cifar scale), means and intervals over them."""

    def report(fig_dir, runs, scale):
        if any("seed" in r.meta for r in runs):
            return _seeded_lines_report(
                figure, ylabel, value, key, fig_dir, runs, scale
            )
        plt = _plt()
        panels = list(dict.fromkeys(r.meta.get("panel", "") for r in runs))
        fig, axes = plt.subplots(
            1, len(panels), figsize=(5 * len(panels), 3.5), dpi=120
        )
        axes = np.atleast_1d(axes)
        rows, wall = [], 0.0
        for ax, panel in zip(axes, panels, strict=True):
            table = _by_freeze_and(
                fig_dir,
                [r for r in runs if r.meta.get("panel", "") == panel],
                key,
                value,
            )
            for freeze in FREEZES:
                if freeze not in table:
                    continue
                xs = [t[0] for t in table[freeze]]
                ys = [t[1] for t in table[freeze]]
                ax.plot(xs, ys, "-o", label=LABELS[freeze])
                for x, y, m in table[freeze]:
                    rows.append(
                        (
                            panel,
                            LABELS[freeze],
                            x,
                            y,
                            m["trainable_params"],
                            m["train_time_s"],
                        )
                    )
                    wall += m["train_time_s"]
            ax.set_title(panel)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)  # zoomed to the data, as in the paper
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.3)
            ax.legend()
        png = _save_figure(plt, fig, fig_dir, figure)
        _write_report(
            fig_dir,
            figure,
            scale,
            [
                "data",
                "model",
                xlabel,
                ylabel,
                "trainable params",
                "train time (s)",
            ],
            rows,
            wall,
        )
        return png, rows

    return report


def time_report(figure):
    def report(fig_dir, runs, scale):
        plt = _plt()
        table = _by_freeze_and(fig_dir, runs, "depth", "train_time_s")
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120)
        rows, wall = [], 0.0
        for freeze in FREEZES:
            if freeze not in table:
                continue
            xs = [t[0] for t in table[freeze]]
            axes[0].plot(
                xs, [t[1] for t in table[freeze]], "-o", label=LABELS[freeze]
            )
            axes[1].plot(
                xs,
                [
                    t[2]["train_time_per_trainable_param_s"]
                    for t in table[freeze]
                ],
                "-o",
                label=LABELS[freeze],
            )
            for x, seconds, m in table[freeze]:
                rows.append(
                    (
                        LABELS[freeze],
                        x,
                        seconds,
                        m["trainable_params"],
                        m["train_time_per_trainable_param_s"],
                    )
                )
                wall += seconds
        axes[0].set_ylabel("train time (s)")
        axes[1].set_ylabel("train time / trainable param (s)")
        for ax in axes:
            ax.set_xlabel("depth")
            ax.grid(alpha=0.3)
            ax.legend()
        png = _save_figure(plt, fig, fig_dir, figure)
        _write_report(
            fig_dir,
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


def _compose_note(fig_dir, runs):
    """How the separable convolutions of a time figure were computed."""
    settings = set()
    for run in runs:
        path = os.path.join(run_dir(fig_dir, run), "config.json")
        if os.path.exists(path):
            spec = config_lib.model_spec(_read_json(path))
            settings.add(spec.get("compose", "auto"))
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


def filters_bar_report(fig_dir, runs, scale):
    """Test accuracy per filter type: mean and 95% CI over seeds, and the
    paired difference random - type with the verdict on claim (c)."""
    from spatialmix_keras.reproduce import verdicts

    plt = _plt()
    by_kind, params, wall = {}, {}, 0.0  # kind -> {seed: accuracy}
    for run in runs:
        metrics = _metrics(fig_dir, run)
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
    png = _save_figure(plt, fig, fig_dir, "fig5")
    verdict, reason = verdicts.best_fixed(differences)
    _write_report(
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

    from spatialmix_keras import summaries

    plt = _plt()
    full = [
        r
        for r in runs
        if r.meta.get("freeze") == "none" and _metrics(fig_dir, r)
    ]
    run = max(full, key=lambda r: r.meta["depth"])
    import spatialmix_keras  # noqa: F401  (registers the layers)

    model = keras.models.load_model(
        os.path.join(fig_dir, "exports", run.name, "model.keras"),
        safe_mode=True,
    )
    kernels = summaries.depthwise_kernels(model)[:4]
    fig, axes = plt.subplots(
        1, len(kernels), figsize=(3 * len(kernels), 3), dpi=120, squeeze=False
    )
    rows = []
    for ax, (name, kernel) in zip(axes[0], kernels, strict=True):
        kernel = keras.ops.convert_to_numpy(kernel)
        ax.imshow(summaries.filter_grid(kernel, zoom=1)[..., 0], cmap="gray")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
        rows.append(
            (name, "x".join(map(str, kernel.shape)), float(np.std(kernel)))
        )
    png = _save_figure(plt, fig, fig_dir, "fig7")
    _write_report(
        fig_dir,
        "fig7",
        scale,
        ["layer", "kernel", "filter std"],
        rows,
        _metrics(fig_dir, run)["train_time_s"],
        f"Learned depthwise filters of {run.name}.",
    )
    return png, rows


def _fgsm_groups(runs, attack):
    """`{group: {seed: curve index}}` of an FGSM run's models, in order:
    the freeze mode's name (Fig. 8) or the smoothing (Fig. 9) groups the
    seeds of one setting."""
    by_name = {r.name: r for r in runs}
    groups = {}
    for index, name in enumerate(attack.after):
        meta = by_name[name].meta
        group = (
            LABELS[meta["freeze"]]
            if "freeze" in meta
            else f"sigma={meta['sigma']}"
        )
        groups.setdefault(group, {})[meta.get("seed", 0)] = index
    return groups


def _fgsm_title(figure, fig_dir, runs, scale, seeds):
    panel = runs[0].meta.get("panel", "CIFAR-10") if runs else ""
    if figure == "fig8":
        depth = min(r.meta["depth"] for r in runs if "depth" in r.meta)
        model, setting = f"separable ResNet-{6 * depth + 2}", ""
    else:
        model = "ConvMixer" + _convmixer_shape(fig_dir, runs)
        setting = "smoothed frozen filters, "
        panel = {"smoke": "CIFAR-10 (small)", "cpu": "Fashion-MNIST"}.get(
            scale, "CIFAR-10"
        )
    return (
        f"{figure}: FGSM on {model}\n"
        f"{setting}{panel}, {scale} scale, {seeds} seed(s)"
    )


def fgsm_report(figure):
    """FGSM accuracy against epsilon, mean over seeds with 95% intervals
    per setting, and the paired differences to the reference (Full, or no
    smoothing)."""
    reference = {"fig8": "Full", "fig9": "sigma=none"}[figure]

    def report(fig_dir, runs, scale):
        attack = [r for r in runs if r.task == "fgsm"][0]
        with open(os.path.join(run_dir(fig_dir, attack), "results.json")) as f:
            curves = json.load(f)["curves"]
        eps = [255 * e for e in curves[0]["eps"]]
        groups = _fgsm_groups(runs, attack)
        seeds = max(len(g) for g in groups.values())
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
        # group -> per epsilon, {seed: accuracy}
        accuracy = {
            group: [
                {s: curves[i]["accuracy"][k] for s, i in by_seed.items()}
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
                yerr=_error_bars(cis),
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
        ax.set_xlabel("epsilon (x 1/255, on [0, 1] pixels)")
        ax.set_ylabel("accuracy (%), mean and 95% CI")
        ax.set_ylim(0, 100)
        ax.set_title(
            _fgsm_title(figure, fig_dir, runs, scale, seeds), fontsize=9
        )
        ax.grid(alpha=0.3)
        ax.legend()
        png = _save_figure(plt, fig, fig_dir, figure)
        wall = sum(
            _metrics(fig_dir, r)["train_time_s"]
            for r in runs
            if r.task == "classify"
        )
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
        _write_report(
            fig_dir,
            figure,
            scale,
            ["setting", "seeds", *[f"eps={e:g}/255" for e in eps]],
            rows,
            wall,
            "FGSM accuracy on the test split (mean over seeds; fractions).",
            after="\n".join(after)
            + _blank_line_before(_robustness_note(fig_dir, runs)),
        )
        return png, rows

    return report


def _blank_line_before(text):
    return f"\n\n{text}" if text else ""


def _robustness_note(fig_dir, runs):
    """The robustness study's verdict and table, when it has run."""
    study = [r for r in runs if r.task == "robustness"]
    path = study and os.path.join(run_dir(fig_dir, study[0]), "robustness.json")
    if not path or not os.path.exists(path):
        return ""
    from spatialmix_keras.reproduce import verdicts

    results = _read_json(path)
    s = results["settings"]
    where = os.path.relpath(os.path.dirname(path), fig_dir)
    lines = [
        f"## Robustness study ({where}/robustness.md)",
        "",
        f"FGSM on "
        f"{s['examples']} images, PGD-{s['pgd_steps']} with random start on "
        f"the first {s['pgd_examples']}, transfer between every pair of "
        "models; mean [95% CI] over seeds.",
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


def fig12_report(fig_dir, runs, scale):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), dpi=120)
    done = [(r, _metrics(fig_dir, r)) for r in runs]
    done = [(r, m) for r, m in done if m]
    rows = [
        (
            f"d={r.meta['d']} w={r.meta['w']} k={r.meta['k']}",
            LABELS[r.meta["freeze"]],
            m["final_test_psnr"],
            m["train_time_s"],
        )
        for r, m in done
    ]
    for ax, key, label in zip(
        axes, "dwk", ("depth", "width", "kernel"), strict=True
    ):
        for freeze in ("none", "spatial"):
            points = sorted(
                (r.meta[key], m["final_test_psnr"])
                for r, m in done
                if r.meta["freeze"] == freeze
                and all(
                    r.meta[o] == _center(done, o) for o in "dwk" if o != key
                )
            )
            if points:
                ax.plot(*zip(*points, strict=True), "-o", label=LABELS[freeze])
        ax.set_xlabel(label)
        ax.set_ylabel("test PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    png = _save_figure(plt, fig, fig_dir, "fig12")
    _write_report(
        fig_dir,
        "fig12",
        scale,
        ["model", "learns", "test PSNR (dB)", "train time (s)"],
        rows,
        sum(m["train_time_s"] for _, m in done),
        _as_well_note(done),
    )
    return png, rows


def _as_well_note(done):
    """Claim (e), paired over the sweep's configurations (one seed each)."""
    from spatialmix_keras.reproduce import verdicts

    psnr = {"none": {}, "spatial": {}}
    for r, m in done:
        if r.meta["freeze"] in psnr:
            point = (r.meta["d"], r.meta["w"], r.meta["k"])
            psnr[r.meta["freeze"]][point] = m["final_test_psnr"]
    d = stats.paired_difference(psnr["spatial"], psnr["none"])
    verdict, reason = verdicts.as_well(d)
    return (
        f"**Verdict (e) Chans un-shuffles as well as Full: {verdict}.** "
        f"{reason}, paired over the sweep's (depth, width, kernel) points, "
        f"one seed each. Rule: above -{verdicts.PSNR_CLOSE:g} dB."
    )


def _center(done, key):
    """The value of `key` shared by the sweep along the other two axes."""
    values = [r.meta[key] for r, _ in done]
    return max(set(values), key=values.count)


def grids_report(fig_dir, runs, scale):
    rows = []
    for run in runs:
        metrics = _metrics(fig_dir, run)
        if metrics:
            rows.append(
                (
                    run.name,
                    metrics["final_test_psnr"],
                    metrics["shuffled_psnr"],
                    metrics["mean_image_psnr"],
                )
            )
    grids = [r.meta["output"] for r in runs if "output" in r.meta]
    wall = sum(
        _metrics(fig_dir, r)["train_time_s"]
        for r in runs
        if _metrics(fig_dir, r)
    )
    _write_report(
        fig_dir,
        "fig10_11_13",
        scale,
        ["run", "test PSNR (dB)", "shuffled input (dB)", "mean image (dB)"],
        rows,
        wall,
        "Grids: " + ", ".join(os.path.basename(g) for g in grids),
    )
    return grids[0], rows
