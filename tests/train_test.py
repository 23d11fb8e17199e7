import glob
import json
import os

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import classification, machine, schedules, schema, train
from spatialmix_keras import config as config_lib


def tiny_config(data_dir, tmp_path, **overrides):
    config = schema.base_config()
    config.data_dir = data_dir
    config.small = True
    config.model.name = "convmixer_tiny"
    config.epochs = 2
    config.batch_size = 32
    config.steps_per_epoch = 3
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 0.01
    config.optimizer.weight_decay = 0.0
    config.schedule.name = "constant"
    config.export_dir = str(tmp_path / "saved_models")
    config.update(overrides)
    return config


def test_piecewise_linear_matches_numpy_interp():
    knots, values = [0, 40, 80, 100], [0.0, 1.0, 0.05, 0.0]
    schedule = schedules.PiecewiseLinear(knots, values)
    steps = np.arange(0, 120, 7)
    got = [float(schedule(s)) for s in steps]
    np.testing.assert_allclose(
        got, np.interp(steps, knots, values), rtol=1e-6, atol=1e-7
    )


def test_step_and_cosine_schedules_hit_their_knots():
    config = ml_collections.ConfigDict(
        {
            "name": "step",
            "boundaries": (0.5, 0.75),
            "factor": 0.1,
            "warmup_epochs": 0.0,
        }
    )
    step = schedules.make_schedule(
        config, 0.1, total_steps=100, steps_per_epoch=10
    )
    np.testing.assert_allclose(
        [float(step(s)) for s in (0, 50, 51, 76)],
        [0.1, 0.1, 0.01, 0.001],
        rtol=1e-6,
    )
    config.name = "cosine"
    config.warmup_epochs = 1.0
    cosine = schedules.make_schedule(config, 0.1, 100, 10)
    np.testing.assert_allclose(float(cosine(5)), 0.05, rtol=1e-5)
    np.testing.assert_allclose(float(cosine(10)), 0.1, rtol=1e-5)
    np.testing.assert_allclose(float(cosine(55)), 0.05, rtol=1e-4)
    assert float(cosine(100)) < 1e-6


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("epochs", 0, "Received: epochs=0"),
        ("batch_size", -3, "Received: batch_size=-3"),
        ("freeze", "spatal", "Received: freeze='spatal'"),
        ("model.name", "resnet21", "Received: model.name='resnet21'"),
        ("model.conv", "sparse", "Received: model.conv='sparse'"),
        ("model.dim", 64, "takes no argument 'dim' \\(from config.model\\)"),
        ("dataset", "cifar100", "Received: dataset='cifar100'"),
        ("model.name", "unshuffler_tiny", "apps.unshuffle"),
        ("optimizer.learning_rate", float("nan"), "learning_rate=nan"),
        ("optimizer.learning_rate", -0.1, "learning_rate=-0.1"),
    ],
)
def test_bad_config_is_refused_before_training(tmp_path, field, value, message):
    config = schema.base_config()
    node, leaf = config, field
    if "." in field:
        parent, leaf = field.split(".")
        node = config[parent]
    with config.unlocked():
        node[leaf] = value
    with pytest.raises(ValueError, match=message):
        train.train_and_evaluate(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def _event_tags(logdir):
    tags = set()
    for path in glob.glob(os.path.join(logdir, "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add(value.tag)
    return tags


def test_train_writes_metrics_tensorboard_and_export(data_dir, tmp_path):
    config = tiny_config(data_dir, tmp_path, freeze="spatial")
    workdir = str(tmp_path / "run")
    metrics = train.train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "metrics.json")) as f:
        on_disk = json.load(f)
    assert on_disk["epochs"] == 2 and len(on_disk["epoch_train_time_s"]) == 2
    assert 0.0 <= on_disk["final_test_accuracy"] <= 1.0
    assert on_disk["best_test_accuracy"] >= on_disk["final_test_accuracy"]
    assert on_disk["trainable_params"] > 0 and on_disk["frozen_params"] > 0
    np.testing.assert_allclose(
        on_disk["train_time_per_trainable_param_s"],
        on_disk["train_time_s"] / on_disk["trainable_params"],
    )
    # Where it ran: the commit, CPU flags and library versions that decide
    # whether the same seed reproduces bit for bit.
    assert on_disk["versions"] == {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "onednn": machine.onednn_enabled(),
    }
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            line = next(x for x in f if x.startswith("flags"))
        flags = set(line.partition(":")[2].split())
        assert set(on_disk["cpu_flags"]) <= flags
        assert ("avx2" in flags) == ("avx2" in on_disk["cpu_flags"])
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["freeze"] == "spatial"
    tags = _event_tags(os.path.join(workdir, "tb"))
    for tag in (
        "train/loss",
        "train/accuracy",
        "test/accuracy",
        "learning/rate",
        "images/per_s",
        "time/epoch_s",
        "params/trainable_params",
        "params/frozen_params",
        "steps/train_loss",
        "steps/images_per_s",
    ):
        assert tag in tags, (tag, tags)
    assert any(t.startswith("depthwise_filters/") for t in tags)
    # The export reloads and reproduces the recorded test accuracy.
    export_path = metrics["export_path"]
    assert sorted(os.listdir(export_path)) == [
        "config.json",
        "metrics.json",
        "model.keras",
        "saved_model",
    ]
    loaded = keras.models.load_model(os.path.join(export_path, "model.keras"))
    frozen = [w for w in loaded.non_trainable_weights if "kernel" in w.name]
    assert frozen and all("depthwise" in w.path for w in frozen)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    data_dir, tmp_path, monkeypatch
):
    workdir = str(tmp_path / "run")
    config = tiny_config(data_dir, tmp_path, epochs=1, export=False)
    train.train_and_evaluate(config, workdir)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    before = sorted(os.listdir(ckpt_dir))

    def nan_loss(labels, logits, from_logits):
        return tf.reduce_sum(logits, axis=-1) * float("nan")

    # Fault injection: every training loss of the resumed run is NaN. (It
    # resumes with more epochs, which the workdir check would refuse as
    # another config; that check is not the subject here.)
    monkeypatch.setattr(
        train.keras.losses, "categorical_crossentropy", nan_loss
    )
    monkeypatch.setattr(train, "check_workdir", lambda *args: None)
    config = tiny_config(data_dir, tmp_path, epochs=2, export=False)
    with pytest.raises(
        FloatingPointError,
        match=r"NaN at epoch 2.*last good checkpoint is .*ckpt-1",
    ):
        train.train_and_evaluate(config, workdir)
    assert sorted(os.listdir(ckpt_dir)) == before
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-1")
    with open(os.path.join(workdir, "history.json")) as f:
        assert [h["epoch"] for h in json.load(f)] == [1]


