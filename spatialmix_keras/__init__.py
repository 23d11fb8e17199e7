"""spatialmix_keras: frozen random spatial mixing in Keras 3.

Importing the package registers every custom layer and initializer, so a
`.keras` file made with them loads with a plain `keras.models.load_model`.
"""

from spatialmix_keras import (
    activations,
    initializers,
    layers,
    models,
    normalization,
)
from spatialmix_keras.layers import (
    PointwiseConv2D,
    SpatialDepthwiseConv2D,
    SpatialSeparableConv2D,
    freeze_flags,
)
from spatialmix_keras.models import get_model

__version__ = "0.1.0"

__all__ = [
    "activations",
    "PointwiseConv2D",
    "SpatialDepthwiseConv2D",
    "SpatialSeparableConv2D",
    "freeze_flags",
    "get_model",
    "initializers",
    "layers",
    "models",
    "normalization",
]
