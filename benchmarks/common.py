"""Helpers shared by the benchmarks: stock-layer baselines and fair timing.

Machines here are noisy, so every benchmark times its candidates side by side
in one process, interleaving short windows (A, B, A, B, ...), and reports the
median of each; only ratios between candidates of one run are comparable.
"""

from __future__ import annotations

import json
import platform
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from spatialmix_keras.activations import gelu
from spatialmix_keras.layers import (
    PointwiseConv2D,
    SpatialDepthwiseConv2D,
    SpatialSeparableConv2D,
)
from spatialmix_keras.machine import cpu_features
from spatialmix_keras.normalization import FusedBatchNormalization


def _stock_layer(layer, convs=True):
    """The stock-layer equivalent of one of our layers (else a copy).

    With `convs=False` only BatchNorm and GELU become stock layers.
    """
    config = layer.get_config()
    if isinstance(layer, FusedBatchNormalization):
        return keras.layers.BatchNormalization.from_config(config)
    if isinstance(layer, keras.layers.Activation) and layer.activation is gelu:
        return keras.layers.Activation("gelu", name=layer.name)
    if not convs:
        return layer.__class__.from_config(config)
    if isinstance(layer, SpatialSeparableConv2D):
        return keras.Sequential(
            [
                keras.layers.DepthwiseConv2D(
                    layer.kernel_size,
                    strides=layer.strides,
                    padding=layer.padding,
                    depth_multiplier=layer.depth_multiplier,
                    use_bias=False,
                    trainable=layer.spatial_trainable,
                    name=f"{layer.name}_depthwise",
                ),
                keras.layers.Conv2D(
                    layer.filters,
                    1,
                    use_bias=layer.use_bias,
                    trainable=layer.channel_trainable,
                    name=f"{layer.name}_pointwise",
                ),
            ],
            name=layer.name,
        )
    if isinstance(layer, SpatialDepthwiseConv2D):
        trainable = config.pop("spatial_trainable")
        config.pop("depthwise_initializer")
        config["trainable"] = trainable
        return keras.layers.DepthwiseConv2D.from_config(config)
    if isinstance(layer, PointwiseConv2D):
        trainable = config.pop("channel_trainable")
        config["trainable"] = trainable
        return keras.layers.Conv2D.from_config(config)
    return layer.__class__.from_config(config)


def _by_name(weights):
    return {w.path.split("/")[-1]: w for w in weights}


def stock_clone(model: keras.Model, convs: bool = True) -> keras.Model:
    """`model` rebuilt from stock Keras layers, with the same weights.

    The obvious implementation a user would write without this package:
    `DepthwiseConv2D` + 1x1 `Conv2D`, `trainable=False` where frozen, and
    Keras' own BatchNormalization and GELU. With `convs=False` the
    package's convolution layers stay and only BatchNorm and GELU are
    swapped (what separates the layers' overhead from those two).
    """
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: _stock_layer(layer, convs)
    )
    for layer in model.layers:
        source = _by_name(layer.weights)
        target = clone.get_layer(layer.name)
        if isinstance(target, keras.Sequential):
            depthwise, pointwise = target.layers
            pairs = [
                (depthwise.kernel, source.pop("depthwise_kernel")),
                (pointwise.kernel, source.pop("pointwise_kernel")),
            ]
            if layer.use_bias:
                pairs.append((pointwise.bias, source.pop("bias")))
        else:
            names = _by_name(target.weights)
            pairs = [(names[n], w) for n, w in source.items()]
        for t, s in pairs:
            t.assign(s)
    return clone


def check_equivalent(ours, stock, x):
    """The stock clone must compute what ours computes (inference)."""
    a = keras.ops.convert_to_numpy(ours(x[:4], training=False))
    b = keras.ops.convert_to_numpy(stock(x[:4], training=False))
    if not np.allclose(a, b, rtol=1e-4, atol=1e-4):
        raise AssertionError(
            f"stock clone differs: max |diff| {np.abs(a - b).max()}"
        )


def compile_for_training(model, learning_rate=1e-3, loss=None, jit=False):
    """AdamW; classification loss unless `loss` is given. `jit` stays off
    by default: XLA makes ConvMixer steps 16-25x slower on CPU."""
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate),
        loss=loss
        or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


def random_batch(batch_size, input_shape, num_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(batch_size, *input_shape)).astype("float32")
    y = rng.integers(0, num_classes, size=(batch_size,)).astype("int32")
    return tf.constant(x), tf.constant(y)


def interleaved_step_times(candidates, batch, warmup=2, windows=5, steps=3):
    """Median seconds per `train_on_batch` for each named compiled model.

    Args:
        candidates: dict name -> compiled model.
        batch: `(x, y)` fed to every step.
        warmup: untimed steps per model (tracing, allocation).
        windows: timed windows per model, interleaved across models.
        steps: steps per window.

    Returns:
        dict name -> median seconds per step.
    """
    x, y = batch
    for model in candidates.values():
        for _ in range(warmup):
            model.train_on_batch(x, y)
    samples = {name: [] for name in candidates}
    for _ in range(windows):
        for name, model in candidates.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(s) for name, s in samples.items()}


def machine():
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "processor": platform.processor() or platform.machine(),
        **cpu_features(),
        "cpu_threads": tf.config.threading.get_intra_op_parallelism_threads()
        or None,
        "gpus": [g.name for g in gpus],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def emit(result):
    print(json.dumps(result, indent=2, sort_keys=True))