def test_non_finite_weights_are_never_checkpointed(
    data_dir, tmp_path, monkeypatch
):
    """BatchNorm statistics went to inf while the loss stayed finite (what a
    huge learning rate did): the epoch's end refuses to checkpoint, naming
    the variable, and says no good checkpoint exists."""
    from spatialmix_keras import steps as steps_lib

    evaluate = steps_lib.evaluate

    def corrupting_evaluate(steps, dataset):
        result = evaluate(steps, dataset)
        moving = next(
            v for v in steps.model.variables if "moving_variance" in v.path
        )
        moving.assign(moving * float("inf"))
        return result

    monkeypatch.setattr(steps_lib, "evaluate", corrupting_evaluate)
    workdir = tmp_path / "run"
    config = tiny_config(data_dir, tmp_path, epochs=1, export=False)
    with pytest.raises(
        FloatingPointError,
        match=r"Non-finite values at the end of epoch 1 \(.*moving_variance"
        r".*not checkpointed. The last good checkpoint is none",
    ):
        train.train_and_evaluate(config, str(workdir))
    ckpt_dir = workdir / "checkpoints"
    assert not ckpt_dir.exists() or tf.train.latest_checkpoint(ckpt_dir) is None


def test_existing_export_is_refused_before_training(data_dir, tmp_path):
    config = tiny_config(data_dir, tmp_path)
    existing = tmp_path / "saved_models" / config_lib.run_name(config)
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="--overwrite"):
        train.train_and_evaluate(config, str(tmp_path / "run"))
    assert (existing / "keep.txt").read_text() == "precious"
    assert not os.path.exists(tmp_path / "run")


