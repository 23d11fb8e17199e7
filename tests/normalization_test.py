"""FusedBatchNormalization against the stock Keras layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import get_model
from spatialmix_keras.normalization import FusedBatchNormalization


def _pair(shape, momentum=0.9, **kwargs):
    rng = np.random.default_rng(0)
    layers = (
        keras.layers.BatchNormalization(momentum=momentum, **kwargs),
        FusedBatchNormalization(momentum=momentum, **kwargs),
    )
    for layer in layers:
        layer.build(shape)
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        values = rng.uniform(0.5, 1.5, size=shape[-1]).astype("float32")
        for layer in layers:
            if hasattr(layer, name) and getattr(layer, name) is not None:
                getattr(layer, name).assign(values)
    return layers


def _step(layer, x, weights):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * weights)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [y, *grads, layer.moving_mean, layer.moving_variance]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epsilon": 1e-5},
        {"epsilon": 1e-3, "center": False},
        {"epsilon": 1e-5, "scale": False},
    ],
)
def test_training_step_matches_the_stock_layer(kwargs):
    shape = (8, 5, 7, 6)
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(2.0, 3.0, shape).astype("float32"))
    weights = tf.constant(rng.normal(size=shape).astype("float32"))
    stock, fused = _pair(shape, **kwargs)
    for _ in range(2):  # the second step starts from updated statistics
        expected = _step(stock, x, weights)
        got = _step(fused, x, weights)
    assert len(expected) == len(got)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        fused(x, training=False), stock(x, training=False), rtol=1e-5, atol=1e-5
    )


def test_moving_variance_uses_the_biased_batch_variance():
    x = np.arange(2 * 2 * 2 * 1, dtype="float32").reshape(2, 2, 2, 1)
    layer = FusedBatchNormalization(momentum=0.0)
    layer(x, training=True)
    assert np.isclose(layer.moving_mean.numpy()[0], x.mean())
    assert np.isclose(layer.moving_variance.numpy()[0], x.var())  # ddof=0


def test_other_ranks_and_axes_fall_back_to_the_stock_layer():
    x = np.random.default_rng(2).normal(size=(4, 3, 5)).astype("float32")
    for axis in (-1, 1):
        stock = keras.layers.BatchNormalization(axis=axis)
        fused = FusedBatchNormalization(axis=axis)
        np.testing.assert_allclose(
            fused(x, training=True), stock(x, training=True), atol=1e-6
        )


def test_models_train_like_stock_batchnorm_models():
    """A ConvMixer step with fused BN moves the weights as with stock BN."""
    model = get_model("convmixer_tiny", freeze="spatial", seed=0)
    clone = keras.models.clone_model(
        model,
        clone_function=lambda layer: (
            keras.layers.BatchNormalization.from_config(layer.get_config())
            if isinstance(layer, FusedBatchNormalization)
            else layer.__class__.from_config(layer.get_config())
        ),
    )
    clone.set_weights(model.get_weights())
    assert not any(
        isinstance(layer, FusedBatchNormalization) for layer in clone.layers
    )
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(16,))
    for m in (model, clone):
        m.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        m.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_16_bit_inputs_keep_float32_statistics_without_casts(dtype):
    """Under a mixed policy the kernel takes the 16-bit activations as they
    are (no cast of the tensor either way) and matches the stock layer, which
    upcasts, to the 16-bit rounding; the moving statistics stay float32."""
    shape = (8, 5, 7, 6)
    rng = np.random.default_rng(4)
    x = tf.cast(rng.normal(2.0, 3.0, shape).astype("float32"), dtype)
    weights = tf.cast(rng.normal(size=shape).astype("float32"), dtype)
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(f"mixed_{dtype}")
    try:
        stock, fused = _pair(shape)
        expected = _step(stock, x, weights)
        got = _step(fused, x, weights)
        graph = tf.function(lambda t: fused(t, training=True))
        ops = graph.get_concrete_function(x).graph.get_operations()
        inference = (stock(x, training=False), fused(x, training=False))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert got[0].dtype == dtype and got[1].dtype == dtype  # y, dL/dx
    for a, b in zip(expected, got, strict=True):
        a, b = np.asarray(a, "float32"), np.asarray(b, "float32")
        np.testing.assert_allclose(b, a, rtol=2e-2, atol=2e-2)
    assert inference[1].dtype == dtype
    np.testing.assert_allclose(
        np.asarray(inference[1], "float32"),
        np.asarray(inference[0], "float32"),
        rtol=2e-2,
        atol=2e-2,
    )
    assert fused.moving_mean.dtype == "float32"
    np.testing.assert_allclose(
        fused.moving_mean, stock.moving_mean, rtol=1e-5, atol=1e-5
    )
    activation_casts = [
        op.name
        for op in ops
        if op.type == "Cast" and op.inputs[0].shape.rank == 4
    ]
    assert activation_casts == []
