"""Checkpoints: written whole or not at all, verified when read, a corrupt
newest one set aside (never deleted) and the one before used."""

import errno
import json
import os
import subprocess
import sys

import conftest
import numpy as np
import pytest
import tensorflow as tf
from killing import kill_when_exists

from spatialmix_keras import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _state(value):
    return tf.train.Checkpoint(v=tf.Variable(np.full((64, 64), value, "f4")))


def _value(checkpoint):
    return float(checkpoint.v.numpy()[0, 0])


def test_save_keeps_the_newest_and_restore_reads_the_latest(tmp_path):
    state = _state(1.0)
    manager = checkpoints.Checkpoints(state, str(tmp_path), keep=2)
    assert manager.restore() is None  # a fresh run
    for value in (1.0, 2.0, 3.0):
        state.v.assign(tf.fill((64, 64), value))
        manager.save()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [
            "checkpoint",  # TensorFlow's state file
            *(
                f"ckpt-{n}.{ext}"
                for n in (2, 3)
                for ext in ("index", "data-00000-of-00001")
            ),
        ]
    )
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ckpt-3")
    fresh = _state(0.0)
    again = checkpoints.Checkpoints(fresh, str(tmp_path))
    assert again.restore() == str(tmp_path / "ckpt-3")
    assert _value(fresh) == 3.0


def test_state_file_still_names_the_newest_once_the_directory_moves(tmp_path):
    """TensorFlow's `checkpoint` file names checkpoints relative to its
    directory (a copied run directory does not point back at the old one),
    and saving logs no deprecation warning into the run."""
    code = f"""
import shutil, numpy as np, tensorflow as tf
from spatialmix_keras import checkpoints
state = tf.train.Checkpoint(v=tf.Variable(np.ones((2, 2), "f4")))
manager = checkpoints.Checkpoints(state, {str(tmp_path / "a")!r})
manager.save()
manager.save()
shutil.move({str(tmp_path / "a")!r}, {str(tmp_path / "b")!r})
print(tf.train.latest_checkpoint({str(tmp_path / "b")!r}))
"""
    result = conftest.run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(tmp_path / "b" / "ckpt-2")
    assert "deprecated" not in result.stderr


def _truncate(path):
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[: len(content) // 2])
    return content[: len(content) // 2]


def test_a_truncated_newest_checkpoint_is_set_aside_and_the_previous_used(
    tmp_path,
):
    state = _state(1.0)
    manager = checkpoints.Checkpoints(state, str(tmp_path))
    manager.save()
    state.v.assign(tf.fill((64, 64), 2.0))
    manager.save()
    cut = _truncate(tmp_path / "ckpt-2.data-00000-of-00001")
    assert not checkpoints.is_whole(str(tmp_path / "ckpt-2"))
    assert checkpoints.is_whole(str(tmp_path / "ckpt-1"))

    fresh = _state(0.0)
    resumed = checkpoints.Checkpoints(fresh, str(tmp_path))
    assert resumed.restore() == str(tmp_path / "ckpt-1")
    assert _value(fresh) == 1.0
    # Moved, not deleted: the same bytes are in aside/<time>/.
    (stamp,) = os.listdir(tmp_path / "aside")
    kept = tmp_path / "aside" / stamp / "ckpt-2.data-00000-of-00001"
    assert kept.read_bytes() == cut
    assert not os.path.exists(tmp_path / "ckpt-2.index")
    # The next save takes the free number and reads back whole.
    assert resumed.save() == str(tmp_path / "ckpt-2")
    assert checkpoints.is_whole(str(tmp_path / "ckpt-2"))


def test_no_whole_checkpoint_is_one_error_naming_the_files(tmp_path):
    manager = checkpoints.Checkpoints(_state(1.0), str(tmp_path))
    manager.save()
    _truncate(tmp_path / "ckpt-1.data-00000-of-00001")
    with pytest.raises(checkpoints.CheckpointError, match="ckpt-1 did not"):
        checkpoints.Checkpoints(_state(0.0), str(tmp_path)).restore()
    assert os.listdir(tmp_path / "aside")  # kept for inspection


class _FailingWrite:
    """A checkpoint whose write fails half way, like a full disk."""

    def __init__(self, state, error):
        self.state, self.error = state, error

    def write(self, prefix):
        with open(prefix + ".data-00000-of-00001", "wb") as f:
            f.write(b"partial")
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EROFS, "Read-only file system"),
        tf.errors.ResourceExhaustedError(None, None, "disk quota exceeded"),
    ],
)
def test_a_failed_write_keeps_the_previous_checkpoint_loadable(tmp_path, error):
    state = _state(1.0)
    checkpoints.Checkpoints(state, str(tmp_path)).save()
    before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    failing = checkpoints.Checkpoints(
        _FailingWrite(state, error), str(tmp_path)
    )
    with pytest.raises(checkpoints.CheckpointError) as raised:
        failing.save()
    message = str(raised.value)
    assert "Writing the checkpoint" in message and "ckpt-2 failed" in message
    assert f"the previous checkpoint {tmp_path / 'ckpt-1'} is whole" in message
    assert "\n" not in message
    after = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}
    assert after == before  # no staging directory, no partial file
    fresh = _state(0.0)
    assert checkpoints.Checkpoints(fresh, str(tmp_path)).restore()
    assert _value(fresh) == 1.0


def _env(data_dir, **extra):
    return {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **extra,
    }


def _classify(tmp_path):
    return [
        sys.executable,
        "-m",
        "apps.classify",
        "--config=configs/resnet_cifar10.py:smoke",
        f"--workdir={tmp_path / 'run'}",
        f"--export_dir={tmp_path / 'saved_models'}",
        "--run_name=r",
    ]


def _rerun(tmp_path, data_dir):
    return subprocess.run(
        _classify(tmp_path),
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_killed_inside_a_checkpoint_write_the_rerun_resumes_the_previous(
    data_dir, tmp_path
):
    marker = tmp_path / "paused"
    kill_when_exists(
        _classify(tmp_path),
        marker,
        cwd=REPO,
        env=_env(data_dir, **{checkpoints.PAUSE_ENV: str(marker)}),
    )
    ckpt = tmp_path / "run" / "checkpoints"
    # Killed while writing ckpt-2 (epoch 2): its files sit in the staging
    # directory, ckpt-1 (epoch 1) is whole.
    assert os.listdir(ckpt / ".writing-2")
    assert not os.path.exists(ckpt / "ckpt-2.index")
    assert checkpoints.is_whole(str(ckpt / "ckpt-1"))
    result = _rerun(tmp_path, data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(epoch 1 done)" in result.stderr
    assert "unfinished checkpoint write" in result.stderr
    with open(tmp_path / "run" / "history.json") as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2]
    assert os.path.isdir(tmp_path / "saved_models" / "r")


def test_a_run_whose_last_checkpoint_was_truncated_resumes_from_the_one_before(
    data_dir, tmp_path
):
    ckpt = tmp_path / "run" / "checkpoints"
    kill_when_exists(
        _classify(tmp_path),
        ckpt / "ckpt-2.index",
        cwd=REPO,
        env=_env(data_dir),
    )
    _truncate(ckpt / "ckpt-2.data-00000-of-00001")
    result = _rerun(tmp_path, data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "does not read back whole" in result.stderr
    assert "(epoch 1 done)" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(ckpt / "aside")
    assert os.path.isdir(tmp_path / "saved_models" / "r")
