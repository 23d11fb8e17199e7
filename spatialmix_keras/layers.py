"""Separable convolutions whose spatial or channel mixing can stay frozen.

The paper (Cazenavette, Julin & Lucey) splits a convolution into a depthwise
(spatial-mixing) and a pointwise (channel-mixing) part and learns only one of
them. The three regimes are named here as in the paper:

| `freeze`    | paper | depthwise kernel | pointwise kernel |
| ----------- | ----- | ---------------- | ---------------- |
| `"none"`    | Full  | learns           | learns           |
| `"spatial"` | Chans | frozen           | learns           |
| `"channel"` | Space | learns           | frozen           |

Which weights learn is decided when each weight is created
(`add_weight(..., trainable=False)`): a frozen kernel stays frozen even if a
caller later sets `layer.trainable = True` on the layer or on the model.
"""

from __future__ import annotations

import keras

from spatialmix_keras import initializers as fixed_initializers
from spatialmix_keras.vocabulary import COMPOSE_MODES, FREEZE_MODES

_PACKAGE = "spatialmix_keras"
# `compose="auto"` composes while the composed convolution costs at most this
# many times the multiply-adds of the two separable parts. The depthwise
# kernel moves a byte per multiply-add and wastes most of a CPU's vector
# units, so the composed (dense) convolution wins well past equal FLOPs:
# measured with `python -m benchmarks.compose` (benchmarks/README.md).
COMPOSE_MAX_FLOP_RATIO = 1.5


def freeze_flags(freeze: str) -> tuple[bool, bool]:
    """Maps a `freeze` mode to `(spatial_trainable, channel_trainable)`.

    Args:
        freeze: `"none"` (Full), `"spatial"` (Chans) or `"channel"` (Space).

    Returns:
        The pair of trainable flags for the depthwise and pointwise parts.

    Example:

    >>> freeze_flags("spatial")
    (False, True)
    """
    if freeze not in FREEZE_MODES:
        raise ValueError(
            "Invalid value for argument `freeze`. Expected one of "
            f"{FREEZE_MODES}. Received: freeze={freeze!r}"
        )
    return freeze != "spatial", freeze != "channel"


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected a bool. "
            f"Received: {name}={value!r}"
        )
    return value


def compose_kernel(depthwise_kernel, pointwise_kernel):
    """The one k x k kernel equal to a depthwise then a pointwise kernel.

    `W[i, j, c, f] = sum_m D[i, j, c, m] * P[0, 0, c * d + m, f]`: Keras
    orders the depthwise outputs channel-major (c0m0, c0m1, ..., c1m0).

    Args:
        depthwise_kernel: `(k_h, k_w, c_in, d)`.
        pointwise_kernel: `(1, 1, c_in * d, c_out)`.

    Returns:
        A `(k_h, k_w, c_in, c_out)` kernel for a standard convolution.
    """
    k_h, k_w, c_in, d = depthwise_kernel.shape
    pointwise = keras.ops.reshape(pointwise_kernel, (c_in, d, -1))
    return keras.ops.einsum("hwcm,cmf->hwcf", depthwise_kernel, pointwise)


def composed_flop_ratio(kernel_size, c_in, depth_multiplier, filters):
    """Multiply-adds per output pixel, composed over separable.

    Composed: `k_h*k_w*c_in*filters`; separable: `k_h*k_w*c_in*d` (depthwise)
    plus `c_in*d*filters` (pointwise). Composing the kernel itself is
    `k_h*k_w*c_in*d*filters` once per step, shared by every output pixel
    of the batch and left out.
    """
    k_h, k_w = kernel_size
    composed = k_h * k_w * c_in * filters
    separable = k_h * k_w * c_in * depth_multiplier + (
        c_in * depth_multiplier * filters
    )
    return composed / separable


def _check_depth_multiplier(depth_multiplier):
    if (
        isinstance(depth_multiplier, bool)
        or not isinstance(depth_multiplier, int)
        or depth_multiplier < 1
    ):
        raise ValueError(
            "Invalid value for argument `depth_multiplier`. Expected an "
            f"integer >= 1. Received: depth_multiplier={depth_multiplier!r}"
        )
    return depth_multiplier


