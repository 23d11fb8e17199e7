"""spatialmix_keras: frozen random spatial mixing in Keras 3.

The layers, initializers and models load on first use (`sm.get_model`,
`sm.layers`, ...), so that the config schema (`spatialmix_keras.schema`) and
the vocabulary are read without TensorFlow. Once both this package and
Keras are imported, in either order, every custom layer and initializer is
registered: a `.keras` file made with them loads with a plain
`keras.models.load_model`.
"""

import importlib
import importlib.abc
import importlib.util
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
    module = importlib.import_module(_LAZY[name])
    if module.__name__.endswith(name):  # a submodule
        return module
    register()
    return getattr(module, name)


def _initializing(name) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is None or bool(getattr(spec, "_initializing", False))


class _RegisterWithKeras(importlib.abc.MetaPathFinder):
    """Registers the layers as soon as Keras has loaded and no import of
    Keras, TensorFlow or this package is under way (they nest), for a
    program that imports this package before Keras."""

    def __init__(self):
        self._finding = False
        self._loading = 0  # watched imports under way

    def _watched(self, name):
        return name in ("keras", "tensorflow") or name.startswith(
            "spatialmix_keras."
        )

    def find_spec(self, name, path, target=None):
        if not self._watched(name) or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def load_then_register(module):
            self._loading += 1
            try:
                load(module)
            finally:
                self._loading -= 1
            # (The module just run still counts as initialising.)
            keras_ready = name == "keras" or not _initializing("keras")
            if self._loading == 0 and keras_ready:
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                register()

        spec.loader.exec_module = load_then_register
        return spec


if "keras" in sys.modules and not _initializing("keras"):
    register()  # Keras is loaded already: registering costs nothing more
elif not any(isinstance(f, _RegisterWithKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithKeras())
