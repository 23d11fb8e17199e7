"""TensorFlow paths around CPU kernels that are slow in bfloat16.

On a CPU with bf16 units (AVX512_BF16, AMX), oneDNN's matmul runs bfloat16
at several times its float32 rate, but some of TensorFlow's other bf16
kernels do not keep up (`benchmarks/op_profile.py` sums a step's time per
op type in both precisions):

- XLA's bfloat16 conversion keeps a compiled elementwise CPU loop from
  vectorising: `bfloat16_to_float32` and `float32_to_bfloat16` do the same
  conversions with integer ops, bit for bit (an erf loop over a
  128x16x16x256 tensor: 17 ms with XLA's conversion, 5.5 ms with these).
- Eigen's bfloat16 elementwise kernels are slower than its float32 ones:
  `add` sums two tensors in one compiled loop (with the conversions
  above), and its gradient passes the upstream gradient through without
  the stock op's broadcast reduction; `fork` hands out a tensor twice and
  sums the two gradients in such a loop, not in TensorFlow's `AddN`.
- The weight gradient of a 1x1 convolution (`Conv2DBackpropFilter`) runs in
  bf16 at a third of the forward convolution's rate, although it is one
  matmul: `pointwise_conv` computes the forward pass with the stock
  convolution and its gradients as matmuls (a 256-to-256 1x1 convolution
  over 128x16x16, forward and backward: 38 ms stock, 26 ms here). The bias
  gradient is a matmul too: the stock bf16 one sums in bf16 and was off by
  up to 5% over 144 rows.
- oneDNN's bf16 backward depthwise kernel is slower than its float32 one
  (234 against 152 ms a ConvMixer-256/8 step): `depthwise_conv` computes
  the input gradient as a forward depthwise convolution.

Each function computes the same values as the stock op, up to the order
of a sum (tests compare them).

The compiled loops need XLA. Set the environment variable
`SPATIALMIX_XLA_LOOPS=0` where it is not available (some TensorFlow
plugins): the same ops then run uncompiled. It is read when a model is
built or traced.
"""

from __future__ import annotations

import os

import tensorflow as tf


def xla_loops():
    """Whether elementwise loops are compiled (`SPATIALMIX_XLA_LOOPS`)."""
    return os.environ.get("SPATIALMIX_XLA_LOOPS", "1") != "0"


def compiled(fn):
    """`fn` as one XLA-compiled function (a fused loop on a CPU)."""
    return tf.function(fn, jit_compile=True, autograph=False)


def bfloat16_to_float32(x):
    """Widens a bfloat16 tensor to float32, exactly, with integer ops."""
    bits = tf.cast(tf.bitcast(x, tf.uint16), tf.uint32)
    return tf.bitcast(tf.bitwise.left_shift(bits, 16), tf.float32)


def float32_to_bfloat16(y):
    """Rounds a float32 tensor to bfloat16 as `tf.cast` does (to nearest,
    ties to even), with integer ops; NaN stays NaN."""
    bits = tf.bitcast(y, tf.uint32)
    odd = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 16), 1)
    rounded = tf.bitwise.right_shift(bits + odd + 0x7FFF, 16)
    rounded = tf.where(
        tf.math.is_nan(y), tf.constant(0x7FC0, tf.uint32), rounded
    )
    return tf.bitcast(tf.cast(rounded, tf.uint16), tf.bfloat16)


def widen(x):
    """`x` in float32 if it is 16-bit (bfloat16 with integer ops), else as
    it is: the inside of a compiled loop computes in float32."""
    if x.dtype == tf.bfloat16:
        return bfloat16_to_float32(x)
    return tf.cast(x, tf.float32) if x.dtype.size < 4 else x


def narrow(y, dtype):
    """`y` rounded once to `dtype` (to bfloat16 with integer ops)."""
    if dtype == tf.bfloat16:
        return float32_to_bfloat16(y)
    return tf.cast(y, dtype)


def _sum(a, b):
    return narrow(widen(a) + widen(b), a.dtype)


_compiled_sum = compiled(_sum)


def _plus(a, b):
    """`a + b`, in one compiled loop where `xla_loops()` allows."""
    return _compiled_sum(a, b) if xla_loops() else a + b


def add(a, b):
    """`a + b` for two tensors of one shape and dtype, in one compiled loop;
    the gradient reaches both unchanged."""

    @tf.custom_gradient
    def op(a, b):
        return _plus(a, b), lambda upstream: (upstream, upstream)

    return op(a, b)


