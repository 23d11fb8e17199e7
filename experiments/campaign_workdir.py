"""A campaign's work directory: what each run has reached, and who runs it.

For each queued run `<name>` the work directory holds markers,
`started/<name>.json` and `done/<name>.json` naming the machine (CPU model
and flags, oneDNN setting) the run trained on, and while a worker runs it
`claims/<name>.json`, naming that worker's process. Pairs never cross
machines: `retrain_split_groups` moves an unfinished group that another
machine started to `superseded/<time>/`, so that this machine trains it as
a whole; `adopt` rebuilds a lost work directory from finished runs
committed elsewhere; `claim` and `release` let two workers share a queue.
`experiments.campaign` drives the runs.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import time

# What a run leaves in the work directory: `<kind>/<name><suffix>`.
_KINDS = {
    "runs": "",
    "exports": "",
    "done": ".json",
    "started": ".json",
    "logs": ".log",
}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def marker(workdir, kind, name):
    return os.path.join(workdir, kind, f"{name}.json")


def mark(workdir, kind, name, machine, **extra) -> None:
    """Writes marker `kind` (`started`, `done`) of run `name`: its machine,
    the time and any `extra` fields."""
    write(
        marker(workdir, kind, name),
        {"machine": machine, **extra, "at": now()},
    )


def read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def write(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".tmp", path)


def retrain_split_groups(entries, workdir, here) -> list[str]:
    """Moves aside the runs of every unfinished group that another machine
    started, so that this one trains the whole group; returns those groups."""
    groups = {}
    for entry in entries:
        groups.setdefault(entry["group"], []).append(entry["name"])
    stamp, moved = now().replace(":", ""), []
    for group, names in groups.items():
        started = {n: read(marker(workdir, "started", n)) for n in names}
        done = [n for n in names if os.path.exists(marker(workdir, "done", n))]
        foreign = [n for n, s in started.items() if s and s["machine"] != here]
        if not foreign or len(done) == len(names):
            continue
        moved.append(group)
        for name in names:
            for kind, suffix in _KINDS.items():
                path = os.path.join(workdir, kind, name + suffix)
                if os.path.exists(path):
                    target = os.path.join(
                        workdir, "superseded", stamp, kind, name + suffix
                    )
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.move(path, target)
    return moved


def finished_file(entry):
    """The file a finished run leaves in its run folder."""
    if entry["app"] == "classify":
        return "metrics.json"
    return f"{entry['app']}.json"


def _machine_of(run_dir):
    """The fingerprint a committed run records, or None if it names none."""
    metrics = read(os.path.join(run_dir, "metrics.json")) or {}
    if "cpu_model" not in metrics:
        return None
    onednn = metrics.get("versions", {}).get("onednn")
    return {
        "cpu_model": metrics["cpu_model"],
        "cpu_flags": metrics.get("cpu_flags"),
        "onednn": None if onednn is None else str(int(onednn)),
    }


def adopt(entries, workdir, sources) -> list[str]:
    """Copies each queued run finished under one of `sources` (a folder of
    run folders) into `workdir/runs` and marks it started and done on the
    machine its metrics name; runs already marked done are left alone.
    Returns the names adopted."""
    adopted = []
    for entry in entries:
        name = entry["name"]
        if os.path.exists(marker(workdir, "done", name)):
            continue
        for source in sources:
            run_dir = os.path.join(source, name)
            if os.path.exists(os.path.join(run_dir, finished_file(entry))):
                break
        else:
            continue
        target = os.path.join(workdir, "runs", name)
        if os.path.exists(target):
            raise FileExistsError(
                f"--adopt: {target} exists but is not marked done; move it "
                "aside first"
            )
        shutil.copytree(run_dir, target)
        machine = _machine_of(run_dir)
        for kind in ("started", "done"):
            mark(workdir, kind, name, machine, adopted_from=run_dir)
        adopted.append(name)
    return adopted


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def _alive(claim) -> bool:
    """Whether the process that made `claim` still runs."""
    if claim.get("boot_id") != boot_id():
        return False
    try:
        os.kill(claim["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(workdir, name) -> bool:
    """Claims run `name` for this process; False if a live one holds it."""
    path = marker(workdir, "claims", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                held = read(path)
            except json.JSONDecodeError:  # being written, or left half so
                if time.time() - os.path.getmtime(path) < 60:
                    return False
                held = {}
            if held is None:
                continue  # released meanwhile
            if held and _alive(held):
                return False
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # its process has gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "boot_id": boot_id()}, f)
        return True
    return False


def release(workdir, name) -> None:
    path = marker(workdir, "claims", name)
    if os.path.exists(path) and (read(path) or {}).get("pid") == os.getpid():
        os.remove(path)
