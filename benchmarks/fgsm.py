"""FGSM throughput against plain inference, same model and batch.

An FGSM image costs one forward and one backward pass to the input
(`fgsm`), and scoring it one more forward pass (`fgsm_scored`, what a sweep
pays per epsilon beyond the first); plain inference is one forward pass.
Measured side by side (interleaved windows, medians) in one process.
Target on the 2-core CPU: FGSM images/s >= 0.35x inference images/s (stock
TensorFlow reaches about 0.38x).

    python -m benchmarks.fgsm
"""

import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import common
from spatialmix_keras import attacks, get_model

_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per batch.")
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows per candidate.")
_MODELS = flags.DEFINE_list(
    "models", ["convmixer_256_8", "resnet20"], "Models (Chans) to time."
)


def _time(fn, windows, steps=2):
    fn()  # warm-up: tracing
    fn()
    samples = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        samples.append((time.perf_counter() - start) / steps)
    return samples


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    x, y = common.random_batch(_BATCH.value, (32, 32, 3))
    results = {}
    for name in _MODELS.value:
        attacker = attacks.Attacker(get_model(name, freeze="spatial", seed=0))

        def infer(attacker=attacker):
            return attacker.predict(x).numpy()

        def generate(attacker=attacker):
            return attacker.fgsm(x, y, 8 / 255).numpy()

        def generate_and_score(attacker=attacker):
            adversarial = attacker.fgsm(x, y, 8 / 255)
            return attacker.predict(adversarial).numpy()

        candidates = {
            "inference": infer,
            "fgsm": generate,
            "fgsm_scored": generate_and_score,
        }
        samples = {key: [] for key in candidates}
        for _ in range(_WINDOWS.value):  # interleave the candidates
            for key, fn in candidates.items():
                samples[key] += _time(fn, 1)
        rates = {
            key: _BATCH.value / statistics.median(s)
            for key, s in samples.items()
        }
        results[name] = {
            "inference_images_per_s": rates["inference"],
            "fgsm_images_per_s": rates["fgsm"],
            "fgsm_scored_images_per_s": rates["fgsm_scored"],
            "fgsm_over_inference": rates["fgsm"] / rates["inference"],
            "fgsm_scored_over_inference": (
                rates["fgsm_scored"] / rates["inference"]
            ),
        }
    common.emit(
        {
            "benchmark": "fgsm",
            "batch_size": _BATCH.value,
            "note": "FGSM = gradient to the input + scoring forward",
            "machine": common.machine(),
            "results": results,
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
        }
    )


if __name__ == "__main__":
    app.run(main)
