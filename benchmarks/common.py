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

from spatialmix_keras import initializers as fixed_initializers
from spatialmix_keras.layers import freeze_flags


def stock_convmixer(
    dim,
    depth,
    kernel_size,
    patch_size,
    num_classes=10,
    freeze="none",
    input_shape=(32, 32, 3),
    seed=0,
):
    """ConvMixer from stock Keras layers, `trainable=False` where frozen.

    The obvious implementation a user would write without this package:
    `DepthwiseConv2D` + 1x1 `Conv2D`, same initial depthwise filters.
    """
    spatial_trainable, channel_trainable = freeze_flags(freeze)

    def gelu_bn(x):
        x = keras.layers.Activation("gelu")(x)
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)

    inputs = keras.Input(input_shape)
    x = gelu_bn(
        keras.layers.Conv2D(dim, patch_size, strides=patch_size)(inputs)
    )
    for i in range(1, depth + 1):
        residual = x
        x = keras.layers.DepthwiseConv2D(
            kernel_size,
            padding="same",
            trainable=spatial_trainable,
            depthwise_initializer=fixed_initializers.SpatialRandom(seed + i),
        )(x)
        x = keras.layers.Add()([gelu_bn(x), residual])
        x = gelu_bn(keras.layers.Conv2D(dim, 1, trainable=channel_trainable)(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def compile_for_training(model, learning_rate=1e-3):
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,  # XLA makes depthwise convs 6-12x slower on CPU.
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
        "cpu_threads": tf.config.threading.get_intra_op_parallelism_threads()
        or None,
        "gpus": [g.name for g in gpus],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def emit(result):
    print(json.dumps(result, indent=2, sort_keys=True))
