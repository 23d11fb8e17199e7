"""Helpers shared by the benchmarks: stock-layer baselines and fair timing.

Machines here are noisy, so every benchmark times its candidates side by side
in one process, interleaving short windows (A, B, A, B, ...), and reports the
median of each; only ratios between candidates of one run are comparable.
"""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import time

import keras
import numpy as np

from spatialmix_keras import get_model
from spatialmix_keras.activations import gelu
from spatialmix_keras.layers import (
    PointwiseConv2D,
    SpatialDepthwiseConv2D,
    SpatialSeparableConv2D,
)
from spatialmix_keras.machine import (
    code_version,
    cpu_features,
    gpu_info,
    onednn_enabled,
)
from spatialmix_keras.merging import Fork, FusedAdd
from spatialmix_keras.normalization import FusedBatchNormalization

# The networks the training benchmarks time and train.
NETWORKS = {
    # name: (variant, builder overrides, input shape)
    "convmixer_256_8_k8": ("convmixer_256_8", {"kernel_size": 8}, (32, 32, 3)),
    "convmixer_256_8_k5": ("convmixer_256_8", {"kernel_size": 5}, (32, 32, 3)),
    "resnet20": ("resnet20", {}, (32, 32, 3)),
    "resnet56": ("resnet56", {}, (32, 32, 3)),
    # The d = 3 control, composed although `compose="auto"` would not.
    "resnet8_d3_composed": (
        "resnet8",
        {"depth_multiplier": 3, "compose": "always"},
        (32, 32, 3),
    ),
    "unshuffler_64_5": ("unshuffler_64_5", {}, (14, 14, 1)),
}


# The two policies the precision benchmarks compare.
PRECISIONS = ("float32", "mixed_bfloat16")


def compiled_model(network, policy):
    """A Chans `network` (of NETWORKS) built under `policy`, compiled for
    `train_on_batch` (SGD with momentum, no XLA), and its input shape."""
    variant, overrides, shape = NETWORKS[network]
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = get_model(
            variant, freeze="spatial", seed=0, input_shape=shape, **overrides
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, shape


class _Twice(Fork):
    """Its input, twice: what `Fork` is without its compiled gradient sum
    (a user writes `shortcut = x`)."""

    def call(self, inputs):
        return [inputs, inputs]


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
    if isinstance(layer, FusedAdd):
        return keras.layers.Add.from_config(config)
    if isinstance(layer, Fork):
        return _Twice(name=layer.name)
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
            # A copy: on JAX a training step donates its variables' buffers,
            # and a buffer shared by two models would die with the first.
            t.assign(keras.ops.convert_to_numpy(s))
    return clone


# How far two computations of one network may differ, relative to the
# output's scale, in each compute dtype (rounding, not a wrong clone).
_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}


def check_equivalent(ours, stock, x):
    """The stock clone must compute what ours computes (inference).

    On JAX, float32 matrix work runs at full float32 precision for the
    check (GPUs default to TF32 there). Returns the largest difference
    relative to the output's scale.
    """

    def outputs():
        a = keras.ops.convert_to_numpy(ours(x[:4], training=False))
        b = keras.ops.convert_to_numpy(stock(x[:4], training=False))
        return a.astype("float32"), b.astype("float32")

    if keras.backend.backend() == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            a, b = outputs()
    else:
        a, b = outputs()
    difference = float(np.abs(a - b).max() / max(1.0, np.abs(a).max()))
    if not difference <= _TOLERANCE[ours.compute_dtype]:
        raise AssertionError(
            f"stock clone differs: max |diff| {np.abs(a - b).max()}"
        )
    return difference


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
    return keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)


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
    """CPU model and flags, GPUs (model, driver), backend and versions, the
    commit of the code and the date (UTC)."""
    info = {
        "code_version": code_version(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "processor": platform.processor() or platform.machine(),
        **cpu_features(),
        "gpu_models": gpu_info(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
    }
    if info["backend"] == "tensorflow":
        import tensorflow as tf

        threads = tf.config.threading.get_intra_op_parallelism_threads()
        info["cpu_threads"] = threads or None
        info["gpus"] = [g.name for g in tf.config.list_physical_devices("GPU")]
        info["tensorflow"] = tf.__version__
        # It sets which CPU kernels ran, hence the speed (benchmarks/onednn).
        info["onednn"] = onednn_enabled()
    elif info["backend"] == "jax":
        import jax

        info["gpus"] = [str(d) for d in jax.devices() if d.platform == "gpu"]
        info["jax"] = jax.__version__
        info["jax_matmul_precision"] = str(
            jax.config.jax_default_matmul_precision
        )
    return info


def emit(result):
    print(json.dumps(result, indent=2, sort_keys=True))
