r"""Runs a queue of app runs, one after another, resumably, on one core.

A queue is a file of JSON lines `{"name", "group", "app", "args"}` (written
by a study, e.g. `experiments.long_study`). Each run is `python -m
apps.<app> <args> --workdir=<workdir>/runs/<name>`, its export under
`<workdir>/exports`, its log in `<workdir>/logs/<name>.log`; a finished run
leaves `<workdir>/done/<name>.json` with the machine it ran on. Run it again
and it goes on where it stopped (an interrupted run resumes from its
checkpoint). Other apps (`robustness`) get `--output_dir=<workdir>/runs/
<name>`; `{workdir}` in an entry's args is the work directory, and an
entry's optional `needs` (paths) must exist before it starts, else the
campaign stops there and says what it waits for.

Pairs never cross machines: the runs of one `group` (one seed's runs of
one model, say) are trained on one machine. When this machine differs from
the one that trained part of an unfinished group, that group's runs are
moved aside to `<workdir>/superseded/` and trained again here; a finished
group stays (`experiments.campaign_workdir` keeps these records).

Run it from a `git worktree` pinned at a commit, with the work directory
outside the checkout, for example:

    W=$HOME/campaigns/long
    git worktree add $HOME/campaigns/src-long <commit>
    cd $HOME/campaigns/src-long && SPATIALMIX_DATA_DIR=/path/to/data \
      nohup python -m experiments.campaign --queue=$W/queue.jsonl \
      --workdir=$W --core=1 --measure >> $W/campaign.log 2>&1 &

Two workers (one per core) may run one queue: each claims the run it
takes (`<workdir>/claims/<name>.json`, created exclusively, naming its
process), and the other takes the next unclaimed one; a claim whose
process has gone is dropped. So a group's runs are spread over the cores
of one machine, and the group is finished sooner. `--source=<checkout>`
runs the apps from that checkout (the pinned worktree) while the driver
itself may be newer, e.g. from a second worktree:

    for core in 0 1; do (cd $HOME/campaigns/src-driver && nohup \
      python -m experiments.campaign --queue=$W/queue.jsonl --workdir=$W \
      --source=$HOME/campaigns/src-long --core=$core \
      >> $W/campaign_$core.log 2>&1 &); sleep 5; done

`--measure` first times two short epochs of each distinct model on the core
and prints the queue's cost in core-hours before it starts. `--status`
starts nothing: it prints where each run of the queue stands and what is
left, in core-hours at the epoch times the finished runs measured:

    python -m experiments.campaign --queue=$W/queue.jsonl --workdir=$W --status

On a new machine whose work directory is lost, `--adopt=<dir>,...` first
takes the finished runs committed under those folders (`<dir>/<name>`,
e.g. `docs/results/long/runs`) into the work directory, marked done on the
machine their metrics name; a group they leave unfinished is then trained
again here as a whole.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

from absl import app, flags

from experiments import campaign_workdir as workdirs
from spatialmix_keras import machine

TRAIN_IMAGES = 50_000


def say(message: str) -> None:
    print(f"{workdirs.now()} {message}", flush=True)


def fingerprint() -> dict:
    """What a pair must share besides the commit and libraries, which the
    pinned worktree and its environment fix: the CPU model and flags, and
    the oneDNN setting the runs get."""
    features = machine.cpu_features()
    return {
        "cpu_model": features.get("cpu_model"),
        "cpu_flags": features.get("cpu_flags"),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }


def read_queue(path: str) -> list[dict]:
    with open(path) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: run names repeat.")
    return entries


def _command(entry, workdir, core, extra=()):
    command = [
        sys.executable,
        "-m",
        f"apps.{entry['app']}",
        *(a.replace("{workdir}", workdir) for a in entry["args"]),
        *extra,
    ]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    return command


def _outputs(entry, workdir):
    """`(flags, finished)`: where a run writes, and the paths that exist
    once it has finished. `classify` trains into `runs/<name>` and exports
    into `exports/<name>`; other apps (`robustness`) write their report
    into `runs/<name>`."""
    run = os.path.join(workdir, "runs", entry["name"])
    if entry["app"] == "classify":
        return (
            [
                f"--workdir={run}",
                f"--config.export_dir={os.path.join(workdir, 'exports')}",
            ],
            [
                os.path.join(run, "metrics.json"),
                os.path.join(workdir, "exports", entry["name"]),
            ],
        )
    return [f"--output_dir={run}"], [
        os.path.join(run, workdirs.finished_file(entry))
    ]


def _environment():
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return env


def _needs(entry, workdir):
    """The paths an entry waits for, `{workdir}` filled in."""
    return [n.replace("{workdir}", workdir) for n in entry.get("needs", ())]


def perform(entry, workdir, core, here, source=None) -> bool:
    """Runs one entry (from checkout `source`, default the current
    directory) and marks it done; False if it failed or cannot start."""
    name = entry["name"]
    extra, finished = _outputs(entry, workdir)
    if all(map(os.path.exists, finished)):  # stopped before its marker
        workdirs.mark(workdir, "done", name, here)
        return True
    missing = [n for n in _needs(entry, workdir) if not os.path.exists(n)]
    if missing:
        say(f"{name} waits for {', '.join(missing)}; the campaign stops")
        return False
    workdirs.mark(workdir, "started", name, here)
    log = os.path.join(workdir, "logs", f"{name}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    say(f"start {name}")
    with open(log, "a") as f:
        rc = subprocess.call(
            _command(entry, workdir, core, extra),
            stdout=f,
            stderr=subprocess.STDOUT,
            env=_environment(),
            cwd=source,
        )
    if rc != 0:
        say(f"{name} exited {rc} (log: {log}); the campaign stops")
        return False
    workdirs.mark(workdir, "done", name, here)
    say(f"done {name}")
    return True


def _model_key(entry):
    """A run's model and config, without seed, freeze, epochs and name."""
    return tuple(
        a
        for a in entry["args"]
        if not a.startswith(
            ("--config.seed=", "--config.run_name=", "--config.epochs=")
        )
        and not a.startswith("--config.freeze=")
    )


