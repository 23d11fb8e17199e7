"""Where does composing a separable convolution into one convolution pay?

`SpatialSeparableConv2D(compose=...)` computes the same function two ways:
depthwise then pointwise (`"never"`, the stock `tf.nn.separable_conv2d`), or
one standard convolution with the composed kernel `W = D.P` (`"always"`).
For each shape this times forward + the gradients of the input and of every
trainable kernel (Full), or of the input and P only (Chans), for both ways,
interleaved in one process, and prints the composed/separable multiply-add
ratio beside the measured speed-up: `compose="auto"` composes up to a
ratio chosen from this table (`layers.COMPOSE_MAX_FLOP_RATIO`), below the
one where the speed-up falls under 1.

    python -m benchmarks.compose            # ~2 min on 2 cores
    python -m benchmarks.compose --batch_size=32 --windows=3
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import common
from spatialmix_keras.layers import SpatialSeparableConv2D, composed_flop_ratio

_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per step.")
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows per candidate.")
_STEPS = flags.DEFINE_integer("steps", 3, "Steps per window.")

# (size, c_in, filters, k, d, stride): the separable ResNets' shapes (d 9,
# k 3), ResNet-8's at d 3 (the d-sweep control, left uncomposed by "auto"),
# and a d sweep at two widths that crosses the boundary.
SHAPES = (
    (32, 16, 16, 3, 9, 1),
    (16, 32, 32, 3, 9, 1),
    (8, 64, 64, 3, 9, 1),
    (32, 16, 32, 3, 9, 2),
    (32, 16, 16, 3, 3, 1),
    (16, 32, 32, 3, 3, 1),
    (8, 64, 64, 3, 3, 1),
    (16, 64, 64, 3, 1, 1),
    (16, 64, 64, 3, 2, 1),
    (16, 64, 64, 3, 4, 1),
    (16, 64, 64, 3, 9, 1),
    (8, 256, 256, 3, 1, 1),
    (8, 256, 256, 3, 2, 1),
    (8, 256, 256, 3, 4, 1),
    (16, 32, 32, 5, 2, 1),
    (16, 32, 32, 5, 4, 1),
)


def _step_fn(layer, freeze_spatial):
    weights = [layer.pointwise_kernel]
    if not freeze_spatial:
        weights.append(layer.depthwise_kernel)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, *[w.value for w in weights]])

    return step


def _time(candidates, x):
    for step in candidates.values():
        step(x)
        step(x)
    samples = {name: [] for name in candidates}
    for _ in range(_WINDOWS.value):
        for name, step in candidates.items():
            start = time.perf_counter()
            for _ in range(_STEPS.value):
                step(x)
            samples[name].append((time.perf_counter() - start) / _STEPS.value)
    return {name: statistics.median(s) for name, s in samples.items()}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    rows = []
    for size, c_in, filters, k, d, stride in SHAPES:
        x = tf.constant(
            np.random.default_rng(0)
            .normal(size=(_BATCH.value, size, size, c_in))
            .astype("float32")
        )
        layers = {}
        for compose in ("never", "always"):
            layers[compose] = SpatialSeparableConv2D(
                filters,
                k,
                strides=stride,
                padding="same",
                depth_multiplier=d,
                use_bias=False,
                compose=compose,
            )
            layers[compose].build(x.shape)
        layers["always"].set_weights(layers["never"].get_weights())
        row = {
            "input": [size, size, c_in],
            "filters": filters,
            "kernel": k,
            "depth_multiplier": d,
            "stride": stride,
            "flop_ratio": composed_flop_ratio((k, k), c_in, d, filters),
        }
        for mode, frozen in (("full", False), ("chans", True)):
            times = _time(
                {c: _step_fn(layer, frozen) for c, layer in layers.items()}, x
            )
            row[f"{mode}_separable_ms"] = 1e3 * times["never"]
            row[f"{mode}_composed_ms"] = 1e3 * times["always"]
            row[f"{mode}_speedup"] = times["never"] / times["always"]
        rows.append(row)
        print(
            f"{size}x{size}x{c_in}->{filters} k{k} d{d} s{stride}: "
            f"flop ratio {row['flop_ratio']:.2f}, speed-up full "
            f"{row['full_speedup']:.2f}x chans {row['chans_speedup']:.2f}x",
            flush=True,
        )
    common.emit(
        {
            "benchmark": "compose",
            "batch_size": _BATCH.value,
            "windows": _WINDOWS.value,
            "steps": _STEPS.value,
            "machine": common.machine(),
            "results": rows,
        }
    )


if __name__ == "__main__":
    app.run(main)
