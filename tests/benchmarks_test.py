"""The stock-layer baselines the benchmarks time against."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from benchmarks import common, precision_training
from spatialmix_keras import flops, get_model, machine

_OURS = (
    "SpatialSeparableConv2D",
    "SpatialDepthwiseConv2D",
    "PointwiseConv2D",
    "FusedBatchNormalization",
    "FusedAdd",
    "Fork",
)


def _leaves(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        else:
            yield layer


@pytest.mark.parametrize("name", ["resnet_tiny", "convmixer_tiny"])
@pytest.mark.parametrize("freeze", ["none", "spatial", "channel"])
def test_stock_clone_is_the_same_network_in_stock_layers(name, freeze):
    model = get_model(name, freeze=freeze, seed=0)
    stock = common.stock_clone(model)
    assert not [
        type(layer).__name__
        for layer in _leaves(stock)
        if type(layer).__name__ in _OURS
    ]
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        stock(x, training=False), model(x, training=False), atol=1e-5
    )
    count = lambda ws: sum(int(np.prod(w.shape)) for w in ws)  # noqa: E731
    assert count(stock.trainable_weights) == count(model.trainable_weights)
    assert flops.step_flops(stock) == flops.step_flops(model)


def test_convs_false_keeps_our_convolutions():
    model = get_model("convmixer_tiny", freeze="spatial", seed=0)
    mixed = common.stock_clone(model, convs=False)
    names = {type(layer).__name__ for layer in _leaves(mixed)}
    assert "SpatialDepthwiseConv2D" in names
    assert "FusedBatchNormalization" not in names


def _benchmark(name, *args):
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_components_times_every_piece_at_a_tiny_size():
    # A smoke run of the profile on a 2x4x4x8 tensor: every piece, the
    # XLA-compiled ones included, runs and gets a time, and each block total
    # is the sum of its pieces.
    result = _benchmark(
        "components",
        "--batch_size=2",
        "--dim=8",
        "--size=4",
        "--kernel_size=3",
        "--repeats=1",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    ms = out["ms"]
    assert out["tensor"] == [2, 4, 4, 8]
    assert {
        "gelu_ours",
        "gelu_ours_uncompiled",
        "depthwise_all_grads_xla",
    } <= set(ms)
    assert all(t > 0 for t in ms.values())
    chans = (
        ms["depthwise_input_grad"]
        + ms["pointwise_all_grads"]
        + 2 * (ms["batchnorm_fused"] + ms["gelu_ours"])
    )
    assert out["block_ms"]["chans_ours"] == pytest.approx(chans)


def test_gpu_info_reads_nvidia_smi_and_is_empty_without_it(
    tmp_path, monkeypatch
):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "NVIDIA H200, 580.159.04, 143771 MiB"\n'
        'echo "NVIDIA H100 80GB HBM3, 570.1, 81559 MiB"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert machine.gpu_info() == [
        {"name": "NVIDIA H200", "driver": "580.159.04", "memory": "143771 MiB"},
        {
            "name": "NVIDIA H100 80GB HBM3",
            "driver": "570.1",
            "memory": "81559 MiB",
        },
    ]
    fake.unlink()
    assert machine.gpu_info() == []
    assert common.machine()["gpu_models"] == []


def test_interval_is_the_normal_95_percent_half_width():
    mean, half = precision_training.interval([1, 1, 0, 0, 1])
    # Sample std with n - 1: sqrt(0.3); half-width 1.96 * that / sqrt(5).
    assert mean == pytest.approx(0.6)
    assert half == pytest.approx(1.96 * 0.3**0.5 / 5**0.5)


def test_weight_check_counts_frozen_kept_and_trained_moved():
    a, b = np.zeros(3), np.ones(3)
    before = {
        "d0": (a, False),
        "d1": (a, False),
        "p0": (a, True),
        "p1": (a, True),
    }
    after = {
        "d0": (a, False),
        "d1": (b, False),
        "p0": (b, True),
        "p1": (a, True),
    }
    assert precision_training.weight_check(before, after) == {
        "frozen_kernels": 2,
        "frozen_unchanged": 1,
        "trained_kernels": 2,
        "trained_moved": 1,
    }


def _precision_training(*args):
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.precision_training", *args],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_precision_training_scores_a_saved_model_and_counts_changed_predictions(
    tmp_path, data_dir
):
    # The path a GPU-trained model takes: saved as .keras beside its
    # predictions, scored here by `--evaluate`. Three predictions altered on
    # disk must be counted, and the accuracy must be numpy's.
    path = os.path.join(data_dir, "cifar10_small.npz")
    with np.load(path) as arrays:
        x_test = arrays["x_test"].astype("float32") / 255.0
        y_test = arrays["y_test"].astype("int64")
    model = get_model("convmixer_tiny", freeze="spatial", seed=0)
    predictions = np.argmax(model.predict(x_test, verbose=0), axis=-1)
    model.save(tmp_path / "tiny.keras")
    altered = predictions.copy()
    altered[:3] = (altered[:3] + 1) % 10
    np.save(tmp_path / "tiny.npy", altered)
    result = _precision_training(
        f"--data={path}", f"--evaluate={tmp_path / 'tiny.keras'}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads(result.stdout)["models"][str(tmp_path / "tiny.keras")]
    assert scores["accuracy"] == pytest.approx(np.mean(predictions == y_test))
    assert scores["predictions_differ"] == 3


def test_precision_training_names_a_missing_data_file(tmp_path):
    missing = tmp_path / "none.npz"
    result = _precision_training(f"--data={missing}")
    assert result.returncode != 0
    assert f"Flag `--data` must name an npz file. Received: '{missing}'" in (
        result.stderr
    )


def test_precision_training_trains_each_precision_and_keeps_frozen_kernels(
    tmp_path, data_dir
):
    # Two tiny ConvMixers, float32 and mixed_bfloat16, a few steps each:
    # losses finite, frozen kernels untouched, trained ones moved, and the
    # --output file (written after every model) equal to the printed JSON.
    output = tmp_path / "out.json"
    result = _precision_training(
        f"--data={os.path.join(data_dir, 'cifar10_small.npz')}",
        "--networks=convmixer_tiny",
        "--precisions=float32,mixed_bfloat16",
        "--train_images=256",
        "--epochs=2",
        "--batch_size=64",
        "--data_on_device",
        f"--output={output}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout)
    assert json.loads(output.read_text()) == json.loads(
        json.dumps(printed, sort_keys=True)
    )
    assert printed["data_on_device"]
    rows = printed["results"]["convmixer_tiny"]
    assert set(rows) == {"float32", "mixed_bfloat16"}
    assert rows["mixed_bfloat16"]["compute_dtype"] == "bfloat16"
    for row in rows.values():
        assert row["all_finite"] and len(row["losses"]) == 2
        weights = row["weights"]
        assert weights["frozen_kernels"] > 0
        assert weights["frozen_unchanged"] == weights["frozen_kernels"]
        assert weights["trained_moved"] == weights["trained_kernels"] > 0
        assert 0.0 <= row["test_accuracy"] <= 1.0
    assert "minus_float32" in rows["mixed_bfloat16"]


def test_onednn_benchmark_runs_each_setting_in_its_own_process():
    # TensorFlow reads TF_ENABLE_ONEDNN_OPTS once per process: each worker
    # must report the setting it was started with, and both must compute
    # the same first loss from the same weights (rounding apart).
    result = _benchmark(
        "onednn", "--networks=convmixer_d2_spatial", "--windows=1", "--steps=1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["onednn_in_workers"] == {
        "TF_ENABLE_ONEDNN_OPTS=0": False,
        "TF_ENABLE_ONEDNN_OPTS=1": True,
    }
    entry = out["results"]["convmixer_d2_spatial"]
    assert entry["ms_per_step_onednn_off"] > 0
    assert entry["ms_per_step_onednn_on"] > 0
    assert entry["loss_relative_difference"] < 1e-4
    assert out["machine"]["cpu_model"]


def test_onednn_benchmark_names_a_bad_network():
    result = _benchmark("onednn", "--networks=resnet9_none")
    assert result.returncode != 0
    assert "Received: 'resnet9_none'" in result.stderr


def test_precision_step_times_both_precisions_and_flags_equal_windows():
    result = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.precision_step",
            "--networks=resnet20", "--batch_size=4", "--windows=2",
            "--steps=1", "--matmul_size=64", "--fit_steps=2",
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    timed = report["networks"]["resnet20"]
    assert set(timed["images_per_s"]) == {"float32", "mixed_bfloat16"}
    assert all(v > 0 for v in timed["images_per_s"].values())
    low, high = timed["bf16_over_f32_range"]
    assert low <= timed["bf16_over_f32"] <= high
    assert "cpu_flags" in report["machine"]
    assert report["machine"]["code_version"] and report["machine"]["date"]
    assert set(report["matmul_flop_per_s"]) == {"float32", "bfloat16"}
    # model.fit beside train_on_batch, and no retracing while timed.
    assert set(timed["fit_images_per_s"]) == {"float32", "mixed_bfloat16"}
    for p, ratio in timed["fit_over_train_on_batch"].items():
        expected = timed["fit_images_per_s"][p] / timed["images_per_s"][p]
        assert ratio == pytest.approx(expected)
    assert timed["retracing_warnings"] == 0


def test_op_profile_sums_kernels_once_and_skips_nested_and_executor_events():
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from benchmarks import xplane as op_profile

    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    names = [
        "ExecutorState::Process",  # the executor's own event: not a kernel
        "model/conv/convolution:_MklNativeConv2D",
        "model/bn/FusedBatchNormV3:_MklNativeFusedBatchNormV3",
        op_profile.XLA_EVENT,
        "multiply_convert_fusion",  # XLA's inner loop, nested
        "model/relu:Relu",
    ]
    for i, name in enumerate(names, start=1):
        plane.event_metadata[i].id = i
        plane.event_metadata[i].name = name
    compute = plane.lines.add(name="tf_Compute/123")
    events = [  # (metadata id, start, duration) in picoseconds
        (1, 0, 1000),
        (2, 10, 100),
        (3, 200, 50),
        (2, 300, 100),
        (4, 500, 80),
        (5, 510, 60),  # inside the XLA execution
        (6, 600, 20),
        (6, 605, 5),  # a nested duplicate of the Relu
    ]
    for metadata_id, offset, duration in events:
        compute.events.add(
            metadata_id=metadata_id, offset_ps=offset, duration_ps=duration
        )
    python = plane.lines.add(name="python")  # not a compute thread
    python.events.add(metadata_id=2, offset_ps=0, duration_ps=10**6)
    totals = op_profile.op_times(space)
    assert totals == {
        "_MklNativeConv2D": 200,
        "_MklNativeFusedBatchNormV3": 50,
        "ExecuteAsyncOnStream": 80,
        "Relu": 20,
    }
    assert op_profile.group_of("_MklNativeConv2D") == "convolution"
    assert (
        op_profile.group_of("_MklNativeDepthwiseConv2dNativeBackpropInput")
        == "depthwise convolution"
    )
    assert op_profile.group_of("ExecuteAsyncOnStream") == "xla loops"


def test_op_profile_profiles_both_precisions_of_a_network():
    result = _benchmark(
        "op_profile", "--networks=resnet20", "--batch_size=2", "--steps=1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)["networks"]["resnet20"]
    for policy in ("float32", "mixed_bfloat16"):
        profile = out[policy]
        assert 0 < profile["traced_ms"] <= profile["step_ms"]
        assert profile["group_ms"]["convolution"] > 0
        assert sum(profile["group_ms"].values()) == pytest.approx(
            profile["traced_ms"]
        )
    assert out["mixed_bfloat16"]["op_ms"].get("Cast", 0) < 0.5 * sum(
        out["mixed_bfloat16"]["op_ms"].values()
    )


def test_train_throughput_times_d3_composed_against_its_two_part_twin():
    # ResNet-8 at d = 3, composed although "auto" would not: each mode is
    # timed beside its compose="never" twin, which computes the same
    # outputs from the same weights (a duplicate `compose` keyword would
    # stop the run before any timing).
    result = _benchmark(
        "train_throughput", "--networks=resnet8_d3_composed",
        "--batch_size=4", "--windows=1", "--steps=1", "--nostock",
        "--matmul_size=64",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)["results"]["resnet8_d3_composed"]
    for mode in ("full", "chans", "space"):
        assert rows[f"ours_{mode}"]["images_per_s"] > 0
        assert rows[f"ours_{mode}_uncomposed"]["output_difference"] < 1e-5
    assert rows["standard_conv"]["images_per_s"] > 0
