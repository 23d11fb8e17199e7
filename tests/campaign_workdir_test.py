"""A campaign's work directory: machine changes, adoption and claims."""

import json
import os
import subprocess
import sys

from experiments import campaign_workdir as workdirs

HERE = {"cpu_model": "Intel Xeon", "cpu_flags": ["amx_bf16"], "onednn": "1"}
THERE = {**HERE, "cpu_model": "AMD EPYC"}


def test_a_group_split_by_a_machine_change_is_trained_again(tmp_path):
    workdir = str(tmp_path)
    entries = [
        {"name": n, "group": g, "app": "classify", "args": []}
        for n, g in [("a0", "s0"), ("b0", "s0"), ("a1", "s1"), ("b1", "s1")]
    ]
    # s0: one run finished elsewhere, its partner not: retrain both here.
    workdirs.mark(workdir, "started", "a0", THERE)
    workdirs.mark(workdir, "done", "a0", THERE)
    os.makedirs(os.path.join(workdir, "runs", "a0"))
    # s1: finished elsewhere as a whole: kept.
    for name in ("a1", "b1"):
        workdirs.mark(workdir, "started", name, THERE)
        workdirs.mark(workdir, "done", name, THERE)
    assert workdirs.retrain_split_groups(entries, workdir, HERE) == ["s0"]
    assert not os.path.exists(workdirs.marker(workdir, "done", "a0"))
    assert not os.path.exists(os.path.join(workdir, "runs", "a0"))
    (moved,) = os.listdir(os.path.join(workdir, "superseded"))
    assert os.path.isdir(
        os.path.join(workdir, "superseded", moved, "runs", "a0")
    )
    for name in ("a1", "b1"):
        with open(workdirs.marker(workdir, "done", name)) as f:
            assert json.load(f)["machine"] == THERE


def test_adopted_runs_keep_their_machine_and_a_split_group_retrains(tmp_path):
    """A lost work directory rebuilt from committed runs: finished runs are
    taken in as done on the machine their metrics name; a group with a run
    missing is then trained again here as a whole, a finished one is kept."""
    committed, workdir = tmp_path / "committed", str(tmp_path / "work")
    entries = [
        {"name": n, "group": g, "app": "classify", "args": []}
        for n, g in [("a0", "s0"), ("b0", "s0"), ("a1", "s1"), ("b1", "s1")]
    ]
    entries.append(
        {"name": "r1", "group": "r", "app": "robustness", "args": []}
    )
    for name in ("a0", "a1", "b1"):
        (committed / name).mkdir(parents=True)
        (committed / name / "metrics.json").write_text(
            json.dumps(
                {
                    "cpu_model": THERE["cpu_model"],
                    "cpu_flags": THERE["cpu_flags"],
                    "versions": {"onednn": True},
                }
            )
        )
    (committed / "r1").mkdir()
    (committed / "r1" / "robustness.json").write_text("{}")
    (committed / "b0").mkdir()  # unfinished: no metrics
    adopted = workdirs.adopt(entries, workdir, [str(committed)])
    assert adopted == ["a0", "a1", "b1", "r1"]
    with open(workdirs.marker(workdir, "done", "a1")) as f:
        assert json.load(f)["machine"] == THERE
    with open(workdirs.marker(workdir, "done", "r1")) as f:
        assert json.load(f)["machine"] is None  # names none: foreign
    assert os.path.exists(os.path.join(workdir, "runs", "a1", "metrics.json"))
    assert workdirs.adopt(entries, workdir, [str(committed)]) == []
    workdirs.retrain_split_groups(entries, workdir, HERE)
    assert not os.path.exists(workdirs.marker(workdir, "done", "a0"))
    for name in ("a1", "b1", "r1"):
        assert os.path.exists(workdirs.marker(workdir, "done", name))


def test_two_workers_never_take_the_same_run(tmp_path):
    workdir = str(tmp_path)
    assert workdirs.claim(workdir, "a")
    assert not workdirs.claim(workdir, "a")  # held by a live process
    assert workdirs.claim(workdir, "b")
    workdirs.release(workdir, "a")
    assert workdirs.claim(workdir, "a")
    # A claim left by a process that has gone is dropped.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    workdirs.write(
        workdirs.marker(workdir, "claims", "c"),
        {"pid": gone.pid, "boot_id": workdirs.boot_id()},
    )
    assert workdirs.claim(workdir, "c")
    workdirs.write(  # made before a reboot: gone too
        workdirs.marker(workdir, "claims", "d"),
        {"pid": os.getpid(), "boot_id": "another boot"},
    )
    assert workdirs.claim(workdir, "d")
    # Created but not yet written by its claimant: held; left so for a
    # minute (its writer died between the two): taken.
    empty = workdirs.marker(workdir, "claims", "e")
    open(empty, "w").close()
    assert not workdirs.claim(workdir, "e")
    os.utime(empty, (os.path.getmtime(empty) - 120,) * 2)
    assert workdirs.claim(workdir, "e")
