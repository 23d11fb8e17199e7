"""bfloat16 against float32: a whole training step, side by side.

For each network, builds our Chans model twice, under the `float32` and the
`mixed_bfloat16` policy (same seed), and times `train_on_batch` (SGD with
momentum, one fixed batch) in many short interleaved windows: the median
and the spread of each, the bf16 / f32 ratio per window pair, and the
windows where both precisions land on the same duration (a throttled or
shared machine sets those numbers, not the models). A large matmul is timed
in both precisions in the same run, so each step's arithmetic rate
(`flops.step_flops` per second) is also a share of the machine's matmul
rate. Records the CPU model and flags: the gain needs AVX512_BF16 or AMX.
In the same interleaving, `model.fit` over `--fit_steps` batches (one
epoch, as a user calls it) is timed beside `train_on_batch`, and
TensorFlow's retracing warnings during the timing are counted. With the
process pinned to one core (`taskset`), `fit` stalls at some epochs'
starts, which it does not on two cores (benchmarks/README.md).
Where `torch` is importable, PyTorch's standard ResNet-20 and ConvMixer-256/8
(`benchmarks/torch_reference.py`) are timed the same way in a separate
process, and the ratios ours / PyTorch are reported beside.

    python -m benchmarks.precision_step                      # both networks
    python -m benchmarks.precision_step --networks=resnet20 --windows=15
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from benchmarks import common
from spatialmix_keras import flops

_NETWORKS = flags.DEFINE_list(
    "networks", ["resnet20", "convmixer_256_8_k8"], "Networks to time."
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per step.")
_WINDOWS = flags.DEFINE_integer("windows", 9, "Timed windows per precision.")
_FIT_STEPS = flags.DEFINE_integer(
    "fit_steps",
    4,
    "Batches per `model.fit` window, timed beside `train_on_batch` "
    "(0: no fit).",
)
_STEPS = flags.DEFINE_integer("steps", 2, "Steps per window.")
_MATMUL = flags.DEFINE_integer("matmul_size", 2048, "n of the n^3 matmul.")
_THREADS = flags.DEFINE_integer(
    "threads", None, "TensorFlow intra-op threads (default: TensorFlow's)."
)
_TORCH = flags.DEFINE_bool(
    "torch",
    True,
    "Where PyTorch is installed, also time its reference networks "
    "(benchmarks/torch_reference.py) in a separate process, after ours.",
)

# Windows of two precisions closer than this are flagged as "the same".
SAME_DURATION = 0.005


def matmul_rates(n, repeats=5):
    """FLOP/s of an n^3 matmul in float32 and bfloat16 (best of repeats)."""
    import tensorflow as tf

    rates = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.random.stateless_normal((n, n), (0, 1), dtype=tf.float32)
        a = tf.cast(a, dtype)
        tf.matmul(a, a).numpy()
        best = min(
            _timed(lambda a=a: tf.matmul(a, a).numpy()) for _ in range(repeats)
        )
        rates[dtype.name] = 2 * n**3 / best
    return rates


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _RetracingCounter(logging.Handler):
    """Counts TensorFlow's "triggered tf.function retracing" warnings."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += "retracing" in record.getMessage()


def _windows(models, x, y, windows, steps, fit_steps):
    """Seconds per step of each window: `{(precision, how): [...]}` where
    `how` is `train_on_batch` or `fit` (one `model.fit` epoch of
    `fit_steps` batches, as a user calls it), all interleaved."""
    batches = {
        "x": np.tile(np.asarray(x), (fit_steps, 1, 1, 1)),
        "y": np.tile(np.asarray(y), fit_steps),
    }

    def fit(model):
        model.fit(
            batches["x"], batches["y"], batch_size=len(x), epochs=1,
            shuffle=False, verbose=0,
        )  # fmt: skip

    runs = {}
    for p, model in models.items():
        runs[p, "train_on_batch"] = (
            lambda m=model: [m.train_on_batch(x, y) for _ in range(steps)],
            steps,
        )
        if fit_steps:
            runs[p, "fit"] = (lambda m=model: fit(m), fit_steps)
    for run, _ in runs.values():  # warm: trace and build both paths
        run()
    samples = {key: [] for key in runs}
    for _ in range(windows):
        for key, (run, n) in runs.items():
            samples[key].append(_timed(run) / n)
    return samples


