"""Pictures of depthwise filters (the paper's Figs. 7 and 9), for TensorBoard
and for reports."""

from __future__ import annotations

import numpy as np

from spatialmix_keras.layers import (
    SpatialDepthwiseConv2D,
    SpatialSeparableConv2D,
)


def depthwise_kernels(model):
    """`(layer name, kernel)` for every depthwise kernel, input to output."""
    found = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, SpatialSeparableConv2D):
            found.append((layer.name, layer.depthwise_kernel))
        elif isinstance(layer, SpatialDepthwiseConv2D):
            found.append((layer.name, layer.kernel))
    return found


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
