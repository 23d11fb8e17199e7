"""Fixed-filter initializers for depthwise (spatial-mixing) kernels.

Every initializer here expects a depthwise kernel shape
`(k_h, k_w, in_channels, depth_multiplier)` and draws its values with NumPy
from an integer seed. The seed is part of `get_config()`: a model rebuilt from
its config gets the very same frozen filters, bit for bit, on any backend or
device. An unseeded initializer draws a seed once, at construction, and keeps
it, so `from_config(get_config())` still reproduces it.

The five filter families are those of the paper's Fig. 5 and Fig. 9:

| name             | class           | filters                               |
| ---------------- | --------------- | ------------------------------------- |
| `spatial_random` | `SpatialRandom` | i.i.d. U(-1/k, 1/k), new per channel  |
| `same_random`    | `SameRandom`    | one random set, repeated per channel  |
| `box`            | `Box`           | every tap equal                       |
| `identity`       | `Identity`      | Dirac delta at the "same" centre      |
| `smoothed`       | `Smoothed`      | `SpatialRandom` blurred by a Gaussian |

Scale: `Box`, `Identity` and `Smoothed` take `energy="random"` (the default)
or `energy="natural"`. With `"random"` every filter is rescaled to the expected
squared L2 norm of a `SpatialRandom` filter of the same size (1/3, whatever k
is), so that filter types differ in structure, not in scale. With `"natural"`
a box filter sums to one, an identity filter is exactly 1 at its centre (a
stride-1 "same" depthwise convolution then returns its input unchanged), and a
smoothed filter keeps the scale the blur leaves it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

_PACKAGE = "spatialmix_keras"
_ENERGIES = ("random", "natural")

# Expected squared L2 norm of a SpatialRandom filter: k*k taps of variance
# (1/k)^2 / 3 each.
RANDOM_FILTER_ENERGY = 1.0 / 3.0


def _check_seed(seed):
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            "Invalid value for argument `seed`. Expected an integer or None. "
            f"Received: seed={seed!r}"
        )
    return int(seed)


def _check_depthwise_shape(shape, name):
    shape = tuple(int(d) for d in shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(
            f"`{name}` expects a depthwise kernel shape (k_h, k_w, "
            f"in_channels, depth_multiplier) of positive sizes. "
            f"Received: shape={shape}"
        )
    return shape


def _check_energy(energy):
    if energy not in _ENERGIES:
        raise ValueError(
            "Invalid value for argument `energy`. Expected one of "
            f"{_ENERGIES}. Received: energy={energy!r}"
        )
    return energy


def _uniform_filters(rng, shape):
    """i.i.d. U(-b, b), b = 1/sqrt(k_h*k_w): PyTorch's depthwise scale."""
    bound = 1.0 / math.sqrt(shape[0] * shape[1])
    return rng.uniform(-bound, bound, size=shape)


def _rescale_to_random_energy(filters):
    """Scales every k x k filter to the expected energy of SpatialRandom."""
    norms = np.sqrt(np.sum(filters**2, axis=(0, 1), keepdims=True))
    return filters * (math.sqrt(RANDOM_FILTER_ENERGY) / norms)


def gaussian_blur_matrix(size: int, sigma: float) -> np.ndarray:
    """Row-normalised Gaussian blur along one axis of a `size`-tap filter.

    Row `i` holds the Gaussian weights centred on tap `i`, restricted to the
    filter's own taps and normalised to sum to one, so a constant filter is
    left unchanged and no energy leaks in from outside the filter.
    """
    taps = np.arange(size, dtype=np.float64)
    weights = np.exp(-((taps[:, None] - taps[None, :]) ** 2) / (2 * sigma**2))
    return weights / weights.sum(axis=1, keepdims=True)


