"""Reproducing the paper's figures: sweeps of runs, and reports.

A figure is a list of `Run`s (each one command of an app: `classify`,
`unshuffle` or `fgsm`, made from the configs) and a report that reads their
outputs and draws the figure as a PNG plus a Markdown table. Sweeps are
resumable: a run whose outputs exist is skipped, and an interrupted one
resumes from its checkpoints (the apps do that). To spread a sweep over
machines, print its commands (`--print_commands`) or run only the i-th
(`--run_index=i`) from a SLURM job array, GNU parallel or any scheduler,
against a shared work directory; runs marked `after` (attacks, grids) need
the runs they name, so schedule them last.

Scales: `smoke` (tiny models, small files, a few steps: what the tests run),
`cpu` (sized for a 2-core CPU, MNIST / Fashion-MNIST, under 30 min a figure) and
`paper` (the paper's settings, for GPUs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys

import numpy as np

SCALES = ("smoke", "cpu", "paper")
FREEZES = ("none", "spatial", "channel")
LABELS = {"none": "Full", "spatial": "Chans", "channel": "Space"}
# The cpu scale trains on Fashion-MNIST (full split, in shared/data) for two
# epochs of 100 steps (25,600 images drawn from the shuffled 60,000: that is
# what fits Figs. 2, 4 and 5 into ~1 hour together on 2 cores) and tests on
# all 10,000 test images; its ConvMixers are narrower, with a smaller kernel
# and patch 2.
CPU_DATA = (
    "--dataset=fashion_mnist",
    "--epochs=2",
    "--config.steps_per_epoch=100",
)
CPU_CONVMIXER = (
    *CPU_DATA,
    "--config.model_kwargs.dim=64",
    "--config.model_kwargs.kernel_size=5",
    "--config.model_kwargs.patch_size=2",
)


@dataclasses.dataclass(frozen=True)
class Run:
    """One command of a sweep.

    Attributes:
        name: unique within its figure's work directory.
        app: `classify`, `unshuffle` or `fgsm`.
        args: the app's flags (config and overrides).
        meta: what the report needs to place it (freeze, depth, ...).
        after: names of runs whose exports this one reads.
    """

    name: str
    app: str
    args: tuple[str, ...]
    meta: dict = dataclasses.field(default_factory=dict, hash=False)
    after: tuple[str, ...] = ()


def _smoke_flag(scale):
    return ":smoke" if scale == "smoke" else ""


# ----------------------------------------------------------------- figures
# The data each scale trains on, as the figures label it.
_PANEL = {
    "smoke": "CIFAR-10 (small)",
    "cpu": "Fashion-MNIST",
    "paper": "CIFAR-10",
}


def _resnet_runs(scale, imagenet=False):
    """Separable ResNets, Full / Chans / Space, against depth (Figs. 2, 3).

    With `imagenet` (Fig. 2 at paper scale only: ImageNet comes from a
    prepared TFDS copy, see `configs/resnet_imagenet.py`), the ImageNet
    ResNets (8n+2 layers) join the CIFAR ones.
    """
    depths = {"smoke": (1,), "cpu": (1, 2, 3), "paper": (1, 2, 3, 5, 9)}
    extra = CPU_DATA if scale == "cpu" else ()
    runs = []
    for n in depths[scale]:
        model = "resnet_tiny" if scale == "smoke" else f"resnet{6 * n + 2}"
        for freeze in FREEZES:
            args = (
                f"--config=configs/resnet_cifar10.py{_smoke_flag(scale)}",
                f"--model={model}",
                f"--freeze={freeze}",
                *extra,
            )
            runs.append(
                Run(
                    f"resnet_n{n}_{freeze}",
                    "classify",
                    args,
                    {"depth": n, "freeze": freeze, "panel": _PANEL[scale]},
                )
            )
    if imagenet and scale == "paper":
        for n in (1, 2, 3):
            for freeze in FREEZES:
                runs.append(
                    Run(
                        f"resnet_imagenet_n{n}_{freeze}",
                        "classify",
                        (
                            "--config=configs/resnet_imagenet.py",
                            f"--model=resnet{8 * n + 2}_imagenet",
                            f"--freeze={freeze}",
                        ),
                        {"depth": n, "freeze": freeze, "panel": "ImageNet"},
                    )
                )
    return runs


def _convmixer_runs(scale):
    """ConvMixers, Full / Chans / Space, against depth (Figs. 4, 6, 7)."""
    depths = {"smoke": (2,), "cpu": (2, 4, 6), "paper": (2, 4, 8, 16)}
    extra = CPU_CONVMIXER if scale == "cpu" else ()
    runs = []
    for depth in depths[scale]:
        for freeze in FREEZES:
            args = (
                f"--config=configs/convmixer_cifar10.py{_smoke_flag(scale)}",
                f"--freeze={freeze}",
                f"--config.model_kwargs.depth={depth}",
                *extra,
            )
            runs.append(
                Run(
                    f"convmixer_d{depth}_{freeze}",
                    "classify",
                    args,
                    {"depth": depth, "freeze": freeze, "panel": _PANEL[scale]},
                )
            )
    return runs


def _filter_runs(scale):
    """Learned vs fixed filter types in a separable ResNet (Fig. 5)."""
    base = _resnet_runs(scale)[0].args[:2]  # config and model of depth 1
    extra = CPU_DATA if scale == "cpu" else ()
    kinds = [
        ("learned", "none", "spatial_random"),
        ("random", "spatial", "spatial_random"),
        ("same", "spatial", "same_random"),
        ("box", "spatial", "box"),
        ("identity", "spatial", "identity"),
    ]
    return [
        Run(
            f"filters_{kind}",
            "classify",
            (
                *base,
                f"--freeze={freeze}",
                f"--spatial_initializer={init}",
                *extra,
            ),
            {"kind": kind},
        )
        for kind, freeze, init in kinds
    ]


def _fgsm_args(scale, exports, names, labels, out):
    small = ("--small",) if scale == "smoke" else ()
    dataset = "fashion_mnist" if scale == "cpu" else "cifar10"
    return (
        *[f"--model={os.path.join(exports, n)}" for n in names],
        *[f"--label={label}" for label in labels],
        f"--dataset={dataset}",
        "--attack=fgsm",
        f"--output_dir={out}",
        "--overwrite",
        *small,
    )


def _fig8_runs(scale, workdir):
    """FGSM on Full / Chans / Space separable ResNets (Fig. 8)."""
    train = [
        r
        for r in _resnet_runs(scale)
        if r.meta["depth"] == min(d.meta["depth"] for d in _resnet_runs(scale))
    ]
    names = [r.name for r in train]
    exports = os.path.join(workdir, "exports")
    attack = Run(
        "fgsm",
        "fgsm",
        _fgsm_args(
            scale,
            exports,
            names,
            [LABELS[r.meta["freeze"]] for r in train],
            os.path.join(workdir, "runs", "fgsm"),
        ),
        {},
        tuple(names),
    )
    return [*train, attack]


def _fig9_runs(scale, workdir):
    """Smoothed random filters and FGSM (Fig. 9)."""
    sigmas = {
        "smoke": ("none", "1.0"),
        "cpu": ("none", "0.5", "1.0", "2.0"),
        "paper": ("none", "0.5", "1.0", "2.0"),
    }[scale]
    extra = (
        (*CPU_CONVMIXER, "--config.model_kwargs.depth=4")
        if scale == "cpu"
        else ()
    )
    smoke = "smoke," if scale == "smoke" else ""
    train = [
        Run(
            f"smooth_{s}",
            "classify",
            (
                f"--config=configs/convmixer_smoothing.py:{smoke}sigma={s}",
                *extra,
            ),
            {"sigma": s},
        )
        for s in sigmas
    ]
    exports = os.path.join(workdir, "exports")
    attack = Run(
        "fgsm",
        "fgsm",
        _fgsm_args(
            scale,
            exports,
            [r.name for r in train],
            [f"sigma={s}" for s in sigmas],
            os.path.join(workdir, "runs", "fgsm"),
        ),
        {},
        tuple(r.name for r in train),
    )
    return [*train, attack]


def _fig12_runs(scale):
    """Un-shuffling PSNR against depth, width and kernel (Fig. 12)."""
    if scale == "paper":
        points = (
            [(d, 512, 7) for d in (4, 8, 16)]
            + [(16, w, 7) for w in (128, 256)]
            + [(16, 512, k) for k in (3, 5)]
        )
        config = "configs/unshuffle_cifar10.py:d={d},w={w},k={k}"
        extra = ()
    else:
        points = {
            "smoke": [(2, 8, 3)],
            # Depth 3/5/7, width 32/64, kernel 3/7 around the CPU recipe.
            "cpu": [
                (3, 64, 7),
                (5, 64, 7),
                (7, 64, 7),
                (5, 32, 7),
                (5, 64, 3),
            ],
        }[scale]
        config = "configs/unshuffle_mnist.py" + _smoke_flag(scale)
        # cpu: 2 epochs of 320 batches of 64 (40,960 images; the recipe's
        # 4 full epochs take ~16 min a run, too long for 10 runs).
        cpu = ("--epochs=2", "--config.steps_per_epoch=320")
        extra = (
            *(cpu if scale == "cpu" else ()),
            "--config.model_kwargs.depth={d}",
            "--config.model_kwargs.dim={w}",
            "--config.model_kwargs.kernel_size={k}",
        )
    runs = []
    for d, w, k in points:
        for freeze in ("none", "spatial"):
            fill = {"d": d, "w": w, "k": k}
            args = (
                f"--config={config.format(**fill)}",
                f"--freeze={freeze}",
                *[e.format(**fill) for e in extra],
            )
            runs.append(
                Run(
                    f"unshuffle_d{d}_w{w}_k{k}_{freeze}",
                    "unshuffle",
                    args,
                    {"d": d, "w": w, "k": k, "freeze": freeze},
                )
            )
    return runs


def _grid_runs(scale, workdir):
    """Full and Chans un-shufflers and their reconstructions (Figs. 10, 11,
    13)."""
    datasets = {
        "smoke": ("mnist",),
        "cpu": ("mnist", "fashion_mnist"),
        "paper": ("mnist", "fashion_mnist", "cifar10"),
    }[scale]
    runs = []
    for dataset in datasets:
        if dataset == "cifar10":
            config = "configs/unshuffle_cifar10.py"
        else:
            config = "configs/unshuffle_mnist.py" + _smoke_flag(scale)
        names = []
        for freeze in ("none", "spatial"):
            name = f"unshuffle_{dataset}_{freeze}"
            names.append(name)
            runs.append(
                Run(
                    name,
                    "unshuffle",
                    (
                        f"--config={config}",
                        f"--dataset={dataset}",
                        f"--freeze={freeze}",
                    ),
                    {"dataset": dataset},
                )
            )
        exports = os.path.join(workdir, "exports")
        small = ("--small",) if scale == "smoke" else ()
        out = os.path.join(workdir, "runs", f"grid_{dataset}.png")
        runs.append(
            Run(
                f"grid_{dataset}",
                "unshuffle",
                (
                    *[f"--compare={os.path.join(exports, n)}" for n in names],
                    f"--output={out}",
                    *small,
                ),
                {"dataset": dataset, "output": out},
                tuple(names),
            )
        )
    return runs


def figure_runs(figure: str, scale: str, workdir: str) -> list[Run]:
    """The runs of one figure at one scale."""
    if scale not in SCALES:
        raise ValueError(
            f"Invalid value for argument `scale`. Expected one of {SCALES}. "
            f"Received: scale={scale!r}"
        )
    if figure not in FIGURES:
        raise ValueError(
            "Invalid value for argument `figure`. Expected one of "
            f"{tuple(FIGURES)}. Received: figure={figure!r}"
        )
    build = FIGURES[figure]["runs"]
    return build(scale, figure_dir(workdir, figure))


def figure_dir(workdir, figure):
    return os.path.join(workdir, FIGURES[figure]["dir"])


# ------------------------------------------------------------------ running
def run_dir(fig_dir, run):
    return os.path.join(fig_dir, "runs", run.name)


def is_done(fig_dir, run) -> bool:
    if run.app == "fgsm":
        return os.path.exists(
            os.path.join(run_dir(fig_dir, run), "results.json")
        )
    if "--compare" in " ".join(run.args):
        return os.path.exists(run.meta["output"])
    return os.path.exists(
        os.path.join(run_dir(fig_dir, run), "metrics.json")
    ) and os.path.isdir(os.path.join(fig_dir, "exports", run.name))


def command(fig_dir, run, data_dir=None) -> list[str]:
    """The shell command of one run, as a list of arguments."""
    args = [sys.executable, "-m", f"apps.{run.app}", *run.args]
    if data_dir:
        args.append(f"--data_dir={data_dir}")
    if run.app in ("classify", "unshuffle") and "--compare" not in " ".join(
        run.args
    ):
        args += [
            f"--workdir={run_dir(fig_dir, run)}",
            f"--export_dir={os.path.join(fig_dir, 'exports')}",
            f"--run_name={run.name}",
        ]
    return args


def execute(fig_dir, run, data_dir=None, cwd=None) -> bool:
    """Runs one command unless its outputs exist; True if it ran."""
    if is_done(fig_dir, run):
        return False
    missing = [
        a
        for a in run.after
        if not os.path.isdir(os.path.join(fig_dir, "exports", a))
    ]
    if missing:
        raise RuntimeError(
            f"Run {run.name!r} needs the exports of {missing}: run those first."
        )
    os.makedirs(run_dir(fig_dir, run), exist_ok=True)
    log = os.path.join(run_dir(fig_dir, run), "log.txt")
    with open(log, "a") as f:
        result = subprocess.run(
            command(fig_dir, run, data_dir),
            cwd=cwd,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"Run {run.name!r} failed (exit {result.returncode}); see {log}."
        )
    return True


# ------------------------------------------------------------------ reports
def _metrics(fig_dir, run):
    path = os.path.join(run_dir(fig_dir, run), "metrics.json")
    if not os.path.exists(path):
        return None
    return _read_json(path)


def _hardware():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU threads, "
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


def _write_report(fig_dir, figure, scale, header, rows, wall_s, notes=""):
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
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, fig, fig_dir, figure):
    """Writes `<fig_dir>/<figure>.png` and closes the figure; its path."""
    fig.tight_layout()
    png = os.path.join(fig_dir, f"{figure}.png")
    fig.savefig(png)
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


def _lines_report(figure, ylabel, value, key="depth", xlabel="depth"):
    """One panel per dataset (`meta["panel"]`), one line per freeze mode."""

    def report(fig_dir, runs, scale):
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


def _time_report(figure):
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
        )
        return png, rows

    return report


def _filters_bar_report(fig_dir, runs, scale):
    plt = _plt()
    rows, wall = [], 0.0
    for run in runs:
        metrics = _metrics(fig_dir, run)
        if metrics:
            rows.append(
                (
                    run.meta["kind"],
                    metrics["final_test_accuracy"],
                    metrics["trainable_params"],
                )
            )
            wall += metrics["train_time_s"]
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    bars = ax.bar(
        [r[0] for r in rows],
        [r[1] for r in rows],
        color=["tab:blue", "tab:red", "gold", "tab:green", "tab:orange"][
            : len(rows)
        ],
    )
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    png = _save_figure(plt, fig, fig_dir, "fig5")
    _write_report(
        fig_dir,
        "fig5",
        scale,
        ["spatial filters", "test accuracy", "trainable params"],
        rows,
        wall,
        "learned = Full; the others are Chans with frozen filters.",
    )
    return png, rows


def _learned_filters_report(fig_dir, runs, scale):
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


def _fgsm_report(figure):
    def report(fig_dir, runs, scale):
        import shutil

        attack = [r for r in runs if r.app == "fgsm"][0]
        out = run_dir(fig_dir, attack)
        with open(os.path.join(out, "results.json")) as f:
            curves = json.load(f)["curves"]
        png = os.path.join(fig_dir, f"{figure}.png")
        shutil.copy(os.path.join(out, "accuracy_vs_eps.png"), png)
        rows = [
            (c["label"], *[float(a) for a in c["accuracy"]]) for c in curves
        ]
        wall = sum(
            _metrics(fig_dir, r)["train_time_s"]
            for r in runs
            if r.app != "fgsm"
        )
        _write_report(
            fig_dir,
            figure,
            scale,
            ["model", *[f"eps={255 * e:g}/255" for e in curves[0]["eps"]]],
            rows,
            wall,
            "FGSM accuracy on the test split.",
        )
        return png, rows

    return report


def _fig12_report(fig_dir, runs, scale):
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
    )
    return png, rows


def _center(done, key):
    """The value of `key` shared by the sweep along the other two axes."""
    values = [r.meta[key] for r, _ in done]
    return max(set(values), key=values.count)


def _grids_report(fig_dir, runs, scale):
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


FIGURES = {
    "fig2": {
        "dir": "resnet",
        "runs": lambda s, d: _resnet_runs(s, imagenet=True),
        "report": _lines_report("fig2", "test accuracy", "final_test_accuracy"),
    },
    "fig3": {
        "dir": "resnet",
        "runs": lambda s, d: _resnet_runs(s),
        "report": _time_report("fig3"),
    },
    "fig4": {
        "dir": "convmixer",
        "runs": lambda s, d: _convmixer_runs(s),
        "report": _lines_report("fig4", "test accuracy", "final_test_accuracy"),
    },
    "fig5": {
        "dir": "filters",
        "runs": lambda s, d: _filter_runs(s),
        "report": _filters_bar_report,
    },
    "fig6": {
        "dir": "convmixer",
        "runs": lambda s, d: _convmixer_runs(s),
        "report": _time_report("fig6"),
    },
    "fig7": {
        "dir": "convmixer",
        "runs": lambda s, d: _convmixer_runs(s),
        "report": _learned_filters_report,
    },
    "fig8": {
        "dir": "resnet",
        "runs": _fig8_runs,
        "report": _fgsm_report("fig8"),
    },
    "fig9": {
        "dir": "smoothing",
        "runs": _fig9_runs,
        "report": _fgsm_report("fig9"),
    },
    "fig12": {
        "dir": "unshuffle_sweep",
        "runs": lambda s, d: _fig12_runs(s),
        "report": _fig12_report,
    },
    "fig10_11_13": {
        "dir": "unshuffle_grids",
        "runs": _grid_runs,
        "report": _grids_report,
    },
}


def report(figure: str, scale: str, workdir: str):
    """Draws one figure from its finished runs: `(png, rows)`."""
    fig_dir = figure_dir(workdir, figure)
    runs = figure_runs(figure, scale, workdir)
    return FIGURES[figure]["report"](fig_dir, runs, scale)
