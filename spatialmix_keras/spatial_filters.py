"""The spatial-mixing filters of a model: found, measured and drawn.

`depthwise_kernels` finds the depthwise kernels of a model's separable and
depthwise convolutions; `filter_movement` measures how far training moved
them from their initialisation and `high_frequency_share` how much of their
energy is high-frequency (the robustness study's training-length part);
`filter_grid` tiles them into one image (TensorBoard, Fig. 7).
"""

from __future__ import annotations

import keras
import numpy as np

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
