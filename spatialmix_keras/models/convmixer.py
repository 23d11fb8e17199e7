"""ConvMixer (Trockman & Kolter 2022) with freezable spatial / channel mixing,
as a classifier and as the pixel un-shuffler of the paper's section 4.4.

Trunk: a patch stem (p x p conv, stride p) -> GELU -> BN, then `depth` blocks
of Residual(depthwise k x k "same" -> GELU -> BN) -> 1x1 conv -> GELU -> BN.
The depthwise convs are the spatial mixers (frozen in Chans), the 1x1 convs the
channel mixers (frozen in Space). The stem always learns: it is the patch
embedding, neither purely spatial nor purely channel mixing.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from spatialmix_keras.activations import gelu
from spatialmix_keras.layers import (
    PointwiseConv2D,
    SpatialDepthwiseConv2D,
    freeze_flags,
)
from spatialmix_keras.merging import Fork, FusedAdd
from spatialmix_keras.models.common import (
    check_positive_int,
    pixel_input,
    spatial_initializer_factory,
)
from spatialmix_keras.normalization import FusedBatchNormalization


def _gelu_bn(x, bn_momentum, name):
    x = keras.layers.Activation(gelu, name=f"{name}_gelu")(x)
    return FusedBatchNormalization(
        momentum=bn_momentum, epsilon=1e-5, name=f"{name}_bn"
    )(x)


def convmixer_trunk(
    x,
    dim: int,
    depth: int,
    kernel_size: int,
    patch_size: int,
    freeze: str = "none",
    spatial_initializer="spatial_random",
    bn_momentum: float = 0.9,
    seed: int | None = None,
):
    """Stem and `depth` ConvMixer blocks applied to tensor `x`."""
    dim = check_positive_int("dim", dim)
    depth = check_positive_int("depth", depth)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    patch_size = check_positive_int("patch_size", patch_size)
    spatial_trainable, channel_trainable = freeze_flags(freeze)
    next_initializer = spatial_initializer_factory(spatial_initializer, seed)

    x = keras.layers.Conv2D(
        dim, patch_size, strides=patch_size, name="stem_conv"
    )(x)
    x = _gelu_bn(x, bn_momentum, "stem")
    for i in range(1, depth + 1):
        name = f"block{i}"
        residual, x = Fork(name=f"{name}_fork")(x)
        x = SpatialDepthwiseConv2D(
            kernel_size,
            padding="same",
            spatial_trainable=spatial_trainable,
            depthwise_initializer=next_initializer(i),
            name=f"{name}_depthwise",
        )(x)
        x = _gelu_bn(x, bn_momentum, f"{name}_depthwise")
        x = FusedAdd(name=f"{name}_add")([x, residual])
        x = PointwiseConv2D(
            dim, channel_trainable=channel_trainable, name=f"{name}_pointwise"
        )(x)
        x = _gelu_bn(x, bn_momentum, f"{name}_pointwise")
    return x


def convmixer(
    dim: int = 128,
    depth: int = 8,
    kernel_size: int = 8,
    patch_size: int = 1,
    num_classes: int = 10,
    freeze: str = "none",
    spatial_initializer="spatial_random",
    input_shape: Sequence[int] = (32, 32, 3),
    input_dtype: str = "float32",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    bn_momentum: float = 0.9,
    seed: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds a ConvMixer classifier returning logits.

    Args:
        dim: channels of the isotropic representation.
        depth: number of ConvMixer blocks.
        kernel_size: depthwise kernel size (the paper: 8).
        patch_size: stem patch size and stride (the paper: 1).
        num_classes: classifier outputs (logits).
        freeze: `"none"` (Full), `"spatial"` (Chans, depthwise frozen) or
            `"channel"` (Space, 1x1 convs frozen). BatchNorm, the stem and the
            classifier always learn.
        spatial_initializer: depthwise initializer (name, instance or
            config); each block gets its own seed derived from `seed`.
        input_shape, input_dtype, mean, std: see `models.common.pixel_input`.
        bn_momentum: BatchNormalization momentum; 0.9 matches the reference
            PyTorch ConvMixer (Keras' 0.99 leaves running statistics far
            behind in short runs).
        seed: base seed of the depthwise filters.
        name: model name.

    Returns:
        An uncompiled `keras.Model` from pixels to logits.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    inputs, x = pixel_input(input_shape, input_dtype, mean, std)
    x = convmixer_trunk(
        x,
        dim,
        depth,
        kernel_size,
        patch_size,
        freeze,
        spatial_initializer,
        bn_momentum,
        seed,
    )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(
        inputs,
        logits,
        name=name
        or f"convmixer_{dim}_{depth}_k{kernel_size}_p{patch_size}_{freeze}",
    )


def convmixer_unshuffler(
    dim: int = 128,
    depth: int = 8,
    kernel_size: int = 8,
    freeze: str = "none",
    spatial_initializer="spatial_random",
    input_shape: Sequence[int] = (28, 28, 1),
    bn_momentum: float = 0.9,
    seed: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds the paper's pixel un-shuffler: a patch-size-1 ConvMixer trunk
    and a linear 1x1 projection back to the input's channels.

    Takes float pixels in [0, 1] and returns the reconstruction on the same
    scale (linear output, trained with MSE). The head always learns.

    Args:
        dim, depth, kernel_size, freeze, spatial_initializer, bn_momentum,
        seed: as for `convmixer` (patch size is fixed to 1).
        input_shape: `(rows, cols, channels)` of the images.
        name: model name.

    Returns:
        An uncompiled `keras.Model` from shuffled to reconstructed images.
    """
    inputs, x = pixel_input(input_shape, "float32")
    x = convmixer_trunk(
        x,
        dim,
        depth,
        kernel_size,
        1,
        freeze,
        spatial_initializer,
        bn_momentum,
        seed,
    )
    outputs = keras.layers.Conv2D(input_shape[-1], 1, name="head")(x)
    return keras.Model(
        inputs,
        outputs,
        name=name
        or f"convmixer_unshuffler_{dim}_{depth}_k{kernel_size}_{freeze}",
    )