def _bfloat16_path(layer) -> bool:
    """Whether a conv layer may take a `tf_kernels` path: TensorFlow,
    16-bit compute, channels last, stride 1, no dilation (the paths pay
    only where TensorFlow's 16-bit CPU kernels are slow)."""
    return (
        keras.backend.backend() == "tensorflow"
        and keras.backend.standardize_dtype(layer.compute_dtype)
        in ("bfloat16", "float16")
        and layer.data_format == "channels_last"
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
    )


def _call_kernel(layer, kernel_op, inputs, *args):
    """`layer`'s output through `kernel_op(inputs, kernel, bias, *args)`
    of `tf_kernels`, in the compute dtype, then its activation."""
    kernel = keras.ops.cast(layer.kernel, layer.compute_dtype)
    bias = (
        keras.ops.cast(layer.bias, layer.compute_dtype)
        if layer.use_bias
        else None
    )
    outputs = kernel_op(inputs, kernel, bias, *args)
    if layer.activation is not None:
        return layer.activation(outputs)
    return outputs


class _FreezableWeightsMixin:
    """Creates the weights named in `_frozen_weight_names` as non-trainable.

    The stock `build` of each base layer stays in charge of shapes, names and
    initializers; only the `trainable` flag of the chosen weights changes.
    """

    _frozen_weight_names: frozenset = frozenset()

    def add_weight(self, *args, name=None, trainable=True, **kwargs):
        if name in self._frozen_weight_names:
            trainable = False
        return super().add_weight(
            *args, name=name, trainable=trainable, **kwargs
        )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialSeparableConv2D(
    _FreezableWeightsMixin, keras.layers.SeparableConv2D
):
    """2D separable convolution with freezable spatial and channel mixing.

    A `keras.layers.SeparableConv2D` (depthwise k x k per input channel, then a
    1x1 pointwise convolution) whose depthwise and pointwise kernels can each
    be created non-trainable. With both flags on it computes exactly what the
    stock layer computes; only the default depthwise initializer differs
    (`"spatial_random"`, see `spatialmix_keras.initializers.SpatialRandom`).

    The bias is added after the pointwise convolution, one value per output
    channel, so it belongs to the channel-mixing part: it is frozen with the
    pointwise kernel when `channel_trainable=False` and learns otherwise.

    Trainable parameters (paper eq. 2), for `c_in` input channels, kernel k,
    depth multiplier d and `c_out` filters: `c_in*k*k*d` depthwise (when
    `spatial_trainable`) plus `c_in*d*c_out` pointwise and `c_out` bias (when
    `channel_trainable`).

    Composition. With no nonlinearity between its two parts, the layer equals
    ONE standard k x k convolution with kernel
    `W[i, j, c, f] = sum_m D[i, j, c, m] * P[0, 0, c*d + m, f]`
    (`compose_kernel`), same strides, padding and dilation. `compose` picks
    how it is computed; the weights (names, shapes, trainability) are the
    same either way, so checkpoints, `.keras` files and SavedModels move
    freely between settings, and gradients reach D and P through the
    composition (a frozen D gets none). Composing also never materialises
    the d-times-wider depthwise output. `"auto"` composes when the composed
    convolution costs at most `COMPOSE_MAX_FLOP_RATIO` (1.5) times the
    separable multiply-adds per output pixel (`composed_flop_ratio`): the
    paper's separable ResNets (d = k*k = 9, ratio below 1) always compose, a
    d = 1 layer (ratio ~k*k) never does. Measured with
    `python -m benchmarks.compose` on a 2-core AMD EPYC (forward and all
    gradients, batch 128): speed-ups of 1.9-4.5x at ratios 0.64-0.88 (the
    ResNet shapes), 1.2-1.4x at 1.97, 0.73-0.86x at 2.17 and below 0.8x from
    3.5 on; 1.5 keeps a margin on the slower side (benchmarks/README.md).

    What composition makes visible: with d = k*k and random (frozen)
    depthwise filters, each input channel's k*k-by-d tap matrix is
    invertible, so a Chans layer can represent every standard k x k
    convolution (`P` solved from any `W`): Chans and Full span the same
    function class and differ only in how training moves through it, while
    Space (P frozen) spans a strictly smaller one.

    Args:
        filters: number of output channels.
        kernel_size: int or pair, the depthwise window.
        spatial_trainable: whether the depthwise kernel learns.
        channel_trainable: whether the pointwise kernel (and bias) learn.
        depthwise_initializer: defaults to `"spatial_random"`; any name in
            `spatialmix_keras.initializers.ALIASES` or any Keras initializer.
        compose: `"auto"` (default), `"always"` or `"never"` (the stock
            depthwise-then-pointwise computation).
        **kwargs: every other argument of `keras.layers.SeparableConv2D`
            (`strides`, `padding`, `depth_multiplier`, `use_bias`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)` (channels_last) or
        `(batch, channels, rows, cols)` (channels_first).

    Output shape:
        4D tensor with `filters` channels; rows and cols shrink with `strides`
        and with `"valid"` padding, as in `SeparableConv2D`.

    Example:

    >>> layer = SpatialSeparableConv2D(
    ...     8, 3, depth_multiplier=9, spatial_trainable=False, padding="same")
    >>> y = layer(np.zeros((1, 16, 16, 4), "float32"))
    >>> tuple(y.shape), len(layer.trainable_weights)
    ((1, 16, 16, 8), 2)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        spatial_trainable=True,
        channel_trainable=True,
        depthwise_initializer="spatial_random",
        compose="auto",
        **kwargs,
    ):
        _check_depth_multiplier(kwargs.get("depth_multiplier", 1))
        if compose not in COMPOSE_MODES:
            raise ValueError(
                "Invalid value for argument `compose`. Expected one of "
                f"{COMPOSE_MODES}. Received: compose={compose!r}"
            )
        super().__init__(
            filters,
            kernel_size,
            depthwise_initializer=fixed_initializers.get(depthwise_initializer),
            **kwargs,
        )
        self.compose = compose
        self.spatial_trainable = _check_flag(
            "spatial_trainable", spatial_trainable
        )
        self.channel_trainable = _check_flag(
            "channel_trainable", channel_trainable
        )
        frozen = set()
        if not spatial_trainable:
            frozen.add("depthwise_kernel")
        if not channel_trainable:
            frozen.update(("pointwise_kernel", "bias"))
        self._frozen_weight_names = frozenset(frozen)

    def composes(self, input_channels) -> bool:
        """Whether `call` runs one composed convolution (see `compose`)."""
        if self.compose != "auto":
            return self.compose == "always"
        ratio = composed_flop_ratio(
            self.kernel_size,
            input_channels,
            self.depth_multiplier,
            self.filters,
        )
        return ratio <= COMPOSE_MAX_FLOP_RATIO

    def call(self, inputs):
        channel_axis = -1 if self.data_format == "channels_last" else 1
        if not self.composes(inputs.shape[channel_axis]):
            return super().call(inputs)
        outputs = keras.ops.conv(
            inputs,
            compose_kernel(self.depthwise_kernel, self.pointwise_kernel),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        if self.use_bias:
            shape = [1] * outputs.ndim
            shape[channel_axis] = self.filters
            outputs = outputs + keras.ops.reshape(self.bias, shape)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "spatial_trainable": self.spatial_trainable,
                "channel_trainable": self.channel_trainable,
                "compose": self.compose,
            }
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialDepthwiseConv2D(
    _FreezableWeightsMixin, keras.layers.DepthwiseConv2D
):
    """2D depthwise convolution (pure spatial mixing) that can stay frozen.

    A `keras.layers.DepthwiseConv2D` whose kernel is created non-trainable
    when `spatial_trainable=False` (ConvMixer's spatial mixer in the paper's
    Chans models). The bias is added per channel right after the depthwise
    filters and belongs to this layer's (spatial) part: it is frozen with the
    kernel.

    Args:
        kernel_size: int or pair, the depthwise window.
        spatial_trainable: whether the kernel (and bias) learn.
        depthwise_initializer: defaults to `"spatial_random"`; any name in
            `spatialmix_keras.initializers.ALIASES` or any Keras initializer.
        **kwargs: every other argument of `keras.layers.DepthwiseConv2D`
            (`strides`, `padding`, `depth_multiplier`, `use_bias`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)` (channels_last) or
        `(batch, channels, rows, cols)` (channels_first).

    Output shape:
        4D tensor with `channels * depth_multiplier` channels.

    Example:

    >>> layer = SpatialDepthwiseConv2D(
    ...     8, spatial_trainable=False, padding="same")
    >>> y = layer(np.zeros((1, 16, 16, 4), "float32"))
    >>> tuple(y.shape), len(layer.trainable_weights)
    ((1, 16, 16, 4), 0)
    """

    def __init__(
        self,
        kernel_size,
        spatial_trainable=True,
        depthwise_initializer="spatial_random",
        **kwargs,
    ):
        _check_depth_multiplier(kwargs.get("depth_multiplier", 1))
        super().__init__(
            kernel_size,
            depthwise_initializer=fixed_initializers.get(depthwise_initializer),
            **kwargs,
        )
        self.spatial_trainable = _check_flag(
            "spatial_trainable", spatial_trainable
        )
        if not spatial_trainable:
            self._frozen_weight_names = frozenset(("kernel", "bias"))

    def _forward_gradient(self):
        # Where `tf_kernels.depthwise_conv` applies (oneDNN's bf16 backward
        # depthwise kernel is slow).
        return _bfloat16_path(self) and self.depth_multiplier == 1

    def call(self, inputs):
        if not self._forward_gradient():
            return super().call(inputs)
        from spatialmix_keras.tf_kernels import depthwise_conv

        return _call_kernel(self, depthwise_conv, inputs, self.padding)

    def get_config(self):
        config = super().get_config()
        config["spatial_trainable"] = self.spatial_trainable
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PointwiseConv2D(_FreezableWeightsMixin, keras.layers.Conv2D):
    """1x1 convolution (pure channel mixing) that can stay frozen.

    A `keras.layers.Conv2D` with `kernel_size=1` whose kernel and bias are
    created non-trainable when `channel_trainable=False`: ConvMixer's
    pointwise mixers and the ResNets' projection shortcuts, frozen in the
    paper's Space models.

    Args:
        filters: number of output channels.
        channel_trainable: whether the kernel (and bias) learn.
        **kwargs: every other argument of `keras.layers.Conv2D` except
            `kernel_size` (`strides`, `use_bias`, `kernel_initializer`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)` (channels_last).

    Output shape:
        4D tensor with `filters` channels.

    Example:

    >>> layer = PointwiseConv2D(6, channel_trainable=False)
    >>> y = layer(np.zeros((2, 5, 5, 3), "float32"))
    >>> tuple(y.shape), len(layer.non_trainable_weights)
    ((2, 5, 5, 6), 2)
    """

    def __init__(self, filters, channel_trainable=True, **kwargs):
        kernel_size = kwargs.pop("kernel_size", 1)
        if kernel_size not in (1, (1, 1), [1, 1]):
            raise ValueError(
                "Invalid value for argument `kernel_size`. PointwiseConv2D is "
                f"always 1x1. Received: kernel_size={kernel_size!r}"
            )
        super().__init__(filters, 1, **kwargs)
        self.channel_trainable = _check_flag(
            "channel_trainable", channel_trainable
        )
        if not channel_trainable:
            self._frozen_weight_names = frozenset(("kernel", "bias"))

    def _matmul_gradients(self):
        # Where `tf_kernels.pointwise_conv` applies (TensorFlow's bf16
        # `Conv2DBackpropFilter` is slow).
        return _bfloat16_path(self) and self.groups == 1

    def call(self, inputs):
        if not self._matmul_gradients():
            return super().call(inputs)
        from spatialmix_keras.tf_kernels import pointwise_conv

        return _call_kernel(self, pointwise_conv, inputs)

    def get_config(self):
        config = super().get_config()
        config["channel_trainable"] = self.channel_trainable
        return config
