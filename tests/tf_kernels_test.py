"""The TensorFlow paths around slow bfloat16 CPU kernels against the stock
ops they replace."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import tf_kernels
from spatialmix_keras.layers import PointwiseConv2D, SpatialDepthwiseConv2D
from spatialmix_keras.merging import Fork, FusedAdd


def _compiled_and_eager(fn):
    return [fn, tf_kernels.compiled(fn)]


@pytest.mark.parametrize("which", [0, 1], ids=["eager", "xla"])
def test_bfloat16_widening_is_exact_for_every_bit_pattern(which):
    widen = _compiled_and_eager(tf_kernels.bfloat16_to_float32)[which]
    bits = tf.constant(np.arange(2**16, dtype=np.uint16))
    x = tf.bitcast(bits, tf.bfloat16)
    got, want = widen(x).numpy(), tf.cast(x, tf.float32).numpy()
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan], want[~nan])


@pytest.mark.parametrize("which", [0, 1], ids=["eager", "xla"])
def test_bfloat16_rounding_matches_tf_cast(which):
    narrow = _compiled_and_eager(tf_kernels.float32_to_bfloat16)[which]
    rng = np.random.default_rng(0)
    random = rng.normal(0, 1e3, 100_000).astype(np.float32)
    # Ties (the lower 16 bits exactly 0x8000), both parities; the largest
    # finite floats (round to inf); infinities, NaN, zeros, subnormals.
    ties = (rng.integers(0, 2**31, 1000, dtype=np.uint32) & 0xFFFF0000) | 0x8000
    special = np.array(
        [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, -1e-40, 3.4028235e38],
        np.float32,
    )
    y = tf.constant(np.concatenate([random, ties.view(np.float32), special]))
    got = tf.bitcast(narrow(y), tf.uint16).numpy()
    want = tf.bitcast(tf.cast(y, tf.bfloat16), tf.uint16).numpy()
    nan = np.isnan(y.numpy())
    assert np.isnan(tf.cast(narrow(y), tf.float32).numpy()[nan]).all()
    np.testing.assert_array_equal(got[~nan], want[~nan])


def _normal_tensors(count, dtype, seed):
    rng = np.random.default_rng(seed)
    return [
        tf.cast(rng.normal(size=(3, 4, 5, 6)).astype("float32"), dtype)
        for _ in range(count)
    ]


@pytest.mark.parametrize("xla", ["1", "0"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_add_matches_the_sum_and_passes_the_gradient(xla, dtype, monkeypatch):
    monkeypatch.setenv("SPATIALMIX_XLA_LOOPS", xla)
    a, b, up = _normal_tensors(3, dtype, seed=1)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        total = tf_kernels.add(a, b)
    assert total.dtype == dtype
    # Rounded once from the float32 sum: what tf.add gives, bit for bit.
    np.testing.assert_array_equal(
        tf.cast(total, "float32"), tf.cast(tf.add(a, b), "float32")
    )
    grads = tape.gradient(total, [a, b], output_gradients=up)
    for grad in grads:
        np.testing.assert_array_equal(grad, up)


def test_fused_add_is_the_stock_add_and_serializes():
    x = keras.Input((4, 4, 3))
    y = keras.layers.Conv2D(3, 3, padding="same")(x)
    model = keras.Model(x, FusedAdd(name="sum")([x, y]))
    stock = keras.Model(x, keras.layers.Add()([x, y]))
    batch = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(model(batch), stock(batch), rtol=0, atol=0)
    clone = keras.Model.from_config(model.get_config())
    assert isinstance(clone.get_layer("sum"), FusedAdd)
    # Three inputs take the stock path.
    three = FusedAdd()([batch, batch, batch])
    np.testing.assert_allclose(three, 3 * batch, rtol=1e-6)


@pytest.mark.parametrize("xla", ["1", "0"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_fork_sums_the_gradients_as_tensorflow_does(xla, dtype, monkeypatch):
    monkeypatch.setenv("SPATIALMIX_XLA_LOOPS", xla)
    x, up_a, up_b = _normal_tensors(3, dtype, seed=4)
    fork = Fork()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a, b = fork(x)
        # The stock way: the same tensor used twice, summed by `AddN`.
        stock = tf.identity(x), tf.identity(x)
    for y in (a, b):
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, x)
    got = tape.gradient([a, b], x, output_gradients=[up_a, up_b])
    want = tape.gradient(list(stock), x, output_gradients=[up_a, up_b])
    np.testing.assert_array_equal(
        tf.cast(got, "float32"), tf.cast(want, "float32")
    )
    # One output unused: the other's gradient, unchanged.
    only = tape.gradient(a, x, output_gradients=up_a)
    np.testing.assert_array_equal(only, up_a)


def test_fork_keeps_addn_out_of_a_bfloat16_convmixer_gradient():
    from spatialmix_keras.models import get_model

    def gradient_ops(policy):
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = get_model(
                "convmixer_128_4", freeze="spatial", seed=0,
                input_shape=(8, 8, 3), dim=8, depth=2, kernel_size=3,
            )  # fmt: skip
        finally:
            keras.mixed_precision.set_global_policy("float32")

        @tf.function
        def grads(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x, training=True))
            return tape.gradient(loss, model.trainable_weights)

        graph = grads.get_concrete_function(
            tf.TensorSpec((2, 8, 8, 3), tf.float32)
        ).graph
        return [
            op for op in graph.get_operations()
            if op.type == "AddN" and op.outputs[0].shape.rank == 4
        ]  # fmt: skip

    # Each block's input is used twice: float32 sums its two gradients
    # with `AddN`; bf16 does it in the fork's compiled loop.
    assert len(gradient_ops("float32")) == 2
    assert gradient_ops("mixed_bfloat16") == []


def _pointwise_pair(strides=1, use_bias=True):
    ours = PointwiseConv2D(5, strides=strides, use_bias=use_bias)
    stock = keras.layers.Conv2D(5, 1, strides=strides, use_bias=use_bias)
    shape = (4, 6, 6, 7)
    ours.build(shape)
    stock.build(shape)
    rng = np.random.default_rng(3)
    weights = [
        w.astype("float32")
        for w in (rng.normal(size=(1, 1, 7, 5)), rng.normal(size=(5,)))
    ][: 2 if use_bias else 1]
    ours.set_weights(weights)
    stock.set_weights(weights)
    return ours, stock, shape


def _forward_backward(layer, x, up):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    grads = tape.gradient(y, [x, *layer.trainable_weights], output_gradients=up)
    return [np.asarray(tf.cast(t, "float32")) for t in (y, *grads)]


@pytest.mark.parametrize("use_bias", [True, False])
def test_pointwise_matmul_gradients_match_a_float32_computation(use_bias):
    """Under `mixed_bfloat16`, the stride-1 PointwiseConv2D computes its
    gradients as matmuls. Values and gradients match the float32 stock
    Conv2D on the same (bf16-rounded) numbers, to bf16 rounding."""
    rng = np.random.default_rng(4)
    ours, stock, shape = _pointwise_pair(1, use_bias)
    out = (*shape[:3], 5)
    x, up = (
        tf.cast(rng.normal(size=s).astype("float32"), "bfloat16")
        for s in (shape, out)
    )
    rounded = [
        tf.cast(tf.cast(w, "bfloat16"), "float32") for w in stock.weights
    ]
    for w, value in zip(stock.weights, rounded, strict=True):
        w.assign(value)
    want = _forward_backward(
        stock, tf.cast(x, "float32"), tf.cast(up, "float32")
    )
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        ours, _, _ = _pointwise_pair(1, use_bias)
        ours.set_weights([w.numpy() for w in rounded])
        assert ours._matmul_gradients()
        strided, _, _ = _pointwise_pair(2, use_bias)
        assert not strided._matmul_gradients()
        got = _forward_backward(ours, x, up)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert len(got) == len(want) == (4 if use_bias else 3)
    for g, w in zip(got, want, strict=True):
        # float32 sums rounded once to bfloat16 (8 significant bits); the
        # stock bf16 bias gradient misses this by up to 5% (it sums in bf16).
        np.testing.assert_allclose(
            g, w, rtol=2**-7, atol=2**-8 * np.abs(w).max()
        )


def test_pointwise_float32_keeps_the_stock_convolution():
    ours, _, _ = _pointwise_pair()
    assert not ours._matmul_gradients()


@pytest.mark.parametrize(
    "kernel_size, padding", [(3, "same"), (8, "same"), (5, "valid")]
)
def test_depthwise_forward_gradient_matches_a_float32_computation(
    kernel_size, padding
):
    """Under `mixed_bfloat16`, the stride-1 SpatialDepthwiseConv2D computes
    its input gradient as a forward convolution with the turned kernel
    (even kernels pad unevenly: 8 pads 3 before and 4 after). Values and
    the gradients of input, kernel and bias match the float32 stock layer
    on the same (bf16-rounded) numbers, to bf16 rounding."""
    shape = (2, 9, 10, 4)
    rng = np.random.default_rng(5)

    def pair():
        ours = SpatialDepthwiseConv2D(kernel_size, padding=padding)
        stock = keras.layers.DepthwiseConv2D(kernel_size, padding=padding)
        ours.build(shape)
        stock.build(shape)
        return ours, stock

    _, stock = pair()
    weights = [
        tf.cast(tf.cast(rng.normal(size=w.shape), "bfloat16"), "float32")
        for w in stock.weights
    ]
    stock.set_weights(weights)
    x = tf.cast(rng.normal(size=shape).astype("float32"), "bfloat16")
    out_shape = stock.compute_output_shape(shape)
    up = tf.cast(rng.normal(size=out_shape).astype("float32"), "bfloat16")
    want = _forward_backward(
        stock, tf.cast(x, "float32"), tf.cast(up, "float32")
    )
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        ours, _ = pair()
        ours.set_weights(weights)
        assert ours._forward_gradient()
        got = _forward_backward(ours, x, up)
        strided = SpatialDepthwiseConv2D(3, strides=2)
        doubled = SpatialDepthwiseConv2D(3, depth_multiplier=2)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert not strided._forward_gradient()
    assert not doubled._forward_gradient()
    assert not pair()[0]._forward_gradient()  # float32: the stock path
    assert len(got) == len(want) == 4
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(
            g, w, rtol=2**-7, atol=2**-8 * np.abs(w).max()
        )


@pytest.mark.parametrize("freeze", ["none", "spatial"])
def test_bfloat16_convmixer_gradients_follow_float32(freeze):
    """The bf16 paths together (fork, depthwise and pointwise gradients,
    GELU, residual sums) against the same network in float32."""
    from spatialmix_keras.models import get_model

    def build(policy):
        keras.mixed_precision.set_global_policy(policy)
        try:
            return get_model(
                "convmixer_128_4", freeze=freeze, seed=0,
                input_shape=(8, 8, 3), dim=16, depth=2, kernel_size=4,
            )  # fmt: skip
        finally:
            keras.mixed_precision.set_global_policy("float32")

    exact, rounded = build("float32"), build("mixed_bfloat16")
    rounded.set_weights(exact.get_weights())
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def gradients(model):
        with tf.GradientTape() as tape:
            value = loss(y, tf.cast(model(x, training=True), "float32"))
        grads = tape.gradient(value, model.trainable_weights)
        return {
            w.path: np.asarray(tf.cast(g, "float32"))
            for w, g in zip(model.trainable_weights, grads, strict=True)
        }

    want, got = gradients(exact), gradients(rounded)
    # The stem is a stock Conv2D: TensorFlow's bf16 bias gradient sums in
    # bf16 (off by more than its size here); it is not ours to test.
    checked = [path for path in want if not path.startswith("stem_conv/")]
    assert len(checked) > 10
    for path in checked:
        error = np.linalg.norm(got[path] - want[path])
        # bf16 keeps 8 bits: ~1-5% over a whole backward pass here.
        assert error <= 0.08 * np.linalg.norm(want[path]), path
