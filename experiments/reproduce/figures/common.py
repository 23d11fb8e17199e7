"""What every figure's report shares: reading its runs, writing its files.

A report reads the runs' `metrics.json` and `config.json`, and writes
`<figure>.md` (the hardware, how and from which commit the runs were
trained, the wall time, a table and notes) and `<figure>.png` beside them.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import platform

from spatialmix_keras import config as config_lib
from spatialmix_keras import files, machine

from ..running import run_json


def metrics(fig_dir, run):
    return run_json(fig_dir, run, "metrics.json")


def configs(fig_dir, runs):
    """The resolved configs of the runs that have started, in run order."""
    for run in runs:
        config = run_json(fig_dir, run, "config.json")
        if config is not None:
            yield config


def hardware():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    cpu = machine.cpu_features().get("cpu_model") or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} CPU threads, "
        f"{len(gpus)} GPU(s), TensorFlow {tf.__version__}"
    )


def read_json(path):
    with open(path) as f:
        return json.load(f)


def training_summary(fig_dir, runs):
    """How the figure's runs were trained, from their config and metrics."""
    settings = set()
    for run in runs:
        config = run_json(fig_dir, run, "config.json")
        metrics = run_json(fig_dir, run, "metrics.json")
        if config is None or metrics is None:
            continue
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


def _run_metrics(fig_dir, runs):
    """The `metrics.json` of each of the figure's runs that has one; runs of
    other figures sharing the directory (Figs. 2 and 5 share `resnet/`) are
    not the figure's."""
    for run in runs:
        found = metrics(fig_dir, run)
        if found is not None:
            yield found


def code_versions(trained):
    """The commits the runs came from, given their `metrics.json`; runs
    that recorded none are counted, not left out."""
    found = {m.get("code_version") for m in trained}
    unknown = sum(not m.get("code_version") for m in trained)
    named = ", ".join(sorted(v for v in found if v))
    if unknown and named:
        # A run made outside a git checkout (or from a worktree whose link
        # to its repository broke) records no commit.
        return f"{named}; not recorded for {unknown} of {len(trained)} runs"
    return named


def run_cpus(trained):
    """`"AMD EPYC (4 runs), Intel Xeon (8 runs)"`: the CPUs the runs
    trained on, given their `metrics.json` ("" where none recorded one)."""
    counts = collections.Counter(
        m["cpu_model"] for m in trained if m.get("cpu_model")
    )
    return ", ".join(
        f"{cpu} ({n} run{'s' if n > 1 else ''})"
        for cpu, n in sorted(counts.items())
    )


def write_report(
    fig_dir, runs, figure, scale, header, rows, wall_s, notes="", after=""
):
    """Writes `<figure>.md`; its hardware, training and code lines come
    from `runs`, the runs the figure shows."""
    path = os.path.join(fig_dir, f"{figure}.md")
    trained = list(_run_metrics(fig_dir, runs))
    cpus = run_cpus(trained)
    trained_on = f"runs trained on {cpus}; " if cpus else ""
    lines = [
        f"# {figure} ({scale} scale)",
        "",
        f"Hardware: {trained_on}report drawn on {hardware()}. "
        f"Training wall time of the runs: {wall_s / 60:.1f} min.",
        "",
    ]
    training = training_summary(fig_dir, runs)
    if training:
        lines += [f"Training: {training}.", ""]
    versions = code_versions(trained) or (
        "not recorded (runs made before metrics.json carried code_version, "
        "or outside a git checkout)"
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


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SMOKE_LABEL = "smoke scale: not a result"


def save_figure(plt, fig, fig_dir, figure, scale=None):
    """Writes `<fig_dir>/<figure>.png` and closes the figure; its path. At
    the smoke scale every figure carries `SMOKE_LABEL` across it: its
    numbers only show that the code runs."""
    fig.tight_layout()
    if scale == "smoke":
        fig.text(
            0.5, 0.5, SMOKE_LABEL, ha="center", va="center", fontsize=20,
            color="tab:red", alpha=0.35, rotation=15,
        )  # fmt: skip
    png = os.path.join(fig_dir, f"{figure}.png")
    files.atomic_write(png, fig.savefig)
    plt.close(fig)
    return png


def convmixer_shape(fig_dir, runs, depth=False) -> str:
    """`" (width 128, kernel 8, patch 4)"` from the first run's config;
    with `depth` (figures at one depth), `" (depth 4, width 128, ...)"`."""
    for config in configs(fig_dir, runs):
        spec = config_lib.model_spec(config)
        if {"dim", "kernel_size", "patch_size"} <= set(spec):
            at = f"depth {spec['depth']}, " if depth else ""
            return (
                f" ({at}width {spec['dim']}, kernel {spec['kernel_size']}, "
                f"patch {spec['patch_size']})"
            )
    return ""


def seeds_label(count: int) -> str:
    """`'1 seed'`, `'3 seeds'`."""
    return f"{count} seed{'' if count == 1 else 's'}"


def error_bars(cis, scale=100):
    """Matplotlib's `yerr` (below, above) of `stats.mean_ci` intervals,
    times `scale` (fractions to percent by default); none where one seed
    gives no interval."""
    return [
        [scale * (c[0] - c[1]) if c[1] == c[1] else 0 for c in cis],
        [scale * (c[2] - c[0]) if c[2] == c[2] else 0 for c in cis],
    ]
