"""Model builders and the table of named variants.

>>> model = get_model("convmixer_tiny", freeze="spatial")
>>> model.output_shape
(None, 10)

A config describes its model once, as `config.model`: the variant's name
plus any arguments of its builder, read by `build`:

>>> build({"name": "convmixer_tiny", "depth": 1}, freeze="spatial").name
'convmixer_16_1_k3_p2_spatial'
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


# Arguments a run supplies from the rest of its config and its dataset, not
# from `config.model`.
CONTEXT_ARGUMENTS = (
    "freeze",
    "spatial_initializer",
    "seed",
    "num_classes",
    "input_shape",
    "mean",
    "std",
)


def _takes(name: str) -> list[str]:
    return sorted(
        p
        for p in inspect.signature(VARIANTS[name].func).parameters
        if p != "name"
    )


def check_arguments(name: str, arguments, source: str = "arguments") -> None:
    """Refuses, in one line, arguments that the variant's builder does not
    take (before anything is built).

    >>> check_arguments("resnet20", {"dim": 64}, "config.model")
    Traceback (most recent call last):
    ...
    ValueError: Model 'resnet20' (preact_resnet) takes no argument 'dim' ...
    """
    if name not in VARIANTS:
        field = f"{source.removeprefix('config.')}.name"
        raise ValueError(
            f"Invalid value for argument `{field}`. Expected one of "
            f"{tuple(VARIANTS)}. Received: {field}={name!r}"
        )
    variant = VARIANTS[name]
    # A variant's own settings (its `functools.partial` keywords) may be
    # overridden too.
    takes = _takes(name)
    for argument in arguments:
        if argument not in takes:
            raise ValueError(
                f"Model {name!r} ({variant.func.__name__}) takes no argument "
                f"{argument!r} (from {source}). It takes: "
                f"{', '.join(takes)}."
            )


def split_spec(spec, source: str = "config.model") -> tuple[str, dict]:
    """`(name, arguments)` of a model description: a mapping with `name`
    (a key of `VARIANTS`) and any other arguments of the variant's builder
    except `CONTEXT_ARGUMENTS`, checked in one line each."""
    arguments = dict(spec)
    name = arguments.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(
            f"Invalid value for argument `{source}`. Expected a mapping with "
            f"a `name` (one of {tuple(VARIANTS)}). Received: {source}="
            f"{dict(spec)!r}"
        )
    check_arguments(name, arguments, source)
    for argument in arguments:
        if argument in CONTEXT_ARGUMENTS:
            raise ValueError(
                f"Invalid argument `{source}.{argument}`: the run sets "
                f"{argument!r} from the rest of its config and its dataset "
                f"(e.g. config.{argument} where there is one). Received: "
                f"{source}.{argument}={arguments[argument]!r}"
            )
    return name, arguments


def build(spec, source: str = "config.model", **context) -> keras.Model:
    """Builds the model that `spec` describes, in its run's `context`.

    Args:
        spec: a mapping (a config's `model` ConfigDict): `name`, a key of
            `VARIANTS`, plus any argument of the variant's builder except
            `CONTEXT_ARGUMENTS`; checked by `split_spec`.
        source: how error messages name `spec`.
        **context: the run's `CONTEXT_ARGUMENTS` (`freeze`, `input_shape`,
            `num_classes`, ...); those the builder does not take (a
            ConvMixer takes no `mean`) are left out.

    Returns:
        An uncompiled `keras.Model`.
    """
    name, arguments = split_spec(spec, source)
    takes = _takes(name)
    unknown = sorted(set(context) - set(CONTEXT_ARGUMENTS))
    if unknown:
        raise TypeError(
            f"build() got unexpected keyword arguments {unknown}; the "
            f"context arguments are {CONTEXT_ARGUMENTS}."
        )
    arguments.update({k: v for k, v in context.items() if k in takes})
    return VARIANTS[name](**arguments)


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
    "CONTEXT_ARGUMENTS",
    "VARIANTS",
    "build",
    "check_arguments",
    "convmixer",
    "convmixer_trunk",
    "convmixer_unshuffler",
    "get_model",
    "variant_changes",
    "preact_block",
    "preact_resnet",
    "split_spec",
]
