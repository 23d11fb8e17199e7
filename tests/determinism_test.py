"""Same seed, same weights; a killed and resumed run ends where an
uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys

import conftest
import numpy as np
import pytest
from killing import kill_when_exists

from spatialmix_keras import export

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _args(tmp_path, name):
    return [
        sys.executable,
        "-m",
        "apps.classify",
        "--config=configs/convmixer_cifar10.py:smoke",
        "--config.augment.crop_padding=4",
        "--epochs=3",
        "--steps_per_epoch=12",
        "--config.deterministic=true",
        f"--workdir={tmp_path / name}",
        f"--export_dir={tmp_path / 'exports'}",
        f"--run_name={name}",
    ]


def _env(data_dir):
    return {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def _weights(tmp_path, name):
    model = export.load_for_eval(
        str(tmp_path / "exports" / name / "model.keras")
    ).handle
    return [np.asarray(w) for w in model.weights]


def _run(tmp_path, name, data_dir):
    result = subprocess.run(
        _args(tmp_path, name),
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """`(weights of run "a", weights of run "b")`: two uninterrupted runs of
    the same command, run side by side (they share nothing)."""
    tmp_path = tmp_path_factory.mktemp("reference")
    kwargs = {"cwd": REPO, "env": _env(data_dir)}
    results = conftest.run_side_by_side(
        {name: (_args(tmp_path, name), kwargs) for name in "ab"}
    )
    for result in results.values():
        assert result.returncode == 0, result.stderr[-3000:]
    return _weights(tmp_path, "a"), _weights(tmp_path, "b")


@pytest.mark.slow
def test_same_seed_gives_identical_weights_and_resume_matches(
    reference, data_dir, tmp_path
):
    a, b = reference
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)

    # Kill run "c" once its first epoch is checkpointed, then re-run the
    # same command.
    history = tmp_path / "c" / "history.json"
    kill_when_exists(
        _args(tmp_path, "c"),
        tmp_path / "c" / "checkpoints" / "checkpoint",
        cwd=REPO,
        env=_env(data_dir),
    )
    with open(history) as f:
        assert [h["epoch"] for h in json.load(f)][-1] < 3
    result = _run(tmp_path, "c", data_dir)
    assert "Resuming from" in result.stderr
    # Tolerance: exact. Per-epoch data seeds, a checkpointed optimizer and
    # op determinism make the resumed run bit-identical on one machine.
    for x, y in zip(a, _weights(tmp_path, "c"), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_sigterm_mid_epoch_saves_and_the_resume_is_bit_identical(
    reference, data_dir, tmp_path
):
    proc = subprocess.Popen(
        [*_args(tmp_path, "d"), "--config.log_every_steps=1"],
        cwd=REPO,
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "epoch 2/3 step 4/12" in line:
                proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = "".join(lines)
    assert proc.returncode == 75, stderr[-3000:]
    assert "classify: Stopped by SIGTERM at epoch 2, step " in stderr
    assert "Run the same command again to resume from there." in stderr
    assert not (tmp_path / "exports" / "d").exists()
    result = _run(tmp_path, "d", data_dir)
    assert "(epoch 2, step " in result.stderr
    # The batches trained before the stop are drawn again, off the clock.
    stopped_at = int(stderr.split("at epoch 2, step ")[1].split("/")[0])
    assert f"Skipped the {stopped_at} batches trained before" in result.stderr
    for x, y in zip(reference[0], _weights(tmp_path, "d"), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "setting, expected",
    [("0", "False"), ("1", "True"), (None, "True")],
    ids=["off", "on", "apps_default"],
)
def test_metrics_record_whether_onednn_ran(setting, expected):
    """TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads; what a
    run records is what that process ran with. The apps turn oneDNN on
    where the environment does not decide (TensorFlow alone leaves it off
    on CPUs without AVX-512), and leave an explicit 0 alone."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import apps; from spatialmix_keras import machine; "
            "print(machine.library_versions()['onednn'])",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().splitlines()[-1] == expected