def test_resuming_with_another_optimizer_is_a_clear_error(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(
        tiny_config(data_dir, tmp_path, epochs=1, export=False), workdir
    )
    config = tiny_config(data_dir, tmp_path, epochs=2, export=False)
    config.optimizer.name = "sgd"
    config.log_every_steps = 7  # operational: may differ
    with pytest.raises(ValueError) as info:
        train.train_and_evaluate(config, workdir)
    assert str(info.value) == (
        f"The workdir {workdir} holds a run of another config (epochs: 1 "
        "there, 2 now; optimizer.name: 'adamw' there, 'sgd' now). To resume "
        "that run, use its own settings; to start a new one, pass another "
        "--workdir (or none: the default is named after the config)."
    )
    # Without its config.json, the checkpoint itself is checked.
    os.remove(os.path.join(workdir, "config.json"))
    with pytest.raises(ValueError, match="does not fit this config"):
        train.train_and_evaluate(config, workdir)


def test_run_names_differ_exactly_when_what_is_computed_differs(tmp_path):
    config = tiny_config("/data", tmp_path)
    name = config_lib.run_name(config)
    epochs, steps = config.epochs, config.steps_per_epoch
    assert name.startswith(
        f"convmixer_tiny_none_cifar10_small_e{epochs}x{steps}_s0_"
    )
    same = tiny_config("/elsewhere", tmp_path, log_every_steps=3)
    assert config_lib.run_name(same) == name  # operational fields only
    for change in ({"epochs": 3}, {"steps_per_epoch": 2}, {"seed": 1}):
        assert (
            config_lib.run_name(tiny_config("/data", tmp_path, **change))
            != name
        )
    config.run_name = "mine_{freeze}_{hash}"
    assert config.run_name.format(
        freeze="none", hash=config_lib.config_hash(config)
    ) == config_lib.run_name(config)


def test_mixed_precision_trains_and_restores_the_global_policy(
    data_dir, tmp_path
):
    config = tiny_config(
        data_dir,
        tmp_path,
        epochs=1,
        export=False,
        mixed_precision="mixed_float16",
    )
    metrics = train.train_and_evaluate(config, str(tmp_path / "run"))
    assert np.isfinite(metrics["final_test_loss"])
    assert keras.mixed_precision.global_policy().name == "float32"


def test_weights_kept_after_chosen_epochs_are_initial_and_final(
    data_dir, tmp_path
):
    config = tiny_config(
        data_dir, tmp_path, export=False, save_weights_epochs=(0, 2)
    )
    workdir = str(tmp_path / "w")
    train.train_and_evaluate(config, workdir)
    keras.utils.set_random_seed(config.seed)
    initial = classification.build_model(config)
    kept = classification.build_model(config)
    kept.load_weights(train.weights_path(workdir, 0))
    for a, b in zip(initial.weights, kept.weights, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    assert not os.path.exists(train.weights_path(workdir, 1))
    final = classification.build_model(config)
    final.load_weights(train.weights_path(workdir, 2))
    checkpoint = tf.train.Checkpoint(model=initial)
    checkpoint.restore(
        tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    ).expect_partial()
    for a, b in zip(initial.weights, final.weights, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_hparams_hold_only_what_the_run_reads(tmp_path):
    sgd = tiny_config("/data", tmp_path)
    sgd.optimizer.name = "sgd"
    names = set(config_lib.hparams(sgd))
    assert {"optimizer.momentum", "optimizer.learning_rate", "epochs"} <= names
    assert not names & {"optimizer.beta_1", "optimizer.beta_2"}
    assert not names & {"data_dir", "log_every_steps", "schedule.factor"}
    adamw = tiny_config("/data", tmp_path)
    assert {"optimizer.beta_1", "optimizer.beta_2"} <= set(
        config_lib.hparams(adamw)
    )
    assert "optimizer.momentum" not in config_lib.hparams(adamw)
