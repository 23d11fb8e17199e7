"""Where a training step's time goes, op by op, in float32 and bfloat16.

Builds each network's Chans model under the `float32` and `mixed_bfloat16`
policies (as `precision_step` does), runs a few warm `train_on_batch` steps
under TensorFlow's profiler on one thread, and sums the traced kernel time
per op type (`Conv2DBackpropFilter`, `FusedBatchNormV3`, `Cast`, ...) and per
group (convolutions, depthwise convolutions, BatchNorm, XLA-compiled
elementwise loops such as the package's GELU, casts, other elementwise ops).
Side by side, the two precisions show which ops gain from bf16 units, which
lose, and which a policy adds (casts); `precision_step` times the whole step
without a profiler.

    python -m benchmarks.op_profile                           # both networks
    python -m benchmarks.op_profile --networks=resnet20 --steps=5

Prints JSON: per network and precision, the step's wall time, the traced
total (the rest is scheduling), milliseconds per step per group and per op
type, and bf16 / f32 per group. One intra-op thread, so that kernel times
add up to the step.
"""

from __future__ import annotations

import collections
import glob
import os
import tempfile
import time

from absl import app, flags

from benchmarks import common
from benchmarks.common import PRECISIONS, compiled_model
from benchmarks.xplane import group_of, op_times

_NETWORKS = flags.DEFINE_list(
    "networks", ["resnet20", "convmixer_256_8_k8"], "Networks to profile."
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per step.")
_STEPS = flags.DEFINE_integer("steps", 3, "Profiled steps per precision.")
_TOP = flags.DEFINE_integer("top", 15, "Op types listed per precision.")


def profile_network(network, batch_size, steps):
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    result = {}
    for policy in PRECISIONS:
        model, shape = compiled_model(network, policy)
        x, y = common.random_batch(batch_size, shape)
        for _ in range(3):
            model.train_on_batch(x, y)
        with tempfile.TemporaryDirectory() as logdir:
            tf.profiler.experimental.start(logdir)
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            wall = (time.perf_counter() - start) / steps
            tf.profiler.experimental.stop()
            (path,) = glob.glob(
                os.path.join(logdir, "**", "*.xplane.pb"), recursive=True
            )
            xspace = xplane_pb2.XSpace()
            with open(path, "rb") as f:
                xspace.ParseFromString(f.read())
        ms = {k: v / 1e9 / steps for k, v in op_times(xspace).items()}
        groups = collections.Counter()
        for op_type, t in ms.items():
            groups[group_of(op_type)] += t
        result[policy] = {
            "step_ms": 1e3 * wall,
            "traced_ms": sum(ms.values()),
            "group_ms": dict(groups),
            "op_ms": dict(collections.Counter(ms).most_common(_TOP.value)),
        }
    f32, bf16 = (result[p]["group_ms"] for p in PRECISIONS)
    result["bf16_over_f32_step"] = (
        result["float32"]["step_ms"] / result["mixed_bfloat16"]["step_ms"]
    )
    result["bf16_over_f32_group"] = {
        g: f32.get(g, 0.0) / bf16[g] for g in bf16 if bf16[g] > 0
    }
    return result


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    common.emit(
        {
            "benchmark": "op_profile",
            "machine": common.machine(),
            "batch_size": _BATCH.value,
            "steps": _STEPS.value,
            "networks": {
                n: profile_network(n, _BATCH.value, _STEPS.value)
                for n in _NETWORKS.value
            },
        }
    )


if __name__ == "__main__":
    app.run(main)
