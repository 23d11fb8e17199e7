"""Pre-activation ResNets (He et al. 2016, identity mappings), standard or
separable with freezable spatial / channel mixing.

Depth follows the paper: a CIFAR ResNet of depth n has a stem conv, 3 stages of
n basic blocks (2 convs each) and a classifier, 6n + 2 layers; an ImageNet
ResNet has 4 stages, 8n + 2 layers. Projection shortcuts (1x1 convs where the
shape changes) are not counted, as usual; they are channel mixers and freeze
with the pointwise kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from spatialmix_keras.layers import (
    PointwiseConv2D,
    SpatialSeparableConv2D,
    freeze_flags,
)
from spatialmix_keras.models.common import (
    check_choice,
    check_positive_int,
    pixel_input,
    spatial_initializer_factory,
)
from spatialmix_keras.normalization import FusedBatchNormalization
from spatialmix_keras.vocabulary import CONVS

VARIANTS = {
    # variant: (stem kernel, stem stride, max-pool after stem, stage widths)
    "cifar": (3, 1, False, (16, 32, 64)),
    "imagenet": (7, 2, True, (64, 128, 256, 512)),
}


class _ConvFactory:
    """Makes every k x k conv of one network, standard or separable."""

    def __init__(
        self,
        conv,
        freeze,
        depth_multiplier,
        spatial_initializer,
        seed,
        compose="auto",
    ):
        self.conv = conv
        self.compose = compose
        self.spatial_trainable, self.channel_trainable = freeze_flags(freeze)
        self.depth_multiplier = depth_multiplier
        self.next_initializer = spatial_initializer_factory(
            spatial_initializer, seed
        )
        self.count = 0

    def __call__(self, filters, kernel_size, strides, name):
        self.count += 1
        if self.conv == "standard":
            return keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=name,
            )
        return SpatialSeparableConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            depth_multiplier=self.depth_multiplier,
            use_bias=False,
            spatial_trainable=self.spatial_trainable,
            channel_trainable=self.channel_trainable,
            depthwise_initializer=self.next_initializer(self.count),
            pointwise_initializer="he_normal",
            compose=self.compose,
            name=name,
        )

    def shortcut(self, filters, strides, name):
        return PointwiseConv2D(
            filters,
            strides=strides,
            use_bias=False,
            kernel_initializer="he_normal",
            channel_trainable=self.channel_trainable,
            name=name,
        )


def _bn(momentum, name):
    return FusedBatchNormalization(momentum=momentum, epsilon=1e-5, name=name)


def preact_block(x, filters, strides, make_conv, bn_momentum, name):
    """Full pre-activation basic block: BN-ReLU-conv, BN-ReLU-conv, + skip."""
    preact = _bn(bn_momentum, f"{name}_preact_bn")(x)
    preact = keras.layers.ReLU(name=f"{name}_preact_relu")(preact)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = make_conv.shortcut(filters, strides, f"{name}_shortcut")(
            preact
        )
    else:
        shortcut = x
    y = make_conv(filters, 3, strides, f"{name}_conv1")(preact)
    y = _bn(bn_momentum, f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = make_conv(filters, 3, 1, f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def preact_resnet(
    depth_n: int,
    variant: str = "cifar",
    conv: str = "separable",
    depth_multiplier: int = 9,
    freeze: str = "none",
    spatial_initializer="spatial_random",
    num_classes: int = 10,
    input_shape: Sequence[int] | None = None,
    input_dtype: str = "float32",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    bn_momentum: float = 0.9,
    seed: int | None = None,
    compose: str = "auto",
    name: str | None = None,
) -> keras.Model:
    """Builds a pre-activation ResNet returning logits.

    Args:
        depth_n: blocks per stage, >= 1 (6n+2 layers on CIFAR, 8n+2 on
            ImageNet).
        variant: `"cifar"` (3x3 stem, widths 16/32/64) or `"imagenet"`
            (7x7/2 stem and 3x3/2 max-pool, widths 64/128/256/512).
        conv: `"separable"` (default: every k x k conv, the stem included, is
            a `SpatialSeparableConv2D`) or `"standard"` (`Conv2D`).
        depth_multiplier: of the separable convs; 9 = k*k gives the pointwise
            part as many parameters as the standard conv (paper eq. 3).
        freeze: `"none"` (Full), `"spatial"` (Chans) or `"channel"` (Space);
            only kernels freeze, BatchNorm and the classifier always learn.
            A standard conv cannot be split, so it needs `freeze="none"`.
        spatial_initializer: depthwise initializer (name, instance or
            config); each layer gets its own seed derived from `seed`.
        num_classes: classifier outputs (logits).
        input_shape: `(rows, cols, channels)`; default (32, 32, 3) for CIFAR
            and (224, 224, 3) for ImageNet.
        input_dtype, mean, std: see `models.common.pixel_input`.
        bn_momentum: BatchNormalization momentum (0.9, PyTorch's 0.1).
        seed: base seed of the depthwise filters.
        compose: how the separable convs compute (`"auto"`, `"always"`,
            `"never"`; see `SpatialSeparableConv2D`): the same function and
            weights either way, only the speed differs.
        name: model name.

    Returns:
        An uncompiled `keras.Model` from pixels to logits.
    """
    depth_n = check_positive_int("depth_n", depth_n)
    check_choice("variant", variant, tuple(VARIANTS))
    check_choice("conv", conv, CONVS)
    freeze_flags(freeze)
    depth_multiplier = check_positive_int("depth_multiplier", depth_multiplier)
    num_classes = check_positive_int("num_classes", num_classes)
    if conv == "standard" and freeze != "none":
        raise ValueError(
            "Invalid value for argument `freeze`. A standard convolution "
            "entangles spatial and channel mixing, so only freeze='none' "
            f"works with conv='standard'. Received: freeze={freeze!r}"
        )
    stem_kernel, stem_stride, max_pool, widths = VARIANTS[variant]
    if input_shape is None:
        input_shape = (32, 32, 3) if variant == "cifar" else (224, 224, 3)
    make_conv = _ConvFactory(
        conv, freeze, depth_multiplier, spatial_initializer, seed, compose
    )

    inputs, x = pixel_input(input_shape, input_dtype, mean, std)
    x = make_conv(widths[0], stem_kernel, stem_stride, "stem_conv")(x)
    if max_pool:
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for stage, filters in enumerate(widths, start=1):
        for block in range(1, depth_n + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = preact_block(
                x,
                filters,
                strides,
                make_conv,
                bn_momentum,
                f"stage{stage}_block{block}",
            )
    x = _bn(bn_momentum, "final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    layers = (6 if variant == "cifar" else 8) * depth_n + 2
    return keras.Model(
        inputs,
        logits,
        name=name or f"preact_resnet{layers}_{variant}_{conv}_{freeze}",
    )