def _epochs(entry):
    for a in entry["args"]:
        if a.startswith("--config.epochs="):
            return int(a.split("=", 1)[1])
    raise ValueError(f"{entry['name']}: no --config.epochs in its args")


def measure(entries, workdir, core, source=None) -> dict:
    """Images/s of each distinct model: two epochs of 30 steps on the core,
    the second (compiled) one timed."""
    rates = {}
    for entry in entries:
        key = _model_key(entry)
        if key in rates:
            continue
        probe = os.path.join(workdir, "measure", entry["name"])
        shutil.rmtree(probe, ignore_errors=True)
        extra = [
            "--config.epochs=2",
            "--config.steps_per_epoch=30",
            "--config.test_examples=256",
            "--config.export=false",
            f"--workdir={probe}",
        ]
        subprocess.run(
            _command(entry, workdir, core, extra),
            check=True,
            capture_output=True,
            env=_environment(),
            cwd=source,
        )
        with open(os.path.join(probe, "history.json")) as f:
            rates[key] = json.load(f)[-1]["images_per_s"]
        say(f"{entry['name']}: {rates[key]:.0f} images/s")
    return rates


def cost_hours(entries, rates) -> float:
    return sum(
        _epochs(e) * TRAIN_IMAGES / rates[_model_key(e)] / 3600 for e in entries
    )


def _epochs_done(entry, workdir):
    history = workdirs.read(
        os.path.join(workdir, "runs", entry["name"], "history.json")
    )
    return len(history or [])


