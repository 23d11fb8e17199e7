"""Running one command of a sweep, resumably.

A run is done when its outputs exist; `execute` skips it then, and refuses
to start one whose `after` runs have not exported yet. Its output goes to
`runs/<name>/log.txt` in the figure's directory.
"""

from __future__ import annotations

import os
import subprocess
import sys


def run_dir(fig_dir, run):
    return os.path.join(fig_dir, "runs", run.name)


def is_done(fig_dir, run) -> bool:
    if run.app in ("fgsm", "robustness"):
        result = "results.json" if run.app == "fgsm" else "robustness.json"
        return os.path.exists(os.path.join(run_dir(fig_dir, run), result))
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
