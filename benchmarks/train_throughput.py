"""Training throughput in every freeze mode, against stock Keras layers.

For each network, times a training step (AdamW, `train_on_batch`, one fixed
batch) of the package's model in Full / Chans / Space and of the same
network rebuilt from stock layers (`DepthwiseConv2D` + 1x1 `Conv2D`,
`trainable=False` where frozen, same initial weights), all interleaved in
one process. A large float32 matmul is timed in the same run, before and
after each network, so the step's arithmetic rate
(`spatialmix_keras.flops.step_flops` per second) is reported as a share of
the fastest rate the machine's matmul reached in the run.

For the separable ResNets, the same network with `compose="never"` (depthwise
then pointwise, as the paper computed it) and the standard-convolution ResNet
of the same widths join the candidates (`--compare_compose`).

Prints JSON: images/s of every candidate, ratios against stock Full, our
Full and the standard-convolution network, and `matmul_share`. Only ratios
within one run compare.

    python -m benchmarks.train_throughput                  # convmixer k8
    python -m benchmarks.train_throughput --networks=all   # ~1 h, 2 cores
    python -m benchmarks.train_throughput --networks=resnet20 --batch_size=64
    python -m benchmarks.train_throughput --jit_compile=both   # XLA on/off
    python -m benchmarks.train_throughput --precision=mixed_float16  # GPUs
    python -m benchmarks.train_throughput --precision=mixed_bfloat16  # AMX

XLA follows Keras' `jit_compile="auto"` by default: off for TensorFlow on a
CPU (it made ConvMixer training steps 16-25x slower on the 2-core dev
machine), on where the backend compiles anyway (JAX) or a GPU is present.
`--jit_compile=both` adds XLA candidates so that can be measured again.

Runs on the TensorFlow and the JAX backend (`KERAS_BACKEND=jax`: GPU machines
without TensorFlow; on JAX every candidate is XLA-compiled).
"""

from __future__ import annotations

import statistics
import time

import keras
from absl import app, flags

from benchmarks import common
from spatialmix_keras import flops, get_model

NETWORKS = common.NETWORKS
MODES = {"none": "full", "spatial": "chans", "channel": "space"}

_NETWORKS = flags.DEFINE_list(
    "networks",
    ["convmixer_256_8_k8"],
    f"Networks to time, or `all`: {', '.join(NETWORKS)}.",
)
_BATCH = flags.DEFINE_integer("batch_size", 128, "Images per step.")
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows per candidate.")
_STEPS = flags.DEFINE_integer("steps", 3, "Steps per window.")
_STOCK = flags.DEFINE_bool(
    "stock", True, "Also time the stock-layer network in each mode."
)
_JIT = flags.DEFINE_enum(
    "jit_compile",
    "auto",
    ["auto", "off", "on", "both"],
    "XLA for our candidates (`auto`: Keras decides, off on a TensorFlow "
    "CPU; `both`: with and without).",
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "mixed_float16", "mixed_bfloat16"],
    "Keras dtype policy of every candidate (mixed_float16 for GPUs; "
    "mixed_bfloat16 pays only on CPUs with AMX / AVX512-BF16).",
)
_COMPOSE = flags.DEFINE_bool(
    "compare_compose",
    True,
    "ResNets: also time compose='never' (the two-part separable "
    "computation) and the standard-convolution ResNet of the same widths.",
)
_MATMUL = flags.DEFINE_integer(
    "matmul_size", 2048, "n of the n x n x n float32 reference matmul."
)
_INTER = flags.DEFINE_integer(
    "inter_op_threads", None, "tf.config.threading inter-op threads."
)
_INTRA = flags.DEFINE_integer(
    "intra_op_threads", None, "tf.config.threading intra-op threads."
)
_PROFILE = flags.DEFINE_string(
    "profile_dir",
    None,
    "Write a tf.profiler trace of a few steps of each candidate here (view "
    "with TensorBoard's profile plugin).",
)