def status(entries, workdir) -> list[str]:
    """A line per run (done and where, epochs trained, waiting or not
    started), then the training left in core-hours: each unfinished run's
    remaining epochs at the seconds per epoch of the finished runs of its
    model (`train_time_s` over `epochs`), and which models have none."""
    seconds = {}  # model key -> [seconds per epoch of each finished run]
    pending = []  # (model key, name, epochs left) of unfinished training
    lines, done_count = [], 0
    for entry in entries:
        name = entry["name"]
        done = workdirs.read(workdirs.marker(workdir, "done", name))
        started = os.path.exists(workdirs.marker(workdir, "started", name))
        done_count += done is not None
        if entry["app"] != "classify":
            needs = _needs(entry, workdir)
            waiting = [n for n in needs if not os.path.exists(n)]
            state = (
                "done"
                if done
                else f"waits for {len(waiting)} of {len(needs)} inputs"
                if waiting
                else "started"
                if started
                else "not started"
            )
            lines.append(f"{name}: {state}")
            continue
        metrics = workdirs.read(
            os.path.join(workdir, "runs", name, "metrics.json")
        )
        if done and metrics:
            per_epoch = metrics["train_time_s"] / metrics["epochs"]
            seconds.setdefault(_model_key(entry), []).append(per_epoch)
            where = (done.get("machine") or {}).get("cpu_model")
            lines.append(f"{name}: done ({where}, {per_epoch:.0f} s an epoch)")
            continue
        trained = _epochs_done(entry, workdir)
        if not done:
            pending.append((_model_key(entry), name, _epochs(entry) - trained))
        lines.append(
            f"{name}: started, {trained} of {_epochs(entry)} epochs"
            if started
            else f"{name}: not started"
        )
    left, unknown = 0.0, []
    for key, name, epochs in pending:
        if key in seconds:
            left += sum(seconds[key]) / len(seconds[key]) * epochs / 3600
        else:
            unknown.append(name)
    lines.append(
        f"{done_count} of {len(entries)} runs done; training left: "
        f"{left:.1f} core-hours"
        + (
            f", plus {len(unknown)} runs of models none has finished "
            f"({', '.join(sorted(unknown))})"
            if unknown
            else ""
        )
    )
    return lines


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    workdir = os.path.abspath(flags.FLAGS.workdir)
    source = flags.FLAGS.source and os.path.abspath(flags.FLAGS.source)
    entries = read_queue(flags.FLAGS.queue)
    if flags.FLAGS.adopt:
        names = workdirs.adopt(entries, workdir, flags.FLAGS.adopt)
        say(f"adopted {len(names)} finished runs: {', '.join(names)}")
    if flags.FLAGS.status:
        print("\n".join(status(entries, workdir)))
        return
    here = fingerprint()
    say(f"machine: {here['cpu_model']}, oneDNN {here['onednn']}")
    for group in workdirs.retrain_split_groups(entries, workdir, here):
        say(f"group {group}: started on another machine; retraining it here")
    todo = [
        e
        for e in entries
        if not os.path.exists(workdirs.marker(workdir, "done", e["name"]))
    ]
    say(f"{len(entries) - len(todo)} of {len(entries)} runs done")
    if flags.FLAGS.measure or flags.FLAGS.only_measure:
        training = [e for e in todo if e["app"] == "classify"]
        rates = measure(training, workdir, flags.FLAGS.core, source)
        say(
            f"cost of the {len(training)} training runs to do: "
            f"{cost_hours(training, rates):.1f} core-hours "
            "(evaluation not counted)"
        )
        if flags.FLAGS.only_measure:
            return
    start = time.monotonic()
    for entry in todo:
        name = entry["name"]
        if not workdirs.claim(workdir, name):
            say(f"{name}: another worker has it")
            continue
        try:
            if os.path.exists(workdirs.marker(workdir, "done", name)):
                continue  # finished by another worker meanwhile
            if not perform(entry, workdir, flags.FLAGS.core, here, source):
                sys.exit(1)
        finally:
            workdirs.release(workdir, name)
    say(f"queue finished in {(time.monotonic() - start) / 3600:.1f} h")


if __name__ == "__main__":
    # Defined here, not on import: tests import this module beside others.
    flags.DEFINE_string("queue", None, "Queue file (JSON lines).")
    flags.DEFINE_string("workdir", None, "Campaign work directory.")
    flags.DEFINE_integer("core", None, "CPU core to pin the runs to.")
    flags.DEFINE_bool(
        "measure", False, "Time each distinct model first and print the cost."
    )
    flags.DEFINE_bool("only_measure", False, "Print the cost and stop.")
    flags.DEFINE_bool(
        "status", False, "Print where each run stands and what is left."
    )
    flags.DEFINE_string(
        "source", None, "Checkout whose apps run (default: this directory)."
    )
    flags.DEFINE_list(
        "adopt", [], "Folders of finished runs to take in (new machine)."
    )
    flags.mark_flags_as_required(["queue", "workdir"])
    app.run(main)