def fork(x):
    """Two references to `x` whose gradients are summed in one compiled
    loop: TensorFlow sums the gradients of a tensor used twice with `AddN`,
    which in bf16 runs in Eigen's software conversion (a ConvMixer-256/8
    step: 80 ms of `AddN` in bf16 against 34 in float32)."""

    @tf.custom_gradient
    def op(x):
        def grad(da, db):
            if da is None or db is None:
                return db if da is None else da
            return _plus(da, db)

        return (tf.identity(x), tf.identity(x)), grad

    return op(x)


def _channel_sums(dy):
    """The bias gradient, per channel, as a matmul: TensorFlow's bf16
    `BiasAddGrad` is slow and sums in bf16."""
    rows = tf.reshape(dy, (-1, dy.shape[-1]))
    ones = tf.ones((1, tf.shape(rows)[0]), dy.dtype)
    return tf.reshape(tf.matmul(ones, rows), (-1,))


@tf.custom_gradient
def _pointwise(x, kernel, bias):
    y = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "VALID"), bias)

    def grad(dy):
        c_in, c_out = kernel.shape[-2], kernel.shape[-1]
        rows = tf.reshape(x, (-1, c_in))
        dy_rows = tf.reshape(dy, (-1, c_out))
        d_kernel = tf.matmul(rows, dy_rows, transpose_a=True)
        d_x = tf.matmul(
            dy_rows, tf.reshape(kernel, (c_in, c_out)), transpose_b=True
        )
        return (
            tf.reshape(d_x, tf.shape(x)),
            tf.reshape(d_kernel, kernel.shape),
            _channel_sums(dy),
        )

    return y, grad


def pointwise_conv(x, kernel, bias=None):
    """A stride-1 1x1 convolution of channels-last `x` plus `bias`, whose
    gradients are matmuls.

    Args:
        x: `(batch, rows, cols, c_in)`.
        kernel: `(1, 1, c_in, c_out)`, the dtype of `x`.
        bias: `(c_out,)` or None.

    Returns:
        `(batch, rows, cols, c_out)`, as `tf.nn.conv2d` plus `bias`.
    """
    if bias is None:
        bias = tf.zeros(kernel.shape[-1], x.dtype)
    return _pointwise(x, kernel, bias)


def depthwise_conv(x, kernel, bias=None, padding="same"):
    """A stride-1 depthwise convolution (depth multiplier 1) of
    channels-last `x` plus `bias`, whose input gradient is a forward
    depthwise convolution.

    The gradient with respect to `x` is the upstream gradient, padded on
    the opposite sides, correlated with the kernel turned by 180 degrees:
    oneDNN's forward depthwise kernel runs that in bf16 faster than its
    own backward one (a ConvMixer-256/8 step: 1267 to 1147 ms on one core).
    The padding is the convolution's own explicit padding, not a `tf.pad`:
    one 128x16x16x256 bf16 gradient with an 8x8 kernel, 27 to 19 ms.

    Args:
        x: `(batch, rows, cols, channels)`.
        kernel: `(k_h, k_w, channels, 1)`, the dtype of `x`.
        bias: `(channels,)` or None.
        padding: `"same"` or `"valid"`, as in Keras.

    Returns:
        `(batch, rows', cols', channels)`, as `tf.nn.depthwise_conv2d`
        plus `bias`.
    """
    if bias is None:
        bias = tf.zeros(kernel.shape[-2], x.dtype)
    k_h, k_w = kernel.shape[0], kernel.shape[1]
    padding = padding.upper()
    # TensorFlow's "SAME" pads (k - 1) // 2 before and the rest after.
    before = ((k_h - 1) // 2, (k_w - 1) // 2) if padding == "SAME" else (0, 0)
    after = (
        (k_h - 1 - before[0], k_w - 1 - before[1])
        if padding == "SAME"
        else (0, 0)
    )
    backward_pads = [
        [0, 0],
        [k_h - 1 - before[0], k_h - 1 - after[0]],
        [k_w - 1 - before[1], k_w - 1 - after[1]],
        [0, 0],
    ]

    @tf.custom_gradient
    def op(x, kernel, bias):
        y = tf.nn.bias_add(
            tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], padding), bias
        )

        def grad(dy):
            d_x = tf.nn.depthwise_conv2d(
                dy, tf.reverse(kernel, [0, 1]), [1, 1, 1, 1], backward_pads
            )
            d_kernel = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
                input=x,
                filter_sizes=tf.shape(kernel),
                out_backprop=dy,
                strides=[1, 1, 1, 1],
                padding=padding,
            )
            return d_x, d_kernel, _channel_sums(dy)

        return y, grad

    return op(x, kernel, bias)
