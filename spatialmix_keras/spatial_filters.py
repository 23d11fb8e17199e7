"""The spatial-mixing filters of a model: found, measured and drawn.

`depthwise_kernels` finds the depthwise kernels of a model's separable and
depthwise convolutions; `filter_movement` measures how far training moved
them from their initialisation and `high_frequency_share` how much of their
energy is high-frequency (the robustness study's training-length part);
`outside_span` and `unreachable_shares` measure how much of a trained
separable layer no layer with the initial filters frozen could represent;
`filter_grid` tiles them into one image (TensorBoard, Fig. 7).
"""

from __future__ import annotations

import keras
import numpy as np

from spatialmix_keras import initializers, layers

# Radial frequency (cycles per pixel) above which filter energy counts as
# high-frequency: half the Nyquist frequency.
HIGH_FREQUENCY_CUTOFF = 0.25
# Filters are zero-padded to this size before their DFT (a fine sampling of
# their spectrum, the same grid for every kernel size).
SPECTRUM_SIZE = 32


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def depthwise_kernels(model) -> dict[str, np.ndarray]:
    """The spatial-mixing filters of a model, by layer name: the depthwise
    kernels of its separable and depthwise convolutions, `(k, k, C, d)`."""
    kernels = {}
    for layer in _layers(model):
        if isinstance(layer, keras.layers.SeparableConv2D):
            kernels[layer.name] = layer.depthwise_kernel
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            kernels[layer.name] = layer.kernel
    return {k: keras.ops.convert_to_numpy(v) for k, v in kernels.items()}


def filter_movement(initial: dict, current: dict) -> float:
    """`||D - D0|| / ||D0||` (Frobenius, all depthwise kernels together):
    how far training moved the spatial filters from their initialisation
    (0 for frozen ones)."""
    if initial.keys() != current.keys():
        raise ValueError(
            "The two sets of kernels come from different models: layers "
            f"{sorted(initial.keys() ^ current.keys())} are in only one."
        )
    moved = sum(float(np.sum((current[k] - initial[k]) ** 2)) for k in initial)
    size = sum(float(np.sum(initial[k] ** 2)) for k in initial)
    return float(np.sqrt(moved / size))


def high_frequency_share(
    kernels, cutoff: float = HIGH_FREQUENCY_CUTOFF, size: int = SPECTRUM_SIZE
) -> float:
    """Share of the filters' energy above `cutoff` cycles per pixel.

    Each k x k filter's spectrum is its DFT zero-padded to `size` x `size`
    (its continuous spectrum, finely sampled); the energy `|F|^2` of the
    bins whose radial frequency exceeds `cutoff` is divided by the energy
    of all bins, pooled over every filter. White-noise filters (a flat
    expected spectrum) give the share of bins above the cutoff, ~0.80 at
    0.25; smooth filters give less.

    Args:
        kernels: arrays `(k, k, ...)` (a dict's values are used), e.g. from
            `depthwise_kernels`.
    """
    if isinstance(kernels, dict):
        kernels = list(kernels.values())
    frequencies = np.fft.fftfreq(size)
    high = np.hypot(frequencies[:, None], frequencies[None, :]) > cutoff
    high_energy = total = 0.0
    for kernel in kernels:
        kernel = np.asarray(kernel, np.float64)
        if kernel.shape[0] > size or kernel.shape[1] > size:
            raise ValueError(
                f"Invalid value for argument `size`: {size} is smaller than a "
                f"{kernel.shape[0]}x{kernel.shape[1]} kernel."
            )
        flat = kernel.reshape(kernel.shape[0], kernel.shape[1], -1)
        energy = np.abs(np.fft.fft2(flat, s=(size, size), axes=(0, 1))) ** 2
        high_energy += float(energy[high].sum())
        total += float(energy.sum())
    if total == 0:
        raise ValueError("The kernels are all zero: no spectrum to measure.")
    return high_energy / total


