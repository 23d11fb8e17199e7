"""Where a ConvMixer training step spends its time, op by op.

Times, on one block-sized tensor (batch x 16 x 16 x dim for convmixer_256_8
at patch 2), each piece of a ConvMixer block forward and backward, as a
compiled `tf.function`, interleaved and repeated: the depthwise convolution
(forward; + input gradient; + filter gradient), the 1x1 convolution (the
same three), BatchNorm (Keras' and the fused one) and GELU (Keras', the
hand-differentiated one uncompiled, and the package's, which XLA compiles
into one loop each way), the convolutions again compiled whole by XLA, plus
a pass that only reads and writes the tensor once (`copy`, the memory
floor). A step of the network runs `depth` blocks of these; compare the sum
with `benchmarks/train_throughput.py`.

    python -m benchmarks.components            # batch 128, dim 256, k 8
    python -m benchmarks.components --kernel_size=5 --batch_size=64

Prints JSON: milliseconds per call, and per-block totals for Full and Chans
with stock and with the package's BatchNorm/GELU.
"""

from __future__ import annotations

import statistics
import time

import keras
import tensorflow as tf
from absl import app, flags

from benchmarks import common
from spatialmix_keras import activations
from spatialmix_keras.activations import gelu
from spatialmix_keras.normalization import FusedBatchNormalization

_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per step.")
_DIM = flags.DEFINE_integer("dim", 256, "Channels.")
_SIZE = flags.DEFINE_integer("size", 16, "Height and width of the tensor.")
_KERNEL = flags.DEFINE_integer("kernel_size", 8, "Depthwise kernel size.")
_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed calls per piece.")
_XLA = flags.DEFINE_bool(
    "xla",
    True,
    "Also time the convolutions compiled whole by XLA (`jit_compile=True`).",
)


def _grad_fn(layer, wrt_input, wrt_weights, jit=False):
    """A compiled forward (and backward) pass through `layer`."""

    @tf.function(jit_compile=jit)
    def run(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        sources = ([x] if wrt_input else []) + (
            list(layer.trainable_weights) if wrt_weights else []
        )
        if not sources:
            return tf.reduce_sum(y)
        return [tf.reduce_sum(g) for g in tape.gradient(loss, sources)]

    return run


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    shape = (_BATCH.value, _SIZE.value, _SIZE.value, _DIM.value)
    x = tf.random.stateless_normal(shape, (0, 1))
    upstream = tf.random.stateless_normal(shape, (2, 3))

    def fresh(make):
        layer = make()
        layer.build(shape)
        return layer

    depthwise = lambda: keras.layers.DepthwiseConv2D(  # noqa: E731
        _KERNEL.value, padding="same", use_bias=True
    )
    pointwise = lambda: keras.layers.Conv2D(_DIM.value, 1)  # noqa: E731
    pieces = {
        "copy": tf.function(lambda x, u: tf.reduce_sum(x + u)),
        "depthwise_forward": _grad_fn(fresh(depthwise), False, False),
        "depthwise_input_grad": _grad_fn(fresh(depthwise), True, False),
        "depthwise_all_grads": _grad_fn(fresh(depthwise), True, True),
        "pointwise_forward": _grad_fn(fresh(pointwise), False, False),
        "pointwise_all_grads": _grad_fn(fresh(pointwise), True, True),
        "batchnorm_keras": _grad_fn(
            fresh(lambda: keras.layers.BatchNormalization(momentum=0.9)),
            True,
            True,
        ),
        "batchnorm_fused": _grad_fn(
            fresh(lambda: FusedBatchNormalization(momentum=0.9)), True, True
        ),
        "gelu_keras": _grad_fn(keras.layers.Activation("gelu"), True, False),
        "gelu_ours": _grad_fn(keras.layers.Activation(gelu), True, False),
        # The same derivative without XLA (SPATIALMIX_XLA_LOOPS=0).
        "gelu_ours_uncompiled": _grad_fn(
            keras.layers.Activation(activations._tf_gelu(xla=False)),
            True,
            False,
        ),
    }
    if _XLA.value:
        # XLA over the whole piece, as `jit_compile=True` would compile it.
        pieces |= {
            "depthwise_input_grad_xla": _grad_fn(
                fresh(depthwise), True, False, jit=True
            ),
            "depthwise_all_grads_xla": _grad_fn(
                fresh(depthwise), True, True, jit=True
            ),
            "pointwise_all_grads_xla": _grad_fn(
                fresh(pointwise), True, True, jit=True
            ),
        }
    for fn in pieces.values():
        fn(x, upstream)
    samples = {name: [] for name in pieces}
    for _ in range(_REPEATS.value):
        for name, fn in pieces.items():
            start = time.perf_counter()
            result = fn(x, upstream)
            tf.nest.map_structure(lambda t: t.numpy(), result)
            samples[name].append(time.perf_counter() - start)
    ms = {n: 1e3 * statistics.median(s) for n, s in samples.items()}

    def block(spatial_learns, bn, act):
        dw = "depthwise_all_grads" if spatial_learns else "depthwise_input_grad"
        return ms[dw] + ms["pointwise_all_grads"] + 2 * (ms[bn] + ms[act])

    common.emit(
        {
            "benchmark": "components",
            "tensor": list(shape),
            "kernel_size": _KERNEL.value,
            "machine": common.machine(),
            "ms": ms,
            "block_ms": {
                "full_stock": block(True, "batchnorm_keras", "gelu_keras"),
                "chans_stock": block(False, "batchnorm_keras", "gelu_keras"),
                "full_ours": block(True, "batchnorm_fused", "gelu_ours"),
                "chans_ours": block(False, "batchnorm_fused", "gelu_ours"),
            },
        }
    )


if __name__ == "__main__":
    app.run(main)
