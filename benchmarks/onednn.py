r"""Does `TF_ENABLE_ONEDNN_OPTS=1` pay where TensorFlow leaves oneDNN off?

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with
AVX-512 class features; on an AVX2-only CPU (the AMD EPYC of some runs
here) it runs its own Eigen kernels unless `TF_ENABLE_ONEDNN_OPTS=1` is set
before it loads. The setting is read once per process, so the two candidates
are two worker processes (`--worker`); this driver interleaves their timed
windows (A, B, A, B, ...) and reports medians and the ratio, and checks that
both compute the same loss from the same weights (rounding apart).

The networks are those of the cifar-scale campaign: Fig. 4's ConvMixer
(width 128, depth 2, kernel 8, patch 4) in every mode, Fig. 9's depth-4
Chans ConvMixer, the separable ResNet-8 (Figs. 2, 5, 8) and Fig. 12's
un-shuffler (depth 8, width 64, kernel 9), at their training batch sizes.

    python -m benchmarks.onednn --windows=5 --steps=2 --threads=1
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags

_WORKER = flags.DEFINE_bool(
    "worker", False, "Internal: time candidates on request (stdin/stdout)."
)
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows per candidate.")
_STEPS = flags.DEFINE_integer("steps", 2, "Training steps per window.")
_THREADS = flags.DEFINE_integer(
    "threads", 1, "TensorFlow intra-op threads (the campaign runs on one)."
)
_NETWORKS = flags.DEFINE_list(
    "networks",
    "convmixer_d2_none,convmixer_d2_spatial,convmixer_d2_channel,"
    "convmixer_d4_spatial,resnet8_none,resnet8_spatial,"
    "unshuffler_d8_none,unshuffler_d8_spatial",
    "Candidates: <convmixer_d2|convmixer_d4|resnet8|unshuffler_d8>_<freeze>.",
)

# name -> (variant, builder arguments, input shape, batch size, task)
_NETWORK_SPECS = {
    f"convmixer_d{depth}": (
        "convmixer_128_4",
        {"depth": depth, "kernel_size": 8, "patch_size": 4},
        (32, 32, 3),
        128,
        "classify",
    )
    for depth in (2, 4)
}
_NETWORK_SPECS.update(
    {
        "resnet8": ("resnet8", {}, (32, 32, 3), 128, "classify"),
        "unshuffler_d8": (
            "unshuffler_128_8",
            {
                "dim": 64,
                "depth": 8,
                "kernel_size": 9,
                "input_shape": (32, 32, 3),
            },
            (32, 32, 3),
            64,
            "unshuffle",
        ),
    }
)


def _parse(candidate):
    network, _, freeze = candidate.rpartition("_")
    if network not in _NETWORK_SPECS or freeze not in (
        "none",
        "spatial",
        "channel",
    ):
        raise ValueError(
            "Invalid value for argument `networks`. Expected names like "
            f"'convmixer_d2_spatial' ({sorted(_NETWORK_SPECS)} x none / "
            f"spatial / channel). Received: {candidate!r}"
        )
    return network, freeze


def _worker(candidates, threads):
    """Builds every candidate, prints its first loss, then times a window of
    `steps` training steps for each `<name> <steps>` line read."""
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks import common
    from spatialmix_keras import models

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    built, batches, losses = {}, {}, {}
    for name in candidates:
        network, freeze = _parse(name)
        variant, arguments, shape, batch_size, task = _NETWORK_SPECS[network]
        keras.utils.set_random_seed(0)
        model = models.get_model(variant, freeze=freeze, seed=0, **arguments)
        rng = np.random.default_rng(0)
        x = rng.uniform(size=(batch_size, *shape)).astype("float32")
        if task == "unshuffle":
            y = x  # any image target: the cost is the network's
            loss = keras.losses.MeanSquaredError()
        else:
            y = rng.integers(0, 10, size=(batch_size,)).astype("int32")
            loss = None
        common.compile_for_training(model, loss=loss)
        losses[name] = float(model.evaluate(x, y, verbose=0))
        model.train_on_batch(x, y)  # tracing
        model.train_on_batch(x, y)
        built[name], batches[name] = model, (x, y)
    print(json.dumps({"losses": losses, "machine": common.machine()}))
    sys.stdout.flush()
    for line in sys.stdin:
        name, steps = line.split()
        x, y = batches[name]
        start = time.perf_counter()
        for _ in range(int(steps)):
            built[name].train_on_batch(x, y)
        print((time.perf_counter() - start) / int(steps))
        sys.stdout.flush()


def _default_onednn():
    """Whether TensorFlow turns oneDNN on here when nothing asks it to."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from spatialmix_keras.machine import onednn_enabled; "
            "print(onednn_enabled())",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return probe.stdout.strip().splitlines()[-1] == "True"


def _start(setting, candidates, threads):
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.onednn",
            "--worker",
            f"--networks={','.join(candidates)}",
            f"--threads={threads}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def main(argv):
    del argv
    candidates = list(_NETWORKS.value)
    for name in candidates:
        _parse(name)
    if _WORKER.value:
        _worker(candidates, _THREADS.value)
        return
    workers = {s: _start(s, candidates, _THREADS.value) for s in ("0", "1")}
    ready = {s: json.loads(w.stdout.readline()) for s, w in workers.items()}
    samples = {(s, n): [] for s in workers for n in candidates}
    for _ in range(_WINDOWS.value):
        for name in candidates:
            for setting, worker in workers.items():
                worker.stdin.write(f"{name} {_STEPS.value}\n")
                worker.stdin.flush()
                samples[setting, name].append(float(worker.stdout.readline()))
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    results = {}
    for name in candidates:
        off = statistics.median(samples["0", name])
        on = statistics.median(samples["1", name])
        loss_off, loss_on = (ready[s]["losses"][name] for s in ("0", "1"))
        results[name] = {
            "ms_per_step_onednn_off": 1e3 * off,
            "ms_per_step_onednn_on": 1e3 * on,
            "speedup_on_over_off": off / on,
            "first_loss_off": loss_off,
            "first_loss_on": loss_on,
            "loss_relative_difference": abs(loss_on - loss_off)
            / max(abs(loss_off), 1e-12),
        }
    from benchmarks import common

    common.emit(
        {
            "question": "TF_ENABLE_ONEDNN_OPTS=1 against 0: training step "
            "time of the cifar-scale networks (two worker processes, "
            "interleaved windows, medians)",
            "tensorflow_default_onednn": _default_onednn(),
            "onednn_in_workers": {
                f"TF_ENABLE_ONEDNN_OPTS={s}": ready[s]["machine"]["onednn"]
                for s in ("0", "1")
            },
            "windows": _WINDOWS.value,
            "steps_per_window": _STEPS.value,
            "threads": _THREADS.value,
            "machine": ready["0"]["machine"],
            "results": results,
        }
    )


if __name__ == "__main__":
    app.run(main)
