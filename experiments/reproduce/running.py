"""Carrying out one run of a sweep, resumably, by calling the library.

A run is done when its outputs exist; `execute` skips it then, and refuses
to start one whose `after` runs have not exported yet. Each run goes to a
fresh process (TensorFlow's settings, e.g. op determinism or a mixed
precision policy, are process-wide, and its memory is only given back when
the process ends), which calls the task's library function: `perform`. Its
output goes to `runs/<name>/log.txt` in the figure's directory.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import threading
from typing import NamedTuple

from spatialmix_keras import config as config_lib
from spatialmix_keras import schema, stopping

# Tasks that train a model (their runs write config.json, history.json and
# metrics.json).
TRAINING_TASKS = ("classify", "unshuffle")


def run_dir(fig_dir, run):
    return os.path.join(fig_dir, "runs", run.name)


def run_json(fig_dir, run, name):
    """A JSON file of the run's directory (`"metrics.json"`), or None
    while it does not exist."""
    path = os.path.join(run_dir(fig_dir, run), name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def is_done(fig_dir, run) -> bool:
    if run.task in ("fgsm", "robustness"):
        result = "results.json" if run.task == "fgsm" else "robustness.json"
        return os.path.exists(os.path.join(run_dir(fig_dir, run), result))
    if run.task == "compare":
        return os.path.exists(run.meta["output"])
    return os.path.exists(
        os.path.join(run_dir(fig_dir, run), "metrics.json")
    ) and os.path.isdir(os.path.join(fig_dir, "exports", run.name))


class RunState(NamedTuple):
    """Where a run stands: `status` is "done", "started" or "not started";
    `detail` says how far a started training run got; `train_time_s` is a
    finished training run's."""

    status: str
    detail: str = ""
    train_time_s: float | None = None


def state(fig_dir, run) -> RunState:
    """Where a run stands, read from its files alone (nothing runs)."""
    from spatialmix_keras.progress import format_duration

    training = run.task in TRAINING_TASKS
    if is_done(fig_dir, run):
        metrics = run_json(fig_dir, run, "metrics.json") if training else None
        seconds = (metrics or {}).get("train_time_s")
        detail = f"trained in {format_duration(seconds)}" if seconds else ""
        return RunState("done", detail, seconds)
    if not os.path.isdir(run_dir(fig_dir, run)):
        return RunState("not started")
    config = run_json(fig_dir, run, "config.json") if training else None
    if config:
        epochs = len(run_json(fig_dir, run, "history.json") or [])
        return RunState(
            "started", f"{epochs} of {config['epochs']} epochs trained"
        )
    return RunState("started")


# The shipped configs, beside the experiments (in a checkout and installed).
CONFIG_DIR = os.path.join(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ),
    "configs",
)


def load_config(config: str, overrides: dict | None = None):
    """An experiment config as the apps read it, without their flags.

    Args:
        config: `"<file in configs/>[:argument]"`, e.g.
            `"resnet_cifar10.py:smoke"` (what `--config` takes, less the
            directory).
        overrides: dotted field -> value (`{"model.depth": 4}`), applied to
            the locked config: a field the config lacks, or a value of the
            wrong type, is an error, as `--config.<field>` is.
    """
    file, _, argument = config.partition(":")
    loaded = schema.load_config_file(
        os.path.join(CONFIG_DIR, file), argument or None
    )
    loaded.lock()
    loaded.update_from_flattened_dict(dict(overrides or {}))
    return loaded


def training_config(fig_dir, run, data_dir=None):
    """A training run's resolved config: its experiment, its overrides, and
    where the sweep keeps its export."""
    overrides = {
        **run.overrides,
        "export_dir": os.path.join(fig_dir, "exports"),
        "run_name": run.name,
    }
    if data_dir:
        overrides["data_dir"] = data_dir
    return load_config(run.config, overrides)


def perform(fig_dir, run, data_dir=None) -> None:
    """Carries out one run in this process, by the library function of its
    task."""
    if run.task in TRAINING_TASKS:
        from spatialmix_keras import train

        from . import unshuffle_report

        config = training_config(fig_dir, run, data_dir)
        config_lib.validate_config(config)
        trainer = (
            train.train_and_evaluate
            if run.task == "classify"
            else unshuffle_report.train_and_report
        )
        trainer(config, run_dir(fig_dir, run))
    elif run.task == "fgsm":
        from . import fgsm_report

        fgsm_report.run(**run.arguments, data_dir=data_dir)
    elif run.task == "robustness":
        from . import robustness_report

        robustness_report.run(**run.arguments, data_dir=data_dir)
    elif run.task == "compare":
        from . import unshuffle_report

        unshuffle_report.compare(**run.arguments, data_dir=data_dir)
    else:
        raise ValueError(
            f"Invalid value for argument `task` of run {run.name!r}. "
            f"Received: task={run.task!r}"
        )


def _perform_logged(fig_dir, run, data_dir, log):
    """`perform` in a child process, everything it prints (TensorFlow's own
    lines included) appended to `log`."""
    with open(log, "a") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    from absl import flags, logging

    flags.FLAGS.mark_as_parsed()  # the library's defaults, not the parent's
    logging.use_absl_handler()
    logging.set_verbosity(logging.INFO)

    try:
        perform(fig_dir, run, data_dir)
    except stopping.Interrupted as stopped:
        print(stopped, file=sys.stderr)
        raise SystemExit(stopping.EXIT_INTERRUPTED) from None


@contextlib.contextmanager
def _stops_passed_to_the_run(process):
    """Ctrl-C reaches the run's process too (one process group), so the
    sweep ignores it; a SIGTERM sent to the sweep alone (`kill`, `pkill`) is
    passed on to the run. Either way the run saves a checkpoint and exits,
    and the sweep then stops with one line instead of a traceback, leaving
    no run behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(
            signal.SIGTERM, lambda *_: process.terminate()
        ),
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def execute(fig_dir, run, data_dir=None) -> bool:
    """Runs one run in a fresh process unless its outputs exist; True if it
    ran."""
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
    process = multiprocessing.get_context("spawn").Process(
        target=_perform_logged, args=(fig_dir, run, data_dir, log)
    )
    process.start()
    with _stops_passed_to_the_run(process):
        process.join()

    if process.exitcode == stopping.EXIT_INTERRUPTED:
        raise RuntimeError(
            f"Run {run.name!r} was stopped after saving a checkpoint; run "
            "the same command again to resume it."
        )
    if process.exitcode != 0:
        raise RuntimeError(
            f"Run {run.name!r} failed (exit {process.exitcode}); see {log}."
        )
    return True
