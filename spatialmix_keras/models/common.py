"""Pieces shared by the model families: checked arguments, pixel input."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from spatialmix_keras import initializers as fixed_initializers

INPUT_DTYPES = ("float32", "uint8")


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected an integer >= 1. "
            f"Received: {name}={value!r}"
        )
    if value < 1:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected an integer >= 1. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of "
            f"{tuple(choices)}. Received: {name}={value!r}"
        )
    return value


def pixel_input(
    input_shape: Sequence[int],
    input_dtype: str = "float32",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
):
    """Model input taking raw pixels, and the scaled tensor the trunk sees.

    Args:
        input_shape: `(rows, cols, channels)`.
        input_dtype: `"float32"` for pixels in [0, 1] (what attacks perturb,
            so epsilon is measured on [0, 1] pixels) or `"uint8"` for 0..255
            (rescaled by 1/255 inside the model).
        mean, std: per-channel statistics of [0, 1] pixels; when given, the
            model normalises `(x - mean) / std` inside itself.

    Returns:
        `(inputs, x)`: the `keras.Input` and the scaled, normalised tensor.
    """
    check_choice("input_dtype", input_dtype, INPUT_DTYPES)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(
            "Invalid value for argument `input_shape`. Expected (rows, cols, "
            f"channels) of positive sizes. Received: input_shape={input_shape}"
        )
    inputs = keras.Input(
        shape=tuple(input_shape), dtype=input_dtype, name="pixels"
    )
    x = inputs
    if input_dtype == "uint8":
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    if (mean is None) != (std is None):
        raise ValueError(
            "Arguments `mean` and `std` go together. Received: "
            f"mean={mean!r}, std={std!r}"
        )
    if mean is not None:
        std = np.asarray(std, dtype="float32")
        if np.any(std <= 0):
            raise ValueError(
                f"Invalid value for argument `std`. Expected values > 0. "
                f"Received: std={std.tolist()}"
            )
        x = keras.layers.Normalization(
            mean=np.asarray(mean, dtype="float32"),
            variance=std**2,
            name="normalize",
        )(x)
    return inputs, x


def spatial_initializer_factory(spec, seed: int | None) -> Callable:
    """Returns `make(index)`: a fresh depthwise initializer for layer `index`.

    Every depthwise layer gets its own seed (`seed + index`), so the frozen
    filters of different layers are independent draws and the same `seed`
    rebuilds the same model. `spec` is a name from
    `spatialmix_keras.initializers.ALIASES`, an initializer instance, or a
    config dict; an instance's other settings (`sigma`, `energy`) are kept.
    """
    template = fixed_initializers.get(spec)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 2)
    config = template.get_config() if hasattr(template, "get_config") else {}

    def make(index: int):
        if "seed" in config:
            return type(template).from_config({**config, "seed": seed + index})
        return template

    return make
