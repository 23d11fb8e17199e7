"""Does memory stay bounded over a long FGSM sweep and a long un-shuffling
evaluation? Streams many batches through one `attacks.eps_sweep` call and
one `unshuffle.evaluate` call, sampling the process's resident memory (RSS)
every few batches; reports the growth between the first and the last
quarter of each run (per-batch growth would show as a steady climb).

    python -m benchmarks.memory
"""

import numpy as np
import psutil
import tensorflow as tf
from absl import app, flags

from benchmarks import common
from spatialmix_keras import attacks, get_model, unshuffle

_BATCHES = flags.DEFINE_integer("batches", 200, "Batches per workload.")
_CHUNKS = flags.DEFINE_integer("chunks", 10, "RSS samples per workload.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per batch.")


def _rss_mib():
    return psutil.Process().memory_info().rss / 2**20


def _sampled_batches(shape, labels, samples):
    """One long stream of batches; records RSS every `len/chunks` batches."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(_BATCH.value, *shape)), tf.float32)
    y = tf.constant(rng.integers(0, 10, _BATCH.value), tf.int32)
    every = max(1, _BATCHES.value // _CHUNKS.value)
    for i in range(_BATCHES.value):
        yield (x, y) if labels else (x, x)
        if (i + 1) % every == 0:
            samples.append(_rss_mib())


def _growth(samples):
    quarter = max(1, len(samples) // 4)
    first = float(np.mean(samples[:quarter]))
    last = float(np.mean(samples[-quarter:]))
    return {
        "rss_mib": samples,
        "growth_mib": last - first,
        "growth_per_1000_batches_mib": (last - first)
        / max(_BATCHES.value, 1)
        * 1000,
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    classifier = get_model("convmixer_tiny", seed=0)
    unshuffler = get_model("unshuffler_64_5", seed=0)
    sweep, evaluation = [], []
    attacks.eps_sweep(
        classifier,
        _sampled_batches((32, 32, 3), True, sweep),
        [0.0, 1 / 255, 4 / 255, 8 / 255],
    )
    unshuffle.evaluate(
        unshuffler, _sampled_batches((14, 14, 1), False, evaluation)
    )
    common.emit(
        {
            "benchmark": "memory",
            "batches": _BATCHES.value,
            "batch_size": _BATCH.value,
            "machine": common.machine(),
            "results": {
                "fgsm_sweep": _growth(sweep),
                "unshuffle_evaluation": _growth(evaluation),
            },
        }
    )


if __name__ == "__main__":
    app.run(main)
