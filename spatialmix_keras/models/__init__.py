"""Model builders and the table of named variants.

>>> model = get_model("convmixer_tiny", freeze="spatial")
>>> model.output_shape
(None, 10)
"""

from __future__ import annotations

import functools
import inspect

import keras

from spatialmix_keras.models.convmixer import (
    convmixer,
    convmixer_trunk,
    convmixer_unshuffler,
)
from spatialmix_keras.models.resnet import preact_block, preact_resnet

VARIANTS = {
    # Separable pre-activation ResNets, CIFAR (6n+2 layers).
    "resnet_tiny": functools.partial(
        preact_resnet, depth_n=1, depth_multiplier=2
    ),
    "resnet8": functools.partial(preact_resnet, depth_n=1),
    "resnet14": functools.partial(preact_resnet, depth_n=2),
    "resnet20": functools.partial(preact_resnet, depth_n=3),
    "resnet32": functools.partial(preact_resnet, depth_n=5),
    "resnet44": functools.partial(preact_resnet, depth_n=7),
    "resnet56": functools.partial(preact_resnet, depth_n=9),
    "resnet110": functools.partial(preact_resnet, depth_n=18),
    # ImageNet (8n+2 layers).
    "resnet10_imagenet": functools.partial(
        preact_resnet, depth_n=1, variant="imagenet"
    ),
    "resnet18_imagenet": functools.partial(
        preact_resnet, depth_n=2, variant="imagenet"
    ),
    "resnet26_imagenet": functools.partial(
        preact_resnet, depth_n=3, variant="imagenet"
    ),
    # ConvMixer classifiers: dim, depth, kernel, patch.
    "convmixer_tiny": functools.partial(
        convmixer, dim=16, depth=2, kernel_size=3, patch_size=2
    ),
    "convmixer_128_4": functools.partial(convmixer, dim=128, depth=4),
    "convmixer_128_8": functools.partial(convmixer, dim=128, depth=8),
    "convmixer_256_8": functools.partial(
        convmixer, dim=256, depth=8, patch_size=2
    ),
    "convmixer_256_16": functools.partial(
        convmixer, dim=256, depth=16, kernel_size=5, patch_size=2
    ),
    # Un-shufflers (patch size 1, 1x1 projection head).
    "unshuffler_tiny": functools.partial(
        convmixer_unshuffler, dim=16, depth=2, kernel_size=5
    ),
    # Receptive field 1 + 5 * 6 = 31 covers a 14x14 image from any pixel.
    "unshuffler_64_5": functools.partial(
        convmixer_unshuffler,
        dim=64,
        depth=5,
        kernel_size=7,
        input_shape=(14, 14, 1),
    ),
    "unshuffler_128_8": functools.partial(
        convmixer_unshuffler, dim=128, depth=8
    ),
    "unshuffler_512_16": functools.partial(
        convmixer_unshuffler,
        dim=512,
        depth=16,
        kernel_size=7,
        input_shape=(32, 32, 3),
    ),
}


def check_arguments(name: str, arguments, source: str = "arguments") -> None:
    """Refuses, in one line, arguments that the variant's builder does not
    take (before anything is built).

    >>> check_arguments("resnet20", {"dim": 64}, "config.model_kwargs")
    Traceback (most recent call last):
    ...
    ValueError: Model 'resnet20' (preact_resnet) takes no argument 'dim' ...
    """
    if name not in VARIANTS:
        raise ValueError(
            "Invalid value for argument `name`. Expected one of "
            f"{tuple(VARIANTS)}. Received: name={name!r}"
        )
    variant = VARIANTS[name]
    # A variant's own settings (its `functools.partial` keywords) may be
    # overridden too.
    takes = sorted(
        p for p in inspect.signature(variant.func).parameters if p != "name"
    )
    for argument in arguments:
        if argument not in takes:
            raise ValueError(
                f"Model {name!r} ({variant.func.__name__}) takes no argument "
                f"{argument!r} (from {source}). It takes: "
                f"{', '.join(takes)}."
            )


def variant_changes(name: str, arguments) -> dict:
    """The arguments that change a variant's own settings (e.g. `depth=4`
    on `convmixer_128_8`): a run named after the variant says so."""
    fixed = VARIANTS[name].keywords
    return {
        k: v for k, v in dict(arguments).items() if k in fixed and fixed[k] != v
    }


def get_model(name: str, **overrides) -> keras.Model:
    """Builds the named variant; keyword arguments override its settings.

    Args:
        name: a key of `VARIANTS`, e.g. `"resnet20"` or `"convmixer_256_8"`.
        **overrides: any argument of the variant's builder (`freeze`,
            `num_classes`, `input_shape`, ...).

    Returns:
        An uncompiled `keras.Model`.
    """
    if name not in VARIANTS:
        raise ValueError(
            "Invalid value for argument `name`. Expected one of "
            f"{tuple(VARIANTS)}. Received: name={name!r}"
        )
    return VARIANTS[name](**overrides)


__all__ = [
    "VARIANTS",
    "check_arguments",
    "convmixer",
    "convmixer_trunk",
    "convmixer_unshuffler",
    "get_model",
    "variant_changes",
    "preact_block",
    "preact_resnet",
]