# ---------------------------------------------------------------- timing
def _compiled(fn):
    """`fn` as one graph of the backend (tf.function, jax.jit)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn


def matmul_flops_per_s(n, repeats=5):
    """FLOP/s of an n x n x n float32 matmul (median of `repeats`)."""
    a = keras.random.uniform((n, n), seed=1)
    b = keras.random.uniform((n, n), seed=2)
    matmul = _compiled(lambda a, b: keras.ops.sum(keras.ops.matmul(a, b)))
    keras.ops.convert_to_numpy(matmul(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(matmul(a, b))
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def _is_regression(network):
    """Un-shufflers regress images (MSE); the others classify."""
    return NETWORKS[network][0].startswith("unshuffler")


def _candidates(network, batch):
    """Compiled models by name, their step FLOPs, and how far the stock and
    uncomposed twins' outputs differ from ours (relative)."""
    variant, overrides, _ = NETWORKS[network]
    loss = keras.losses.MeanSquaredError() if _is_regression(network) else None
    jits = {
        "auto": ["auto"],
        "off": [False],
        "on": [True],
        "both": [False, True],
    }[_JIT.value]
    # The baselines compile as the first of our candidates do.
    compile_ = lambda model: common.compile_for_training(  # noqa: E731
        model, loss=loss, jit=jits[0]
    )
    models, step_flops, differences = {}, {}, {}
    for freeze, label in MODES.items():
        ours = get_model(variant, freeze=freeze, seed=0, **overrides)
        for jit in jits:
            name = f"ours_{label}" + ("_xla" if jit is True else "")
            model = ours if jit == jits[0] else keras.models.clone_model(ours)
            models[name] = common.compile_for_training(
                model, loss=loss, jit=jit
            )
            step_flops[name] = flops.step_flops(ours)
        if _STOCK.value:
            stock = common.stock_clone(ours)
            differences[f"stock_{label}"] = common.check_equivalent(
                ours, stock, batch[0]
            )
            models[f"stock_{label}"] = compile_(stock)
            step_flops[f"stock_{label}"] = flops.step_flops(stock)
        if _COMPOSE.value and variant.startswith("resnet"):
            uncomposed = overrides | {"compose": "never"}
            plain = get_model(variant, freeze=freeze, seed=0, **uncomposed)
            plain.set_weights(ours.get_weights())
            differences[f"ours_{label}_uncomposed"] = common.check_equivalent(
                ours, plain, batch[0]
            )
            models[f"ours_{label}_uncomposed"] = compile_(plain)
            step_flops[f"ours_{label}_uncomposed"] = flops.step_flops(plain)
    if _COMPOSE.value and variant.startswith("resnet"):
        standard = get_model(variant, conv="standard", seed=0, **overrides)
        models["standard_conv"] = compile_(standard)
        step_flops["standard_conv"] = flops.step_flops(standard)
    return models, step_flops, differences


def _batch(network, size):
    input_shape = NETWORKS[network][2]
    if _is_regression(network):
        x, _ = common.random_batch(size, input_shape)
        return x, x
    return common.random_batch(size, input_shape)


def _profile(models, batch, logdir):
    import tensorflow as tf

    for name, model in models.items():
        model.train_on_batch(*batch)
        tf.profiler.experimental.start(f"{logdir}/{name}")
        for _ in range(3):
            model.train_on_batch(*batch)
        tf.profiler.experimental.stop()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    networks = list(NETWORKS) if _NETWORKS.value == ["all"] else _NETWORKS.value
    unknown = [n for n in networks if n not in NETWORKS]
    if unknown:
        raise app.UsageError(
            f"Invalid value for flag `--networks`. Expected names from "
            f"{list(NETWORKS)} or `all`. Received: {unknown}"
        )
    threads = _INTER.value is not None or _INTRA.value is not None
    if keras.backend.backend() != "tensorflow" and (threads or _PROFILE.value):
        raise app.UsageError(
            "Flags `--inter_op_threads`, `--intra_op_threads` and "
            "`--profile_dir` need the TensorFlow backend. Received: "
            f"KERAS_BACKEND={keras.backend.backend()!r}"
        )
    if threads:
        import tensorflow as tf

        if _INTER.value is not None:
            tf.config.threading.set_inter_op_parallelism_threads(_INTER.value)
        if _INTRA.value is not None:
            tf.config.threading.set_intra_op_parallelism_threads(_INTRA.value)
    if _PRECISION.value != "float32":
        keras.mixed_precision.set_global_policy(_PRECISION.value)
    matmul = [matmul_flops_per_s(_MATMUL.value)]
    results = {}
    for network in networks:
        batch = _batch(network, _BATCH.value)
        models, step_flops, differences = _candidates(network, batch)
        times = common.interleaved_step_times(
            models, batch, windows=_WINDOWS.value, steps=_STEPS.value
        )
        if _PROFILE.value:
            _profile(models, batch, f"{_PROFILE.value}/{network}")
        matmul.append(matmul_flops_per_s(_MATMUL.value))
        # The fastest matmul of the run: the machine's rate varies by tens
        # of percent within minutes, and the share should not gain from a
        # slow moment.
        reference = max(matmul)
        rows = {}
        for name, seconds in times.items():
            rate = step_flops[name] * _BATCH.value / seconds
            rows[name] = {
                "images_per_s": _BATCH.value / seconds,
                "step_gflop": step_flops[name] * _BATCH.value / 1e9,
                "gflop_per_s": rate / 1e9,
                "matmul_share": rate / reference,
                "xla": bool(models[name].jit_compile),
            }
            if name in differences:
                rows[name]["output_difference"] = differences[name]
            for base in ("stock_full", "ours_full", "standard_conv"):
                if base in times:
                    rows[name][f"over_{base}"] = times[base] / seconds
        results[network] = rows
        keras.backend.clear_session()
    common.emit(
        {
            "benchmark": "train_throughput",
            "batch_size": _BATCH.value,
            "jit_compile": _JIT.value,
            "precision": _PRECISION.value,
            "threads": {"inter_op": _INTER.value, "intra_op": _INTRA.value},
            "matmul": {
                "n": _MATMUL.value,
                "gflop_per_s_samples": [m / 1e9 for m in matmul],
            },
            "machine": common.machine(),
            "results": results,
        }
    )


if __name__ == "__main__":
    app.run(main)
