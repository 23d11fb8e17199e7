"""spatialmix_keras: frozen random spatial mixing in Keras 3.

The layers, initializers and models load on first use (`sm.get_model`,
`sm.layers`, ...), so that the config schema (`spatialmix_keras.schema`) and
the vocabulary are read without TensorFlow. Using any of them registers
every custom layer and initializer, and so does importing the package after
Keras: a `.keras` file made with them then loads with a plain
`keras.models.load_model`:

    import keras
    import spatialmix_keras  # registers the layers
"""

import importlib
import sys

__version__ = "0.1.0"

# Public name -> the module that defines it.
_LAZY = {
    "activations": "spatialmix_keras.activations",
    "initializers": "spatialmix_keras.initializers",
    "layers": "spatialmix_keras.layers",
    "models": "spatialmix_keras.models",
    "normalization": "spatialmix_keras.normalization",
    "PointwiseConv2D": "spatialmix_keras.layers",
    "SpatialDepthwiseConv2D": "spatialmix_keras.layers",
    "SpatialSeparableConv2D": "spatialmix_keras.layers",
    "freeze_flags": "spatialmix_keras.layers",
    "get_model": "spatialmix_keras.models",
}
_REGISTERING = (
    "spatialmix_keras.activations",
    "spatialmix_keras.initializers",
    "spatialmix_keras.layers",
    "spatialmix_keras.models",
    "spatialmix_keras.normalization",
)

__all__ = sorted(_LAZY)


def register() -> None:
    """Registers every custom layer, initializer and activation with Keras
    (what loading a `.keras` file of ours needs); imports Keras."""
    for module in _REGISTERING:
        importlib.import_module(module)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(
            f"module 'spatialmix_keras' has no attribute {name!r}"
        )
    register()
    module = importlib.import_module(_LAZY[name])
    return module if module.__name__.endswith(name) else getattr(module, name)


if "keras" in sys.modules or "tensorflow" in sys.modules:
    register()  # Keras is loaded already: registering costs nothing more