def time_network(network, batch_size, windows, steps, fit_steps=0):
    models = {
        p: common.compiled_model(network, p)[0] for p in common.PRECISIONS
    }
    _, _, shape = common.NETWORKS[network]
    x, y = common.random_batch(batch_size, shape)
    counter = _RetracingCounter()
    logging.getLogger("tensorflow").addHandler(counter)
    try:
        timed = _windows(models, x, y, windows, steps, fit_steps)
    finally:
        logging.getLogger("tensorflow").removeHandler(counter)
    samples = {p: timed[p, "train_on_batch"] for p in common.PRECISIONS}
    f32, bf16 = samples["float32"], samples["mixed_bfloat16"]
    same = [
        i
        for i, (a, b) in enumerate(zip(f32, bf16, strict=True))
        if abs(a - b) / max(a, b) < SAME_DURATION
    ]
    ratios = [a / b for a, b in zip(f32, bf16, strict=True)]
    step_flops = flops.step_flops(models["float32"]) * batch_size
    result = {
        "images_per_s": {
            p: batch_size / statistics.median(s) for p, s in samples.items()
        },
        "images_per_s_range": {
            p: [batch_size / max(s), batch_size / min(s)]
            for p, s in samples.items()
        },
        "bf16_over_f32": statistics.median(ratios),
        "bf16_over_f32_range": [min(ratios), max(ratios)],
        "windows_of_equal_duration": same,
        "step_flops": step_flops,
        "step_flop_per_s": {
            p: step_flops / statistics.median(s) for p, s in samples.items()
        },
        "retracing_warnings": counter.count,
    }
    if fit_steps:
        fits = {p: timed[p, "fit"] for p in common.PRECISIONS}
        result["fit_images_per_s"] = {
            p: batch_size / statistics.median(s) for p, s in fits.items()
        }
        result["fit_over_train_on_batch"] = {
            p: statistics.median(samples[p]) / statistics.median(fits[p])
            for p in fits
        }
    return result


def main(argv):
    if _THREADS.value:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(_THREADS.value)
    rates = matmul_rates(_MATMUL.value)
    result = {
        "benchmark": "precision_step",
        "machine": common.machine(),
        "batch_size": _BATCH.value,
        "windows": _WINDOWS.value,
        "matmul_flop_per_s": rates,
        "networks": {},
    }
    for network in _NETWORKS.value:
        timed = time_network(
            network, _BATCH.value, _WINDOWS.value, _STEPS.value,
            _FIT_STEPS.value,
        )  # fmt: skip
        timed["matmul_share"] = {
            "float32": timed["step_flop_per_s"]["float32"] / rates["float32"],
            "mixed_bfloat16": timed["step_flop_per_s"]["mixed_bfloat16"]
            / rates["bfloat16"],
        }
        result["networks"][network] = timed
    if _TORCH.value and importlib.util.find_spec("torch") is not None:
        result["torch"] = _torch_reference()
        for network, timed in result["networks"].items():
            theirs = result["torch"].get(network)
            if theirs:
                timed["ours_over_torch"] = {
                    "float32": timed["images_per_s"]["float32"]
                    / theirs["float32"],
                    "mixed_bfloat16": timed["images_per_s"]["mixed_bfloat16"]
                    / theirs["bfloat16"],
                }
    common.emit(result)


def _torch_reference() -> dict:
    script = os.path.join(os.path.dirname(__file__), "torch_reference.py")
    args = [
        sys.executable, script, f"--batch_size={_BATCH.value}",
        f"--windows={_WINDOWS.value}", f"--steps={_STEPS.value}",
        f"--networks={','.join(_NETWORKS.value)}",
    ]  # fmt: skip
    env = dict(os.environ)
    if _THREADS.value:
        env["OMP_NUM_THREADS"] = str(_THREADS.value)
    out = subprocess.run(
        args, capture_output=True, text=True, check=True, env=env
    ).stdout
    return json.loads(out)


if __name__ == "__main__":
    app.run(main)
