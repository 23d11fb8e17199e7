import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import (  # importing any layer registers them all
    PointwiseConv2D,
    SpatialDepthwiseConv2D,
    SpatialSeparableConv2D,
    freeze_flags,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _same_pad(size, k, stride):
    """TensorFlow's "same" padding: the odd pixel of padding goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2


def numpy_depthwise(x, kernel, stride):
    """Reference depthwise conv, "same" padding, loops over taps."""
    n, h, w, c = x.shape
    k_h, k_w, _, d = kernel.shape
    out_h, top = _same_pad(h, k_h, stride)
    out_w, left = _same_pad(w, k_w, stride)
    padded = np.zeros((n, h + k_h + stride, w + k_w + stride, c))
    padded[:, top : top + h, left : left + w] = x
    y = np.zeros((n, out_h, out_w, c, d))
    for i in range(k_h):
        for j in range(k_w):
            patch = padded[
                :,
                i : i + stride * out_h : stride,
                j : j + stride * out_w : stride,
            ]
            y += patch[..., None] * kernel[i, j]
    # Keras orders depthwise outputs channel-major: c0d0, c0d1, ..., c1d0.
    return y.reshape(n, out_h, out_w, c * d)


def numpy_separable(x, depthwise, pointwise, bias, stride):
    y = numpy_depthwise(x, depthwise, stride)
    return y @ pointwise[0, 0] + bias


@pytest.mark.parametrize("k", [3, 4, 5, 8])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("multiplier", [1, 3])
def test_separable_matches_numpy_reference(k, stride, multiplier):
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.normal(size=(2, 11, 10, 4)).astype("float32")
    layer = SpatialSeparableConv2D(
        5,
        k,
        strides=stride,
        padding="same",
        depth_multiplier=multiplier,
        bias_initializer="random_normal",
    )
    y = _np(layer(x))
    expected = numpy_separable(
        x,
        _np(layer.depthwise_kernel),
        _np(layer.pointwise_kernel),
        _np(layer.bias),
        stride,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [3, 8])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_matches_numpy_reference(k, stride):
    x = np.random.default_rng(k).normal(size=(2, 9, 12, 3)).astype("float32")
    layer = SpatialDepthwiseConv2D(
        k,
        strides=stride,
        padding="same",
        depth_multiplier=2,
        bias_initializer="random_normal",
    )
    y = _np(layer(x))
    expected = numpy_depthwise(x, _np(layer.kernel), stride) + _np(layer.bias)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_both_flags_on_is_numerically_the_stock_layer():
    x = np.random.default_rng(0).normal(size=(3, 12, 12, 4)).astype("f4")
    ours = SpatialSeparableConv2D(
        6, 3, depth_multiplier=2, padding="same", compose="never"
    )
    stock = keras.layers.SeparableConv2D(
        6, 3, depth_multiplier=2, padding="same"
    )
    ours.build(x.shape)
    stock.build(x.shape)
    for name in ("depthwise_kernel", "pointwise_kernel", "bias"):
        getattr(stock, name).assign(getattr(ours, name))
    with tf.GradientTape(persistent=True) as tape:
        tx = tf.constant(x)
        tape.watch(tx)
        y_ours, y_stock = ours(tx), stock(tx)
    np.testing.assert_array_equal(_np(y_ours), _np(y_stock))
    for a, b in [
        (ours.depthwise_kernel, stock.depthwise_kernel),
        (ours.pointwise_kernel, stock.pointwise_kernel),
    ]:
        np.testing.assert_array_equal(
            _np(tape.gradient(y_ours, a.value)),
            _np(tape.gradient(y_stock, b.value)),
        )


@pytest.mark.parametrize("freeze", ["none", "spatial", "channel"])
def test_frozen_kernels_stay_frozen_after_trainable_toggle(freeze):
    spatial, channel = freeze_flags(freeze)
    layer = SpatialSeparableConv2D(
        4, 3, spatial_trainable=spatial, channel_trainable=channel
    )
    layer.build((None, 8, 8, 2))
    layer.trainable = False
    assert layer.trainable_weights == []
    layer.trainable = True
    trainable = {w.name for w in layer.trainable_weights}
    expected = set()
    if spatial:
        expected.add("depthwise_kernel")
    if channel:
        expected |= {"pointwise_kernel", "bias"}
    assert trainable == expected
    assert {w.name for w in layer.non_trainable_weights} == (
        {"depthwise_kernel", "pointwise_kernel", "bias"} - expected
    )


def test_depthwise_and_pointwise_freeze_kernel_and_bias():
    dw = SpatialDepthwiseConv2D(3, spatial_trainable=False)
    pw = PointwiseConv2D(4, channel_trainable=False)
    dw.build((None, 8, 8, 2))
    pw.build((None, 8, 8, 2))
    for layer in (dw, pw):
        layer.trainable = True
        assert layer.trainable_weights == []
        assert {w.name for w in layer.non_trainable_weights} == {
            "kernel",
            "bias",
        }


def _trainable_count(layer):
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


@pytest.mark.parametrize("c_in,c_out,k", [(16, 32, 3), (3, 16, 7), (64, 8, 5)])
def test_trainable_parameter_counts_follow_equations_1_to_3(c_in, c_out, k):
    d = k * k  # eq. (3)
    p_conv = c_in * c_out * k**2  # eq. (1)
    p_depth, p_point = c_in * k**2 * d, c_in * d * c_out  # eq. (2)
    assert p_point == p_conv
    counts = {}
    for freeze in ("none", "spatial", "channel"):
        spatial, channel = freeze_flags(freeze)
        layer = SpatialSeparableConv2D(
            c_out,
            k,
            depth_multiplier=d,
            use_bias=False,
            spatial_trainable=spatial,
            channel_trainable=channel,
        )
        layer.build((None, 16, 16, c_in))
        counts[freeze] = _trainable_count(layer)
    conv = keras.layers.Conv2D(c_out, k, use_bias=False)
    conv.build((None, 16, 16, c_in))
    assert counts == {
        "none": p_depth + p_point,
        "spatial": p_point,
        "channel": p_depth,
    }
    assert _trainable_count(conv) == p_conv == counts["spatial"]


def test_bad_layer_arguments_name_argument_and_value():
    with pytest.raises(ValueError) as info:
        freeze_flags("spatal")
    assert str(info.value) == (
        "Invalid value for argument `freeze`. Expected one of ('none', "
        "'spatial', 'channel'). Received: freeze='spatal'"
    )
    with pytest.raises(ValueError) as info:
        SpatialSeparableConv2D(4, 3, depth_multiplier=0)
    assert str(info.value) == (
        "Invalid value for argument `depth_multiplier`. Expected an integer "
        ">= 1. Received: depth_multiplier=0"
    )
    with pytest.raises(ValueError, match=r"spatial_trainable='no'"):
        SpatialDepthwiseConv2D(3, spatial_trainable="no")
    with pytest.raises(ValueError, match=r"kernel_size=3"):
        PointwiseConv2D(4, kernel_size=3)


def _small_model():
    inputs = keras.Input((12, 12, 3))
    x = SpatialSeparableConv2D(
        8,
        3,
        depth_multiplier=2,
        padding="same",
        spatial_trainable=False,
        depthwise_initializer="smoothed",
    )(inputs)
    x = SpatialDepthwiseConv2D(5, spatial_trainable=False, padding="same")(x)
    x = PointwiseConv2D(4, channel_trainable=False)(x)
    x = SpatialSeparableConv2D(6, 3, channel_trainable=False)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_keras_file_round_trip_keeps_weights_flags_and_predictions(tmp_path):
    model = _small_model()
    x = np.random.default_rng(1).uniform(size=(4, 12, 12, 3)).astype("f4")
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode stays on
    np.testing.assert_array_equal(_np(model(x)), _np(loaded(x)))
    for a, b in zip(model.layers, loaded.layers, strict=True):
        assert type(a) is type(b)
        assert a.get_config() == b.get_config()
        assert [w.name for w in a.trainable_weights] == [
            w.name for w in b.trainable_weights
        ]
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_array_equal(_np(wa), _np(wb))
    # A model rebuilt from its config alone has the same frozen filters:
    # the initializers' seeds are part of the config.
    rebuilt = keras.Model.from_config(model.get_config())
    np.testing.assert_array_equal(
        _np(rebuilt.layers[1].depthwise_kernel),
        _np(model.layers[1].depthwise_kernel),
    )


def test_saved_model_export_reloads_and_predicts_the_same(tmp_path):
    model = _small_model()
    x = np.random.default_rng(2).uniform(size=(4, 12, 12, 3)).astype("f4")
    export_dir = os.path.join(tmp_path, "export")
    model.export(export_dir, verbose=False)
    reloaded = tf.saved_model.load(export_dir)
    np.testing.assert_allclose(
        reloaded.serve(tf.constant(x)).numpy(),
        _np(model(x)),
        rtol=1e-5,
        atol=1e-6,
    )
