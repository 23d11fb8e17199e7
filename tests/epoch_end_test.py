"""A kill at any write of an epoch's end resumes to the files an
uninterrupted run writes: the records, the metrics and the export."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs apps.classify with one write of the first epoch's end turned into a
# SIGKILL-like exit right after it happens.
KILLED_AFTER = """
import os, runpy, sys
from spatialmix_keras import checkpoints, files, summaries
point = sys.argv[1]
sys.argv = ["classify", *sys.argv[2:]]

def dies_after(fn, when=lambda *a, **k: True):
    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs)
        if when(*args, **kwargs):
            os._exit(137)
        return out
    return wrapper

if point == "history":
    files.write_json = dies_after(
        files.write_json, lambda path, *_: path.endswith("history.json")
    )
elif point == "summaries":
    summaries.epoch = dies_after(summaries.epoch)
elif point == "checkpoint":
    checkpoints.Checkpoints.save = dies_after(checkpoints.Checkpoints.save)
runpy.run_module("apps.classify", run_name="__main__")
"""

# The writes of an epoch's end, in the order they happen.
CASES = {
    "history": "the epoch's record (history.json)",
    "summaries": "its TensorBoard summaries",
    "checkpoint": "its checkpoint",
}


def _args(tmp_path, name):
    return [
        "--config=configs/convmixer_cifar10.py:smoke",
        "--steps_per_epoch=3",
        "--config.deterministic=true",
        f"--workdir={tmp_path / name}",
        f"--export_dir={tmp_path / 'exports'}",
        f"--run_name={name}",
    ]


def _run(args, data_dir, *prefix):
    return subprocess.run(
        [sys.executable, *prefix, *args],
        cwd=REPO,
        env={**os.environ, "SPATIALMIX_DATA_DIR": data_dir},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _outputs(tmp_path, name):
    """What a run leaves, less its timings."""

    def read(path):
        with open(path) as f:
            return json.load(f)

    timing = ("train_time_s", "images_per_s", "epoch_train_time_s")
    history = [
        {k: v for k, v in record.items() if k not in timing}
        for record in read(tmp_path / name / "history.json")
    ]
    metrics = read(tmp_path / name / "metrics.json")
    return history, {
        k: metrics[k]
        for k in ("final_test_accuracy", "final_test_loss", "epochs")
    }


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """What an uninterrupted run leaves."""
    tmp_path = tmp_path_factory.mktemp("reference")
    result = _run(_args(tmp_path, "run"), data_dir, "-m", "apps.classify")
    assert result.returncode == 0, result.stderr[-3000:]
    return _outputs(tmp_path, "run")


@pytest.mark.slow
@pytest.mark.parametrize("point", list(CASES))
def test_kill_at_each_write_of_the_epoch_end_resumes_to_the_same_files(
    point, reference, data_dir, tmp_path
):
    killed = _run(
        [point, *_args(tmp_path, "run")], data_dir, "-c", KILLED_AFTER
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    resumed = _run(_args(tmp_path, "run"), data_dir, "-m", "apps.classify")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _outputs(tmp_path, "run") == reference
    assert (tmp_path / "exports" / "run" / "model.keras").exists()
