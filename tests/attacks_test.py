import os
import subprocess

import conftest
import keras
import numpy as np
import pytest
import tensorflow as tf

from spatialmix_keras import attacks, data, datasets, export, get_model

EPS = [0.0, 0.02, 0.05, 0.1, 0.2]


def _linear_two_class_model(seed=0):
    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    rng = np.random.default_rng(seed)
    model.layers[-1].kernel.assign(rng.normal(size=(16, 2)))
    model.layers[-1].bias.assign(rng.normal(size=(2,)))
    return model


def test_fgsm_on_a_linear_softmax_model_matches_the_closed_form():
    # For logits x.W + b over two classes, d CE(label 0) / dx = p1 (W1 - W0),
    # so FGSM moves every pixel by eps * sign(W1 - W0); for label 1 by
    # eps * sign(W0 - W1). Images stay inside (0, 1) so no clipping occurs.
    model = _linear_two_class_model()
    w = keras.ops.convert_to_numpy(model.layers[-1].kernel)
    x = np.random.default_rng(1).uniform(0.3, 0.7, (6, 4, 4, 1)).astype("f4")
    labels = np.array([0, 1, 0, 1, 1, 0])
    eps = 0.1
    direction = np.sign(w[:, 1] - w[:, 0]).reshape(4, 4, 1)
    expected = np.where(labels[:, None, None, None] == 0, 1.0, -1.0) * (
        direction
    )
    adv = attacks.fgsm(model, x, labels, eps).numpy()
    np.testing.assert_array_equal(
        adv, x + np.float32(eps) * expected.astype("f4")
    )
    # Targeted at the other class: the same step as untargeted here.
    targeted = attacks.fgsm(model, x, 1 - labels, eps, targeted=True).numpy()
    np.testing.assert_array_equal(targeted, adv)


