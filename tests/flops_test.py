"""FLOP counts against multiply-adds counted by hand."""

import keras
import pytest

from spatialmix_keras import flops
from spatialmix_keras.layers import PointwiseConv2D, SpatialSeparableConv2D


def _chans_model():
    inputs = keras.Input((8, 8, 3))
    x = SpatialSeparableConv2D(
        4, 3, depth_multiplier=2, padding="same", spatial_trainable=False
    )(inputs)
    x = PointwiseConv2D(5)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_forward_and_step_flops_match_a_hand_count():
    # Multiply-adds per example, by hand:
    #   depthwise 3x3, 3 channels x 2, on 8x8:  64 * 6 * 9  = 3456
    #   its pointwise 6 -> 4:                   64 * 6 * 4  = 1536
    #   PointwiseConv2D 4 -> 5:                 64 * 4 * 5  = 1280
    #   Dense 5 -> 2:                                          10
    model = _chans_model()
    assert flops.forward_flops(model) == 2 * (3456 + 1536 + 1280 + 10)
    # Training: the frozen depthwise kernel runs forward only (its input is
    # the image); the pointwise part of that layer needs no input gradient
    # either, since nothing before it learns: forward + kernel gradient.
    # The later layers run forward, input and kernel gradients.
    expected = 2 * (3456 * 1 + 1536 * 2 + 1280 * 3 + 10 * 3)
    assert flops.step_flops(model) == expected


def test_learning_the_depthwise_kernel_adds_its_gradients():
    model = _chans_model()
    full = SpatialSeparableConv2D(4, 3, depth_multiplier=2, padding="same")
    inputs = keras.Input((8, 8, 3))
    x = full(inputs)
    x = PointwiseConv2D(5)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    full_model = keras.Model(inputs, keras.layers.Dense(2)(x))
    # Full adds the depthwise kernel gradient (3456) and, now that it is
    # needed, the input gradient of the separable pointwise part (1536).
    extra = 2 * (3456 + 1536)
    assert flops.step_flops(full_model) == flops.step_flops(model) + extra


def test_strided_valid_convolution_and_a_nested_model():
    inputs = keras.Input((9, 9, 2))
    x = keras.layers.Conv2D(3, 3, strides=2)(inputs)  # 4x4 out
    inner = keras.Sequential(
        [
            keras.layers.DepthwiseConv2D(3, padding="same", trainable=False),
            keras.layers.Conv2D(6, 1),
        ]
    )
    model = keras.Model(inputs, inner(x))
    conv, depthwise, pointwise = 16 * 3 * 9 * 2, 16 * 3 * 9, 16 * 3 * 6
    assert flops.forward_flops(model) == 2 * (conv + depthwise + pointwise)
    parts = {p.kernel: p for p in flops.parts(model)}
    assert not parts["depthwise"].trainable
    assert parts["depthwise"].needs_input_grad
    assert not parts["conv"].needs_input_grad


def test_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="Expected a built Keras model"):
        flops.parts(keras.Sequential([keras.layers.Dense(2)]))