class _FixedFilterInitializer(keras.initializers.Initializer):
    """Base class: seeded NumPy draw, shape check, dtype cast."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed)

    def __call__(self, shape, dtype=None):
        shape = _check_depthwise_shape(shape, type(self).__name__)
        rng = np.random.default_rng(self.seed)
        values = self.filters(rng, shape)
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def filters(self, rng: np.random.Generator, shape) -> np.ndarray:
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialRandom(_FixedFilterInitializer):
    """Random depthwise filters at PyTorch's scale, i.i.d. U(-1/k, 1/k).

    PyTorch initialises a depthwise convolution with fan-in `k_h * k_w` (one
    input channel per group), giving U(-1/k, 1/k) for a square k x k kernel.
    Keras' `glorot_uniform` on a depthwise kernel counts fan-in as
    `in_channels * k_h * k_w` and fan-out as `depth_multiplier * k_h * k_w`,
    which at C=128, k=8 makes the filters ~4.6x smaller (so they stay that
    small forever when frozen). This is the default depthwise initializer of
    every layer and model in this package.

    Args:
        seed: integer seed, or `None` to draw one now and keep it.

    Example:

    >>> init = SpatialRandom(seed=0)
    >>> w = init((3, 3, 8, 1))
    >>> bool(np.all(np.abs(w) <= 1 / 3))
    True
    """

    def filters(self, rng, shape):
        return _uniform_filters(rng, shape)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SameRandom(_FixedFilterInitializer):
    """One set of random filters, repeated for every input channel.

    Draws `depth_multiplier` filters of size `k_h x k_w` from `SpatialRandom`'s
    distribution and gives every input channel the same set (the paper's
    "Same" column in Fig. 5: perfectly correlated filters across channels).

    Args:
        seed: integer seed, or `None` to draw one now and keep it.

    Example:

    >>> w = SameRandom(seed=0)((3, 3, 4, 2))
    >>> bool(np.all(w[:, :, 0, :] == w[:, :, 3, :]))
    True
    """

    def filters(self, rng, shape):
        k_h, k_w, channels, multiplier = shape
        one_set = _uniform_filters(rng, (k_h, k_w, 1, multiplier))
        return np.repeat(one_set, channels, axis=2)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Box(_FixedFilterInitializer):
    """Box (moving-average) filters: every tap of every filter is equal.

    Args:
        energy: `"random"` (default) scales each filter to the expected L2
            energy of a `SpatialRandom` filter (every tap `1/sqrt(3 k_h k_w)`);
            `"natural"` makes each filter sum to one (every tap
            `1/(k_h k_w)`).
        seed: accepted for a uniform interface; box filters use no
            randomness.

    Example:

    >>> w = Box(energy="natural")((2, 2, 1, 1))
    >>> [float(v) for v in np.ravel(w)]
    [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, energy="random", seed=None):
        super().__init__(seed=seed)
        self.energy = _check_energy(energy)

    def filters(self, rng, shape):
        box = np.full(shape, 1.0 / (shape[0] * shape[1]))
        if self.energy == "random":
            box = _rescale_to_random_energy(box)
        return box

    def get_config(self):
        return {"energy": self.energy, **super().get_config()}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Identity(_FixedFilterInitializer):
    """Dirac-delta filters: a stride-1 "same" depthwise conv passes input on.

    The delta sits where Keras/TensorFlow "same" padding puts the output pixel:
    at tap `(k - 1) // 2` along each axis (TensorFlow pads an even kernel with
    one more zero after the input than before it, so for even k the centre is
    the lower of the two middle taps).

    Args:
        energy: `"random"` (default) gives the delta the expected L2 energy of
            a `SpatialRandom` filter (value `1/sqrt(3)`); `"natural"` makes it
            exactly 1, so the convolution returns its input unchanged.
        seed: accepted for a uniform interface; unused.

    Example:

    >>> w = Identity(energy="natural")((3, 3, 1, 1))
    >>> np.asarray(w)[:, :, 0, 0].tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """

    def __init__(self, energy="random", seed=None):
        super().__init__(seed=seed)
        self.energy = _check_energy(energy)

    def filters(self, rng, shape):
        delta = np.zeros(shape)
        delta[(shape[0] - 1) // 2, (shape[1] - 1) // 2] = 1.0
        if self.energy == "random":
            delta *= math.sqrt(RANDOM_FILTER_ENERGY)
        return delta

    def get_config(self):
        return {"energy": self.energy, **super().get_config()}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Smoothed(_FixedFilterInitializer):
    """Low-pass random filters: `SpatialRandom` filters blurred by a Gaussian.

    Each random k x k filter is convolved with a Gaussian of standard
    deviation `sigma` (in taps), restricted to the filter's own support and
    normalised per tap (`gaussian_blur_matrix`), which removes its
    high-frequency content (paper section 4.3, Fig. 9).

    Args:
        sigma: blur width in taps, > 0. Larger is smoother.
        energy: `"random"` (default) rescales each blurred filter to the
            expected L2 energy of an unblurred `SpatialRandom` filter, so
            smoothing changes the spectrum, not the scale; `"natural"` keeps
            the (smaller) energy the blur leaves.
        seed: integer seed, or `None` to draw one now and keep it. With the
            same seed the unblurred filters equal `SpatialRandom(seed)`'s.

    Example:

    >>> w = Smoothed(sigma=1.0, seed=0)((5, 5, 2, 1))
    >>> tuple(w.shape)
    (5, 5, 2, 1)
    """

    def __init__(self, sigma=1.0, energy="random", seed=None):
        super().__init__(seed=seed)
        if (
            isinstance(sigma, bool)
            or not isinstance(sigma, (int, float))
            or not math.isfinite(sigma)
            or sigma <= 0
        ):
            raise ValueError(
                "Invalid value for argument `sigma`. Expected a finite number "
                f"> 0. Received: sigma={sigma!r}"
            )
        self.sigma = float(sigma)
        self.energy = _check_energy(energy)

    def filters(self, rng, shape):
        random_filters = _uniform_filters(rng, shape)
        blur_h = gaussian_blur_matrix(shape[0], self.sigma)
        blur_w = gaussian_blur_matrix(shape[1], self.sigma)
        smooth = np.einsum("ai,bj,ijcd->abcd", blur_h, blur_w, random_filters)
        if self.energy == "random":
            smooth = _rescale_to_random_energy(smooth)
        return smooth

    def get_config(self):
        return {
            "sigma": self.sigma,
            "energy": self.energy,
            **super().get_config(),
        }


ALIASES = {
    "spatial_random": SpatialRandom,
    "same_random": SameRandom,
    "box": Box,
    "identity": Identity,
    "smoothed": Smoothed,
}


def from_config(config):
    """The spatial initializer a training config names: its
    `spatial_initializer`, with `smoothing_sigma` when that is
    `"smoothed"`."""
    if config.spatial_initializer == "smoothed":
        return Smoothed(sigma=config.smoothing_sigma)
    return config.spatial_initializer


def get(identifier):
    """Resolves an initializer: our snake-case names first, then Keras'.

    Args:
        identifier: one of `ALIASES` (e.g. `"spatial_random"`), anything
            `keras.initializers.get` accepts, or `None`.

    Returns:
        An initializer instance (a fresh one for a string name), or `None`.
    """
    if isinstance(identifier, str) and identifier in ALIASES:
        return ALIASES[identifier]()
    try:
        return keras.initializers.get(identifier)
    except ValueError as error:
        raise ValueError(
            "Invalid value for an initializer argument. Expected one of "
            f"{tuple(ALIASES)}, a Keras initializer name, instance or config. "
            f"Received: {identifier!r}"
        ) from error