def test_eps_zero_returns_the_input_and_adversarials_stay_in_bounds():
    model = get_model("convmixer_tiny", input_shape=(8, 8, 3), seed=0)
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(8, 8, 8, 3)).astype("f4")
    x[0] = 0.0  # pixels at the edges of the valid range
    x[1] = 1.0
    labels = rng.integers(0, 10, 8)
    np.testing.assert_array_equal(attacks.fgsm(model, x, labels, 0.0), x)
    for adv in (
        attacks.fgsm(model, x, labels, 0.03).numpy(),
        attacks.pgd(model, x, labels, 0.03, steps=3).numpy(),
    ):
        assert np.max(np.abs(adv - x)) <= 0.03 + 1e-6
        assert adv.min() >= 0.0 and adv.max() <= 1.0
        assert np.any(adv != x)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A small ConvMixer trained ~10 s on mnist_small, and its export."""
    keras.utils.set_random_seed(0)
    images, labels = datasets.load_arrays(
        "mnist", "train", data_dir, small=True
    )
    model = get_model(
        "convmixer_tiny", input_shape=(28, 28, 1), seed=0, dim=32, kernel_size=5
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images / 255.0, labels, batch_size=64, epochs=4, verbose=0)
    test, _ = data.input_pipeline(
        "mnist", "test", 250, training=False, data_dir=data_dir, small=True
    )
    path = export.export_run(
        model, str(tmp_path_factory.mktemp("exp")), "mnist_tiny"
    )
    return model, test, path


def test_sweep_on_a_trained_model_behaves_and_raises_no_warning(trained):
    model, test, _ = trained
    fgsm = attacks.eps_sweep(model, test, EPS, attack="fgsm")
    pgd = attacks.eps_sweep(model, test, EPS, attack="pgd", pgd_steps=5)
    assert fgsm["clean_accuracy"] > 0.5, fgsm  # it did learn
    assert fgsm["accuracy"][0] == fgsm["clean_accuracy"]
    assert fgsm["examples"] == 500
    assert all(
        b <= a
        for a, b in zip(fgsm["accuracy"], fgsm["accuracy"][1:], strict=False)
    ), fgsm["accuracy"]
    assert fgsm["accuracy"][-1] < fgsm["clean_accuracy"] - 0.2
    # PGD is at least as strong as FGSM at every eps.
    for p, f in zip(pgd["accuracy"], pgd["fgsm_accuracy"], strict=True):
        assert p <= f
    assert pgd["fgsm_accuracy"] == fgsm["accuracy"]
    assert fgsm["warnings"] == [] and pgd["warnings"] == []


def test_pgd_restarts_keep_an_image_only_if_it_survives_every_start(trained):
    # Independent count: R single-start runs with seeds s..s+R-1, an image
    # robust when it is classified right after each of them.
    model, test, _ = trained
    images, labels = next(iter(test))
    attacker = attacks.Attacker(model)
    eps, steps, restarts = 0.05, 3, 3
    survived = np.ones(len(labels), bool)
    runs = []
    for r in range(restarts):
        runs.append(attacker.pgd(images, labels, eps, steps, seed=7 + r))
        predicted = attacker.predict(runs[-1]).numpy().argmax(-1)
        survived &= predicted == labels.numpy()
    worst = attacker.pgd(images, labels, eps, steps, seed=7, restarts=restarts)
    assert np.max(np.abs(worst.numpy() - images.numpy())) <= eps + 1e-6
    robust = attacker.predict(worst).numpy().argmax(-1) == labels.numpy()
    np.testing.assert_array_equal(robust, survived)
    single = attacker.pgd(images, labels, eps, steps, seed=7)
    assert (
        robust.sum()
        < (attacker.predict(single).numpy().argmax(-1) == labels.numpy()).sum()
    )  # the restarts found images the first start missed
    sweep = attacks.eps_sweep(
        model, [(images, labels)], [eps], "pgd", steps, seed=7,
        pgd_restarts=restarts, compare_fgsm=False,
    )  # fmt: skip
    assert sweep["accuracy"] == [survived.mean()]
    with pytest.raises(ValueError, match="restarts=0"):
        attacker.pgd(images, labels, eps, restarts=0)


def test_saved_model_and_keras_file_give_the_same_sweep(trained):
    _, test, path = trained
    results = [
        attacks.eps_sweep(
            export.load_for_eval(p, trust_saved_model=True), test, EPS
        )
        for p in (os.path.join(path, "saved_model"), path)
    ]
    assert results[0]["accuracy"] == results[1]["accuracy"]
    assert results[0]["clean_accuracy"] == results[1]["clean_accuracy"]


def test_softmax_outputs_trigger_the_logits_warning(trained):
    model, test, _ = trained
    probabilities = keras.Sequential([model, keras.layers.Softmax()])
    result = attacks.eps_sweep(probabilities, test, EPS)
    assert any("look like probabilities" in w for w in result["warnings"])


def test_training_mode_during_the_attack_is_flagged(trained):
    model, test, _ = trained
    snapshot = [v.numpy().copy() for v in model.non_trainable_variables]
    try:
        result = attacks.eps_sweep(
            lambda x: model(x, training=True), test, [0.0, 0.05]
        )
    finally:  # undo the BN updates this test provokes
        for v, value in zip(
            model.non_trainable_variables, snapshot, strict=True
        ):
            v.assign(value)
    assert any("training mode" in w for w in result["warnings"])


def test_blocked_gradients_are_flagged_as_masking(trained):
    model, test, _ = trained
    result = attacks.eps_sweep(
        lambda x: tf.stop_gradient(model(x)), test, [0.0, 0.1]
    )
    assert result["zero_gradient_share"] == 1.0
    assert any("exactly zero" in w for w in result["warnings"])
    assert result["accuracy"][0] == result["accuracy"][1]


@pytest.mark.parametrize("eps", [-0.01, 1.5, float("nan"), "8/255"])
def test_bad_eps_is_refused(eps):
    with pytest.raises(ValueError, match=r"argument `eps`"):
        attacks.fgsm(
            _linear_two_class_model(), np.zeros((1, 4, 4, 1)), [0], eps
        )


def test_model_whose_input_does_not_fit_the_dataset_is_refused(trained):
    _, _, path = trained
    loaded = export.load_for_eval(path)
    with pytest.raises(
        ValueError,
        match=r"takes images of shape "
        r"\(28, 28, 1\).*\(32, 32, 3\)",
    ):
        export.check_input_shape(loaded, (32, 32, 3))


class _Drifting(keras.Model):
    """Inference outputs unchanged, but a state variable moves per call."""

    def __init__(self, inner):
        super().__init__(name="drifting")
        self.inner = inner
        self.calls = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="calls"
        )

    def call(self, x, training=False):
        self.calls.assign_add(1.0)
        return self.inner(x, training=False)


def test_state_changed_by_the_attack_is_flagged(trained):
    model, test, _ = trained
    result = attacks.eps_sweep(_Drifting(model), test, [0.0, 0.05])
    assert any("changed during the attack" in w for w in result["warnings"])


def _fgsm_command(*args, data_dir):
    return conftest.app_command("fgsm", *args, data_dir=data_dir)


def _run_fgsm_app(*args, data_dir):
    argv, kwargs = _fgsm_command(*args, data_dir=data_dir)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, **kwargs
    )


def test_fgsm_app_writes_table_json_csv_and_plot(trained, data_dir, tmp_path):
    import json

    model, test, path = trained
    out = tmp_path / "fgsm"
    result = _run_fgsm_app(
        f"--model={path}",
        f"--model={os.path.join(path, 'model.keras')}",
        "--label=saved",
        "--label=keras",
        "--dataset=mnist",
        "--small",
        "--eps=0,5/255,0.1",
        "--attack=fgsm,pgd",
        "--pgd_steps=3",
        f"--output_dir={out}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "saved" in result.stdout and "pgd" in result.stdout
    with open(out / "results.json") as f:
        curves = json.load(f)["curves"]
    assert [(c["label"], c["attack"]) for c in curves] == [
        ("saved", "fgsm"),
        ("saved", "pgd"),
        ("keras", "fgsm"),
        ("keras", "pgd"),
    ]
    expected = attacks.eps_sweep(model, test, [0.0, 5 / 255, 0.1])
    assert curves[0]["accuracy"] == pytest.approx(expected["accuracy"])
    assert curves[0]["accuracy"] == curves[2]["accuracy"]
    assert (out / "results.csv").read_text().count("\n") == 1 + 4 * 3
    assert (out / "accuracy_vs_eps.png").read_bytes()[:4] == b"\x89PNG"
    # A second run does not replace these results without --overwrite.
    before = (out / "results.json").read_bytes()
    again = _run_fgsm_app(
        f"--model={path}",
        "--dataset=mnist",
        "--small",
        f"--output_dir={out}",
        data_dir=data_dir,
    )
    assert again.returncode != 0 and "--overwrite" in again.stderr
    assert (out / "results.json").read_bytes() == before


@pytest.fixture(scope="module")
def refusals(request, trained, data_dir, tmp_path_factory):
    """`{args: (output_dir, result)}` of the selected bad-input runs of
    `apps.fgsm`, run side by side."""
    _, _, path = trained

    def command(args, out):
        return _fgsm_command(
            f"--model={path}",
            "--dataset=mnist",
            "--small",
            f"--output_dir={out}",
            *args,
            data_dir=data_dir,
        )

    return conftest.refusals(request, tmp_path_factory, command)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--eps=0,-1/255"], "eps=-0.0039"),
        (["--eps=0,2"], "eps=2.0"),
        (["--eps=0,nan"], "eps=nan"),
        (["--attack=cw"], "attack='cw'"),
        (["--dataset=cifar10"], "takes images of shape (28, 28, 1)"),
    ],
)
def test_fgsm_app_refuses_bad_input(refusals, args, message):
    out, result = refusals[tuple(args)]
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert not os.path.exists(out / "results.json")


def test_fgsm_app_refuses_a_path_that_is_not_a_model(data_dir, tmp_path):
    result = _run_fgsm_app(
        f"--model={tmp_path}", "--dataset=mnist", "--small", data_dir=data_dir
    )
    assert result.returncode != 0
    assert "is not an export directory" in result.stderr
