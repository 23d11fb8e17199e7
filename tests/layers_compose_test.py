"""Composed separable convolutions (`SpatialSeparableConv2D(compose=...)`)
against the stock `keras.layers.SeparableConv2D` and `keras.layers.Conv2D`."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import SpatialSeparableConv2D, get_model
from spatialmix_keras.initializers import (
    Box,
    Identity,
    SameRandom,
    SpatialRandom,
)
from spatialmix_keras.layers import compose_kernel, composed_flop_ratio


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _relative_error(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


@pytest.mark.parametrize(
    "k,stride,padding,dilation,d",
    [
        (3, 1, "same", 1, 1),
        (3, 1, "same", 1, 9),  # d = k*k: the paper's ResNets
        (3, 2, "same", 1, 9),
        (3, 1, "valid", 1, 12),  # d > k*k
        (4, 1, "same", 1, 3),  # even k: "same" pads one more after
        (4, 2, "valid", 1, 16),
        (5, 2, "same", 1, 2),
        (3, 1, "same", 2, 4),  # dilation
        (3, 1, "valid", 2, 9),
    ],
)
def test_composed_equals_stock_separable_outputs_and_gradients(
    k, stride, padding, dilation, d
):
    rng = np.random.default_rng(k * 100 + d)
    x = tf.constant(rng.normal(size=(2, 11, 10, 3)).astype("float32"))
    args = dict(
        strides=stride,
        padding=padding,
        dilation_rate=dilation,
        depth_multiplier=d,
    )
    ours = SpatialSeparableConv2D(
        5, k, compose="always", bias_initializer="random_normal", **args
    )
    stock = keras.layers.SeparableConv2D(5, k, **args)
    ours.build(x.shape)
    stock.build(x.shape)
    assert ours.composes(3)
    for name in ("depthwise_kernel", "pointwise_kernel", "bias"):
        getattr(stock, name).assign(getattr(ours, name))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_stock = ours(x), stock(x)
        # A loss that weighs every output differently.
        w = tf.constant(rng.normal(size=y_stock.shape).astype("float32"))
        loss_ours = tf.reduce_sum(y_ours * w)
        loss_stock = tf.reduce_sum(y_stock * w)
    assert _relative_error(_np(y_ours), _np(y_stock)) < 1e-5
    pairs = [(x, x)] + [
        (getattr(ours, n).value, getattr(stock, n).value)
        for n in ("depthwise_kernel", "pointwise_kernel", "bias")
    ]
    for a, b in pairs:
        ga = _np(tape.gradient(loss_ours, a))
        gb = _np(tape.gradient(loss_stock, b))
        assert _relative_error(ga, gb) < 1e-5


def test_compose_kernel_matches_numpy_sum_over_multiplier():
    rng = np.random.default_rng(0)
    k, c, d, f = 3, 4, 5, 6
    dw = rng.normal(size=(k, k, c, d)).astype("float32")
    pw = rng.normal(size=(1, 1, c * d, f)).astype("float32")
    expected = np.zeros((k, k, c, f))
    for ch in range(c):
        for m in range(d):
            expected[:, :, ch, :] += (
                dw[:, :, ch, m, None] * pw[0, 0, ch * d + m][None, None, :]
            )
    np.testing.assert_allclose(
        _np(compose_kernel(dw, pw)), expected, rtol=1e-5, atol=1e-5
    )


def test_auto_composes_the_paper_resnets_but_not_wide_d1_layers():
    # ResNet: d = k*k = 9, c_in = c_out: composed costs 9C^2 against 9C+9C^2.
    assert composed_flop_ratio((3, 3), 64, 9, 64) == pytest.approx(
        9 * 64 * 64 / (9 * 64 * 9 + 64 * 9 * 64)
    )
    resnet = SpatialSeparableConv2D(64, 3, depth_multiplier=9)
    assert resnet.composes(64)
    # d = 1 with 256 channels: composing costs ~k*k = 9x the multiply-adds.
    wide = SpatialSeparableConv2D(256, 3, depth_multiplier=1)
    assert not wide.composes(256)
    assert not SpatialSeparableConv2D(
        64, 3, depth_multiplier=9, compose="never"
    ).composes(64)
    with pytest.raises(ValueError) as info:
        SpatialSeparableConv2D(4, 3, compose="sometimes")
    assert str(info.value) == (
        "Invalid value for argument `compose`. Expected one of ('auto', "
        "'always', 'never'). Received: compose='sometimes'"
    )


def test_model_saved_composed_loads_uncomposed_and_predicts_the_same(
    tmp_path,
):
    model = get_model("resnet_tiny", freeze="spatial", seed=3)
    assert all(
        layer.compose == "auto"
        for layer in model.layers
        if isinstance(layer, SpatialSeparableConv2D)
    )
    composed = get_model(
        "resnet_tiny", freeze="spatial", seed=3, compose="always"
    )
    composed.set_weights(model.get_weights())
    path = os.path.join(tmp_path, "composed.keras")
    composed.save(path)
    loaded = keras.models.load_model(path)
    assert {
        layer.compose
        for layer in loaded.layers
        if isinstance(layer, SpatialSeparableConv2D)
    } == {"always"}
    plain = get_model("resnet_tiny", freeze="spatial", seed=99, compose="never")
    plain.load_weights(path)
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("f4")
    reference = _np(plain(x, training=False))
    assert _relative_error(_np(loaded(x, training=False)), reference) < 1e-5
    assert [w.path for w in plain.trainable_weights] == [
        w.path for w in loaded.trainable_weights
    ]


@pytest.mark.parametrize("freeze", ["spatial", "channel"])
def test_composed_layer_keeps_freeze_semantics_through_fit(freeze):
    inputs = keras.Input((8, 8, 3))
    layer = SpatialSeparableConv2D(
        4,
        3,
        depth_multiplier=9,
        padding="same",
        compose="always",
        spatial_trainable=freeze != "spatial",
        channel_trainable=freeze != "channel",
    )
    x = keras.layers.GlobalAveragePooling2D()(layer(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.compile("sgd", "mse")
    before = {w.name: _np(w).copy() for w in layer.weights}
    rng = np.random.default_rng(0)
    model.fit(
        rng.normal(size=(16, 8, 8, 3)),
        rng.normal(size=(16, 2)),
        epochs=2,
        batch_size=8,
        verbose=0,
    )
    frozen = (
        {"depthwise_kernel"}
        if freeze == "spatial"
        else {"pointwise_kernel", "bias"}
    )
    for w in layer.weights:
        if w.name in frozen:
            np.testing.assert_array_equal(_np(w), before[w.name])
        else:
            assert not np.allclose(_np(w), before[w.name])


@pytest.mark.parametrize("initializer", [SpatialRandom, SameRandom])
@pytest.mark.parametrize("k", [3, 5])
def test_chans_with_d_k2_represents_every_standard_convolution(k, initializer):
    """With d = k*k random frozen filters, each input channel's k*k x d tap
    matrix is invertible, so P can be solved from ANY standard kernel W and
    the Chans layer then equals `keras.layers.Conv2D` with W. That holds as
    well when every channel gets the SAME random filters (Fig. 5's "same"):
    one invertible matrix, repeated. In float32 the match is as close as the
    tap matrices' condition numbers allow (~1e-8 relative per unit of
    condition number, measured), so the tolerance scales with them; the
    filters are seeded."""
    c_in, c_out, d = 3, 4, k * k
    rng = np.random.default_rng(k)
    layer = SpatialSeparableConv2D(
        c_out,
        k,
        depth_multiplier=d,
        padding="same",
        use_bias=False,
        spatial_trainable=False,
        compose="never",
        depthwise_initializer=initializer(seed=k),
    )
    layer.build((None, 12, 12, c_in))
    depthwise = _np(layer.depthwise_kernel)  # the frozen random filters
    target = rng.normal(size=(k, k, c_in, c_out)).astype("float32")
    pointwise = np.zeros((1, 1, c_in * d, c_out), "float32")
    conditions = []
    for c in range(c_in):
        taps = depthwise[:, :, c, :].reshape(k * k, d).astype("float64")
        assert np.linalg.matrix_rank(taps) == k * k
        conditions.append(np.linalg.cond(taps))
        solution = np.linalg.solve(taps, target[:, :, c, :].reshape(k * k, -1))
        pointwise[0, 0, c * d : (c + 1) * d] = solution
    layer.pointwise_kernel.assign(pointwise)
    conv = keras.layers.Conv2D(c_out, k, padding="same", use_bias=False)
    conv.build((None, 12, 12, c_in))
    conv.kernel.assign(target)
    x = rng.normal(size=(2, 12, 12, c_in)).astype("float32")
    tolerance = 1e-6 * max(conditions)
    assert _relative_error(_np(layer(x)), _np(conv(x))) < tolerance


@pytest.mark.parametrize("initializer", [Box, Identity])
def test_box_and_identity_filters_span_one_spatial_pattern(initializer):
    """Fig. 5's box and identity filters give every one of a channel's d
    filters the same taps: the k*k x d tap matrix has rank 1, so a Chans
    layer built on them mixes space with one fixed pattern per channel
    (a box blur, or none at all), whatever P learns."""
    k, c_in = 3, 4
    depthwise = _np(initializer(seed=0)((k, k, c_in, k * k)))
    for c in range(c_in):
        taps = depthwise[:, :, c, :].reshape(k * k, k * k).astype("float64")
        assert np.linalg.matrix_rank(taps) == 1
