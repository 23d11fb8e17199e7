"""GELU with a hand-written gradient, each direction one fused loop.

ConvMixer applies an exact GELU, `x * Phi(x)`, twice per block. Automatic
differentiation of Keras' GELU keeps several intermediate tensors and runs
one elementwise op per term of the chain rule; on a CPU those passes over
memory cost more than the arithmetic. `gelu` computes the same function and
its exact derivative, `Phi(x) + x * phi(x)`, and on TensorFlow has XLA
compile each of the two into a single elementwise loop (tests compare both
with Keras' GELU to 1e-5). Only these elementwise functions are compiled:
XLA makes convolutions and reductions slower on a CPU, so the rest of the
graph stays as it is. `benchmarks/components.py` measures the gain (forward
plus backward of a 128x16x16x256 tensor on 2 cores: Keras 51 ms, the
hand-written gradient alone 38 ms, compiled 18 ms).

Under a 16-bit policy the loop reads and writes 16-bit values but computes
in float32, rounding once (on a CPU, XLA's and Eigen's bfloat16 arithmetic
op by op was slower than float32: `benchmarks/op_profile.py`).

Set the environment variable `SPATIALMIX_XLA_LOOPS=0` where XLA is not
available (some TensorFlow plugins): the hand-written gradient is kept and
the ops run uncompiled (`spatialmix_keras.tf_kernels`). On other backends
it is Keras' GELU.
"""

from __future__ import annotations

import functools
import math

import keras

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@functools.cache
def _tf_gelu(xla):
    import tensorflow as tf

    from spatialmix_keras import tf_kernels

    def compiled(fn):
        return tf_kernels.compiled(fn) if xla else fn

    # 16-bit inputs are computed in float32 inside the loop and rounded
    # once at the end: on a CPU, bfloat16 arithmetic op by op is slower
    # than float32 and rounds at every step. Compiled, bfloat16 is widened
    # and rounded with integer ops: XLA's own bfloat16 conversion keeps its
    # CPU loop from vectorising (an erf loop 17 ms instead of 5.5).
    def wide(x):
        if xla:
            return tf_kernels.widen(x)
        return tf.cast(x, "float32") if x.dtype.size < 4 else x

    def narrow(y, dtype):
        return tf_kernels.narrow(y, dtype) if xla else tf.cast(y, dtype)

    @compiled
    def forward(x):
        x32 = wide(x)
        return narrow(
            x32 * (0.5 * (1.0 + tf.math.erf(x32 * _INV_SQRT2))), x.dtype
        )

    @compiled
    def backward(x, upstream):
        x32 = wide(x)
        cdf = 0.5 * (1.0 + tf.math.erf(x32 * _INV_SQRT2))
        pdf = tf.exp(-0.5 * tf.square(x32)) * _INV_SQRT_2PI
        return narrow(wide(upstream) * (cdf + x32 * pdf), upstream.dtype)

    @tf.custom_gradient
    def gelu_tf(x):
        return forward(x), lambda upstream: backward(x, upstream)

    return gelu_tf


@keras.saving.register_keras_serializable(package="spatialmix_keras")
def gelu(x):
    """Exact GELU, `x * Phi(x)`, with a fused derivative on TensorFlow.

    Example:
    >>> float(gelu(np.float32(1.0)))  # 1 * Phi(1)
    0.8413447...
    """
    if keras.backend.backend() != "tensorflow":
        return keras.activations.gelu(x, approximate=False)
    from spatialmix_keras.tf_kernels import xla_loops

    xla = xla_loops()
    return _tf_gelu(xla)(keras.ops.convert_to_tensor(x))
