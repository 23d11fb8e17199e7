"""What does op determinism cost? Training steps with and without
`tf.config.experimental.enable_op_determinism()` (process-wide, so each
candidate runs in its own child process; children alternate A, B, A, B and
the medians are compared).

    python -m benchmarks.determinism
"""

import json
import statistics
import subprocess
import sys

from absl import app, flags

from benchmarks import common

_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per step.")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Child processes per mode.")
_MODEL = flags.DEFINE_string("model", "convmixer_256_8", "Model (Full).")

CHILD = """
import json, sys, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
if sys.argv[1] == "on":
    tf.config.experimental.enable_op_determinism()
from benchmarks import common
from spatialmix_keras import get_model
model = common.compile_for_training(get_model(sys.argv[2], seed=0))
batch = common.random_batch(int(sys.argv[3]), (32, 32, 3))
print(json.dumps(common.interleaved_step_times({"m": model}, batch,
                                               windows=3, steps=2)["m"]))
"""


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    seconds = {"off": [], "on": []}
    for _ in range(_ROUNDS.value):
        for mode in ("off", "on"):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    mode,
                    _MODEL.value,
                    str(_BATCH.value),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            seconds[mode].append(
                json.loads(out.stdout.strip().splitlines()[-1])
            )
    off, on = (statistics.median(seconds[m]) for m in ("off", "on"))
    common.emit(
        {
            "benchmark": "determinism",
            "model": _MODEL.value,
            "batch_size": _BATCH.value,
            "machine": common.machine(),
            "step_s_off": off,
            "step_s_on": on,
            "deterministic_over_default_speed": off / on,
        }
    )


if __name__ == "__main__":
    app.run(main)
