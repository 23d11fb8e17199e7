"""Reproducing the paper's figures: sweeps of runs, and reports.

A figure is a list of `Run`s (each a task of the library: training from a
config of `configs/` with typed overrides, or evaluating exports) and a
report that reads their outputs and draws the figure as a PNG plus a
Markdown table. Each run executes in a fresh process that calls the library
(`running.perform`), never an app's command line. Sweeps are resumable: a
run whose outputs exist is skipped, and an interrupted one resumes from its
checkpoints. To spread a sweep over machines, run only the i-th run
(`apps.reproduce --run_index=i`; `--print_commands` lists one such command
per run) from a SLURM job array, GNU parallel or any scheduler, against a
shared work directory; runs marked `after` (attacks, grids) need the runs
they name, so schedule them last.

Scales: `smoke` (tiny models, small files, a few steps: what the tests run),
`cpu` (sized for a 2-core CPU, MNIST / Fashion-MNIST, under 30 min a figure),
`cifar` (all of CIFAR-10, three paired seeds, hours a figure on a CPU) and
`paper` (the paper's settings, for GPUs).

Modules: `sweeps` (the runs of each figure), `running` (executing one run),
`figures` (each figure's table and PNG; both by kind of figure), and the
reports of the evaluation tasks, which the apps call too (`fgsm_report`,
`robustness_report`, `unshuffle_report`); `FIGURES` ties each figure to its
sweep and report.
"""

from __future__ import annotations

import os

from . import sweeps
from .figures import (
    depth,
    fgsm,
    filters,
    unshuffling,
)
from .running import (
    execute,
    is_done,
    load_config,
    perform,
    run_dir,
    run_json,
    state,
)
from .sweeps import (
    FREEZES,
    LABELS,
    SCALES,
    Run,
)

__all__ = [
    "FIGURES",
    "FREEZES",
    "LABELS",
    "SCALES",
    "Run",
    "execute",
    "figure_dir",
    "figure_runs",
    "is_done",
    "load_config",
    "perform",
    "report",
    "run_dir",
    "state",
]

FIGURES = {
    "fig2": {
        "dir": "resnet",
        "runs": lambda s, d: sweeps.resnet_runs(s, imagenet=True),
        "report": depth.lines_report(
            "fig2", "test accuracy", "final_test_accuracy"
        ),
    },
    "fig3": {
        "dir": "resnet",
        "runs": lambda s, d: sweeps.resnet_runs(s),
        "report": depth.time_report("fig3"),
    },
    "fig4": {
        "dir": "convmixer",
        "runs": lambda s, d: sweeps.convmixer_runs(s),
        "report": depth.lines_report(
            "fig4", "test accuracy", "final_test_accuracy"
        ),
    },
    "fig5": {
        # The ResNets' directory: its learned and random runs are theirs.
        "dir": "resnet",
        "runs": lambda s, d: sweeps.filter_runs(s),
        "report": filters.filters_bar_report,
    },
    "fig6": {
        "dir": "convmixer",
        "runs": lambda s, d: sweeps.convmixer_runs(s),
        "report": depth.time_report("fig6"),
    },
    "fig7": {
        "dir": "convmixer",
        "runs": lambda s, d: sweeps.convmixer_runs(s),
        "report": filters.learned_filters_report,
    },
    "fig8": {
        "dir": "resnet",
        "runs": sweeps.fig8_runs,
        "report": fgsm.fgsm_report("fig8"),
    },
    "fig9": {
        "dir": "smoothing",
        "runs": sweeps.fig9_runs,
        "report": fgsm.fgsm_report("fig9"),
    },
    "fig12": {
        "dir": "unshuffle_sweep",
        "runs": lambda s, d: sweeps.fig12_runs(s),
        "report": unshuffling.fig12_report,
    },
    "unshuffle_length": {
        # Not a figure of the paper: claim (e) epoch by epoch. Fig. 12's
        # directory: at smoke, cpu and paper scale it shows Fig. 12's
        # centre runs; at cifar scale longer runs of its own.
        "dir": "unshuffle_sweep",
        "runs": lambda s, d: sweeps.unshuffle_length_runs(s),
        "report": unshuffling.length_report,
    },
    "fig10_11_13": {
        # Fig. 12's directory: the CIFAR-10 grid shows its centre runs.
        "dir": "unshuffle_sweep",
        "runs": sweeps.grid_runs,
        "report": unshuffling.grids_report,
    },
}


def report(figure: str, scale: str, workdir: str):
    """Draws one figure from its finished runs: `(png, rows)`; `png` is
    None where the figure's picture is not drawn yet (a grid whose run has
    not run)."""
    fig_dir = figure_dir(workdir, figure)
    runs = figure_runs(figure, scale, workdir)
    if not any(
        is_done(fig_dir, run) or run_json(fig_dir, run, "metrics.json")
        for run in runs
    ):
        raise ValueError(
            f"{figure} has no finished run in {fig_dir} yet: nothing to draw "
            "(--status says where its runs stand)."
        )
    return FIGURES[figure]["report"](fig_dir, runs, scale)


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
