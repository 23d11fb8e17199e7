r"""Reproduces a figure of the paper: runs its sweep, then draws it.

    python -m apps.reproduce --figure=fig2 --scale=cpu
    python -m apps.reproduce --figure=fig2 --scale=paper --print_commands
    python -m apps.reproduce --figure=fig2 --scale=paper \
        --run_index=$SLURM_ARRAY_TASK_ID
    python -m apps.reproduce --figure=fig2 --scale=paper --report_only
    python -m apps.reproduce --figure=fig4,fig9 --scale=cifar
    python -m apps.reproduce --figure=all --scale=cifar --status

Figures: fig2 (separable ResNet accuracy against depth), fig3 (its train
time and time per trainable parameter), fig4 (ConvMixer accuracy against
depth), fig5 (filter types), fig6 (ConvMixer train time), fig7 (learned
depthwise filters), fig8 (FGSM on Full/Chans/Space), fig9 (smoothed
filters), fig12 (un-shuffling PSNR against depth, width, kernel),
unshuffle_length (un-shuffling PSNR after every epoch, Full and Chans; not
a figure of the paper), fig10_11_13 (reconstruction grids); several,
comma-separated, run one after the other; `all` for every one. Scales: smoke
(minutes on a CPU), cpu (under 30 min a figure on 2 cores, Fashion-MNIST),
cifar (all of CIFAR-10, three paired seeds, hours a figure on 2 cores),
paper (GPUs).

Finished runs are skipped and interrupted ones resume, so re-running the
command continues a sweep. Outputs: `<workdir>/<sweep>/<figure>.png` and
`<figure>.md` (the numbers, scale, hardware and wall time).
"""

import shlex

from absl import flags

from . import common

_FIGURE = flags.DEFINE_list(
    "figure",
    None,
    "Figure name, several comma-separated, or all.",
    required=True,
)
_SCALE = flags.DEFINE_enum(
    "scale",
    "smoke",
    ["smoke", "cpu", "cifar", "paper"],
    "Size of the runs: smoke (tests), cpu (Fashion-MNIST, minutes), cifar "
    "(CIFAR-10, 3 seeds, hours on a CPU), paper (GPUs).",
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where runs go (default runs/reproduce/<scale>)."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Directory of .npz files.")
_PRINT = flags.DEFINE_bool(
    "print_commands",
    False,
    "Print one shell command per run (its --run_index, then the run's name "
    "as a comment) and stop.",
)
_INDEX = flags.DEFINE_integer(
    "run_index", None, "Run only the i-th run (0-based), e.g. from a job array."
)
_REPORT_ONLY = flags.DEFINE_bool(
    "report_only", False, "Draw from finished runs; run nothing."
)
_STATUS = flags.DEFINE_bool(
    "status",
    False,
    "Say where each run stands (done, how far a started one got, not "
    "started) and stop; runs and draws nothing.",
)


def _print_status(figure, fig_dir, runs):
    """One line per run, then the figure's counts and the training time
    of its finished runs."""
    from spatialmix_keras import progress

    reproduce = common.experiment("reproduce")

    states = [reproduce.state(fig_dir, run) for run in runs]
    for run, where in zip(runs, states, strict=True):
        detail = f" ({where.detail})" if where.detail else ""
        print(f"{figure}: {run.name}: {where.status}{detail}")
    counts = [
        f"{n} {status}"
        for status in ("done", "started", "not started")
        if (n := sum(s.status == status for s in states))
    ]
    seconds = [s.train_time_s for s in states if s.train_time_s]
    took = (
        "; finished training runs took "
        f"{progress.format_duration(min(seconds))} to "
        f"{progress.format_duration(max(seconds))} (mean "
        f"{progress.format_duration(sum(seconds) / len(seconds))})"
        if seconds
        else ""
    )
    print(f"{figure}: {len(runs)} runs: {', '.join(counts)}{took}", flush=True)


def _execute(figure, fig_dir, runs):
    """Runs what is not done yet, saying before each run where its log
    goes and after it how long it took and when the rest should end."""
    import time

    from spatialmix_keras import progress

    reproduce = common.experiment("reproduce")

    todo = [r for r in runs if not reproduce.is_done(fig_dir, r)]
    for run in runs:
        if run not in todo:
            print(f"{figure}: {run.name}: already done, skipped", flush=True)
    took = []
    for i, run in enumerate(todo, start=1):
        log = f"{reproduce.run_dir(fig_dir, run)}/log.txt"
        print(
            f"{figure}: [{i}/{len(todo)}] {run.name}: running (log: {log})",
            flush=True,
        )
        start = time.monotonic()
        reproduce.execute(fig_dir, run, _DATA_DIR.value)
        took.append(time.monotonic() - start)
        left = (len(todo) - i) * sum(took) / len(took)
        rest = (
            f"; {len(todo) - i} left, ~{progress.format_duration(left)} at "
            f"this pace (until ~{progress.finish_time(left)})"
            if i < len(todo)
            else ""
        )
        print(
            f"{figure}: {run.name}: done in "
            f"{progress.format_duration(took[-1])}{rest}",
            flush=True,
        )


def _run_command(figure, workdir, index):
    """The command that carries out one run alone (`--run_index`)."""
    args = [
        "python",
        "-m",
        "apps.reproduce",
        f"--figure={figure}",
        f"--scale={_SCALE.value}",
        f"--workdir={workdir}",
        f"--run_index={index}",
    ]
    if _DATA_DIR.value:
        args.append(f"--data_dir={_DATA_DIR.value}")
    return shlex.join(args)


def main(argv):
    common.load_tensorflow_quietly()
    reproduce = common.experiment("reproduce")

    workdir = _WORKDIR.value or f"runs/reproduce/{_SCALE.value}"
    figures = (
        list(reproduce.FIGURES) if _FIGURE.value == ["all"] else _FIGURE.value
    )
    printed = set()  # figures share runs: one command per run
    try:
        sweeps = {  # every name checked before anything runs
            figure: reproduce.figure_runs(figure, _SCALE.value, workdir)
            for figure in figures
        }
        if _INDEX.value is not None and len(figures) != 1:
            raise ValueError(
                "Invalid value for argument `figure`: --run_index picks a "
                "run of one figure. Received: figure="
                f"{','.join(_FIGURE.value)!r}"
            )
        for figure, runs in sweeps.items():
            fig_dir = reproduce.figure_dir(workdir, figure)
            if _STATUS.value:
                _print_status(figure, fig_dir, runs)
                continue
            if _PRINT.value:
                for index, run in enumerate(runs):
                    if (fig_dir, run.name) not in printed:
                        printed.add((fig_dir, run.name))
                        command = _run_command(figure, workdir, index)
                        print(f"{command}  # {run.name}")
                continue
            if _INDEX.value is not None:
                if not 0 <= _INDEX.value < len(runs):
                    raise ValueError(
                        f"Invalid value for argument `run_index`. {figure} "
                        f"has {len(runs)} runs. Received: {_INDEX.value}"
                    )
                runs = [runs[_INDEX.value]]
            if not _REPORT_ONLY.value:
                _execute(figure, fig_dir, runs)
            if _INDEX.value is None:
                png, rows = reproduce.report(figure, _SCALE.value, workdir)
                drew = f"{png} ({len(rows)} rows) and " if png else ""
                print(f"{figure}: wrote {drew}{figure}.md")
    except (ValueError, RuntimeError, OSError) as error:
        common.fail("reproduce", error)


def run():
    """Console entry point (`spatialmix-reproduce`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