def outside_span(initial, composed, rtol: float = 1e-6) -> float:
    """Share of a composed separable kernel's energy that the initial
    depthwise filters cannot reach.

    A separable layer with depthwise kernel D (multiplier d) and pointwise
    kernel P equals one convolution with `W = D.P` (`layers.compose_kernel`),
    whose filters for input channel c are combinations of the d filters
    `D[:, :, c, :]`. With D frozen at D0 (Chans) the reachable W are those
    whose every `W[:, :, c, :]` lies in the span of `D0[:, :, c, :]`. This
    returns `sum_c ||(I - proj_c) W_c||^2 / ||W||^2`, `proj_c` the
    orthogonal projection onto that span: 0 when D0 spans every k x k filter
    (d >= k*k random filters), about `1 - d / (k*k)` for a W unrelated to D0.

    Args:
        initial: `(k, k, C, d)` depthwise kernel D0.
        composed: `(k, k, C, F)` composed kernel W.
        rtol: singular values below `rtol` times the largest of a channel's
            filters count as zero (linearly dependent filters).
    """
    initial = np.asarray(initial, np.float64)
    composed = np.asarray(composed, np.float64)
    if initial.ndim != 4 or composed.shape[:3] != initial.shape[:3]:
        raise ValueError(
            "Expected a depthwise kernel (k, k, C, d) and a composed kernel "
            "(k, k, C, F) of the same k and C. Received shapes: "
            f"initial={initial.shape}, composed={composed.shape}"
        )
    total = float(np.sum(composed**2))
    if total == 0:
        raise ValueError("The composed kernel is all zero: no energy to split.")
    k_h, k_w, channels, _ = initial.shape
    outside = 0.0
    for c in range(channels):
        filters = initial[:, :, c, :].reshape(k_h * k_w, -1)
        target = composed[:, :, c, :].reshape(k_h * k_w, -1)
        u, s, _ = np.linalg.svd(filters, full_matrices=False)
        basis = u[:, s > rtol * s.max()]  # none when all are zero
        residual = target - basis @ (basis.T @ target)
        outside += float(np.sum(residual**2))
    return outside / total


def unreachable_shares(model) -> dict[str, float]:
    """How much of what each spatial layer of `model` computes now its
    initial filters, frozen, could not represent, by layer name.

    For a `SpatialSeparableConv2D`, `outside_span(D0, D.P)`: a Chans twin
    combines its d frozen filters per input channel through P. For a
    `SpatialDepthwiseConv2D` (a ConvMixer's spatial mixer) each filter is
    its own output, followed by a nonlinearity, so a frozen twin has
    nothing to combine it with: the share of the filters' energy off the
    line of their initial filter, one filter at a time. Only layers whose
    filters came from a fixed-filter initializer count (seeded: the draw
    is rebuilt from the layer's config); frozen layers give 0.
    """
    fixed = tuple(initializers.ALIASES.values())
    shares = {}
    for layer in _layers(model):
        separable = isinstance(layer, layers.SpatialSeparableConv2D)
        if not (
            separable or isinstance(layer, layers.SpatialDepthwiseConv2D)
        ) or not isinstance(layer.depthwise_initializer, fixed):
            continue
        kernel = layer.depthwise_kernel if separable else layer.kernel
        initial = layer.depthwise_initializer(tuple(kernel.shape))
        initial = keras.ops.convert_to_numpy(initial)
        if separable:
            target = layers.compose_kernel(kernel, layer.pointwise_kernel)
            target = keras.ops.convert_to_numpy(target)
        else:  # one filter per output: (k, k, C * d, 1)
            k_h, k_w = initial.shape[:2]
            initial = initial.reshape(k_h, k_w, -1, 1)
            target = keras.ops.convert_to_numpy(kernel).reshape(k_h, k_w, -1, 1)
        shares[layer.name] = outside_span(initial, target)
    return shares


def filter_grid(kernel, max_filters: int = 64, zoom: int = 4) -> np.ndarray:
    """Tiles the first `max_filters` k x k filters into one grey image.

    Each filter is scaled by its own largest magnitude and mapped to [0, 1]
    (0.5 is zero), so structure shows whatever the filter's scale.

    Returns:
        float32 array `(rows, cols, 1)` in [0, 1].
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    k_h, k_w = kernel.shape[:2]
    filters = kernel.reshape(k_h, k_w, -1)[..., :max_filters]
    filters = np.moveaxis(filters, -1, 0)
    scale = np.abs(filters).max(axis=(1, 2), keepdims=True)
    filters = 0.5 + 0.5 * filters / np.where(scale > 0, scale, 1.0)
    count = filters.shape[0]
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    grid = np.ones((rows * (k_h + 1) + 1, cols * (k_w + 1) + 1), np.float32)
    for i, f in enumerate(filters):
        r, c = divmod(i, cols)
        grid[
            1 + r * (k_h + 1) : 1 + r * (k_h + 1) + k_h,
            1 + c * (k_w + 1) : 1 + c * (k_w + 1) + k_w,
        ] = f
    grid = np.kron(grid, np.ones((zoom, zoom), np.float32))
    return grid[..., None]
