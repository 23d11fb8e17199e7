"""Two replicas without a GPU: two logical CPUs, or two local workers."""

import json
import os
import socket
import subprocess
import sys

import pytest

from spatialmix_keras import distribute

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(REPO, "tests", "distributed_worker.py")


def _env(data_dir, **extra):
    return {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": REPO,
        **extra,
    }


def _metrics(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def _assert_learned(metrics):
    assert metrics["num_replicas"] == 2
    assert metrics["global_batch_size"] == 32
    losses = metrics["train_losses"]
    assert len(losses) == 4
    assert losses[-1] < losses[0], losses


def test_mirrored_strategy_over_two_logical_cpus(data_dir, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            WORKER,
            "mirrored",
            str(tmp_path / "run"),
            str(tmp_path / "export"),
        ],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = _metrics(result.stdout)
    assert metrics["strategy"] == "MirroredStrategy"
    _assert_learned(metrics)
    assert os.path.isdir(tmp_path / "export" / "two_replicas" / "saved_model")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_strategy_with_two_local_workers(
    data_dir, tmp_path
):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = json.dumps(
            {
                "cluster": {"worker": workers},
                "task": {"type": "worker", "index": index},
            }
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    WORKER,
                    "multi_worker",
                    str(tmp_path / "run"),
                    str(tmp_path / "export"),
                ],
                env=_env(data_dir, TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=400))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr[-3000:]
    chief = _metrics(outputs[0][0])
    # MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy.
    assert chief["strategy"] in (
        "MultiWorkerMirroredStrategy",
        "CollectiveAllReduceStrategy",
    )
    # Both workers took the same synchronous steps.
    assert _metrics(outputs[1][0])["train_losses"] == chief["train_losses"]
    _assert_learned(chief)
    # Only the chief's export is kept in place.
    assert os.path.isdir(tmp_path / "export" / "two_replicas" / "saved_model")


def test_auto_strategy_on_one_cpu_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = distribute.get_strategy("default")
    assert strategy.num_replicas_in_sync == 1
    assert distribute.is_chief(strategy)
    with pytest.raises(ValueError, match="strategy='gpu'"):
        distribute.get_strategy("gpu")
