"""Injected faults: a full disk during export, a kill during export."""

import errno
import functools
import json
import os
import subprocess
import sys

import conftest
import keras
import numpy as np
import pytest
from killing import kill_when_exists

from spatialmix_keras import export, get_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tree(path):
    """Every file under `path` with its bytes."""
    found = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, path)] = f.read()
    return found


def test_full_disk_during_export_keeps_the_previous_export(
    tmp_path, monkeypatch
):
    model = get_model("convmixer_tiny", input_shape=(8, 8, 3), seed=0)
    target = export.export_run(
        model, str(tmp_path), "run", files={"config.json": {"v": 1}}
    )
    before = _tree(target)

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:  # a partial write, then ENOSPC
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(export.ExportError) as info:
        export.export_run(
            model,
            str(tmp_path),
            "run",
            files={"config.json": {"v": 2}},
            overwrite=True,
        )
    assert info.value.errno == errno.ENOSPC
    assert "No space left on device" in str(info.value)
    assert "previous export there is unchanged" in str(info.value)
    assert _tree(target) == before
    assert os.listdir(tmp_path) == ["run"]  # no staging left behind


SITE_FULL_DISK = """
import errno
import functools
import keras
def _full(self, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")
keras.Model.save = _full
"""


def test_classify_on_a_full_disk_exits_nonzero_and_keeps_the_export(
    data_dir, tmp_path
):
    exports = tmp_path / "saved_models"
    old = exports / "run"
    old.mkdir(parents=True)
    (old / "model.keras").write_bytes(b"previous model")
    # Fault injection in the child process only, through sitecustomize.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE_FULL_DISK)
    env = {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.classify",
            "--config=configs/resnet_cifar10.py:smoke",
            "--epochs=1",
            f"--workdir={tmp_path / 'work'}",
            f"--export_dir={exports}",
            "--run_name=run",
            "--overwrite",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "No space left on device" in result.stderr
    assert "previous export there is unchanged" in result.stderr
    assert "Traceback" not in result.stderr
    assert _tree(old) == {"model.keras": b"previous model"}
    # The export target's lock file, and no staging directory.
    assert sorted(os.listdir(exports)) == [".run.lock", "run"]


SITE_SLOW_EXPORT = """
import os, time
import keras
_save = keras.Model.save
def _slow(self, *args, **kwargs):
    open(os.environ["EXPORT_STARTED"], "w").close()
    time.sleep(60)
    return _save(self, *args, **kwargs)
keras.Model.save = _slow
"""


CONFIG = {
    "classify": "--config=configs/resnet_cifar10.py:smoke",
    "unshuffle": "--config=configs/unshuffle_mnist.py:smoke",
}
INPUT = {"classify": (32, 32, 3), "unshuffle": (14, 14, 1)}


def _kill_during_export_then_rerun(app, data_dir, root):
    """Kills `apps.<app>` in `root` once its export has begun, then runs
    the same command again: `(exported before the rerun?, rerun result)`."""
    exports = root / "saved_models"
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE_SLOW_EXPORT)
    started = root / "export_started"
    args = [
        sys.executable,
        "-m",
        f"apps.{app}",
        CONFIG[app],
        f"--workdir={root / 'work'}",
        f"--export_dir={exports}",
        "--run_name=run",
    ]
    env = {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "EXPORT_STARTED": str(started),
    }
    # Killed mid-export: the SavedModel is written, the .keras file not.
    kill_when_exists(
        args,
        started,
        cwd=REPO,
        env={**env, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"},
    )
    exported_before = (exports / "run").exists()
    rerun = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    return exported_before, rerun


@pytest.fixture(scope="module")
def killed_exports(request, data_dir, tmp_path_factory):
    """`{app: (root, exported before the rerun?, rerun result)}` of the
    selected apps, side by side, each in its own directory."""
    roots = {
        app: tmp_path_factory.mktemp(f"killed_{app}")
        for app in conftest.selected_params(request, "app")
    }
    outcomes = conftest.side_by_side(
        {
            app: functools.partial(
                _kill_during_export_then_rerun, app, data_dir, root
            )
            for app, root in roots.items()
        }
    )
    return {app: (roots[app], *outcomes[app]) for app in outcomes}


@pytest.mark.parametrize("app", ["classify", "unshuffle"])
def test_kill_during_export_leaves_no_partial_export_and_rerun_completes(
    app, killed_exports
):
    root, exported_before, result = killed_exports[app]
    exports = root / "saved_models"
    # No export appeared under its final name; only a staging directory.
    assert not exported_before
    # Re-running resumes after the last epoch and writes a whole export.
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(epoch 2 done)" in result.stderr
    # The killed staging is gone; the lock file of the export target stays.
    assert sorted(os.listdir(exports)) == [".run.lock", "run"]
    expected = ["config.json", "metrics.json", "model.keras", "saved_model"]
    if app == "unshuffle":
        expected.insert(3, "permutation.json")
    assert sorted(os.listdir(exports / "run")) == expected
    with open(root / "work" / "history.json") as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2]
    loaded = export.load_for_eval(str(exports / "run" / "model.keras"))
    x = np.zeros((1, *INPUT[app]), "float32")
    sm = export.load_for_eval(
        str(exports / "run" / "saved_model"), trust_saved_model=True
    )
    np.testing.assert_allclose(
        np.asarray(loaded(x)), np.asarray(sm(x)), rtol=1e-5, atol=1e-6
    )


def test_unshuffle_killed_mid_training_resumes_to_a_whole_export(
    data_dir, tmp_path
):
    args = [
        sys.executable,
        "-m",
        "apps.unshuffle",
        "--config=configs/unshuffle_mnist.py:smoke",
        "--epochs=3",
        "--steps_per_epoch=25",
        f"--workdir={tmp_path / 'work'}",
        f"--export_dir={tmp_path / 'exports'}",
        "--run_name=u",
    ]
    env = {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    history = tmp_path / "work" / "history.json"
    # Killed once the first epoch is checkpointed (its record comes first).
    checkpoint = tmp_path / "work" / "checkpoints" / "checkpoint"
    kill_when_exists(args, checkpoint, cwd=REPO, env=env)
    with open(history) as f:
        done = [h["epoch"] for h in json.load(f)]
    assert done[-1] < 3
    result = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"(epoch {done[-1]} done)" in result.stderr
    with open(history) as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2, 3]
    assert sorted(os.listdir(tmp_path / "exports" / "u")) == [
        "config.json",
        "metrics.json",
        "model.keras",
        "permutation.json",
        "saved_model",
    ]
