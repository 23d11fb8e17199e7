"""The robustness study: transfer attacks between identical models, masking
caught, the training-length points against spatial_filters, verdict rules."""

import json
import os
import subprocess

import conftest
import keras
import pytest

from experiments.reproduce import verdicts
from spatialmix_keras import (
    attacks,
    datasets,
    export,
    get_model,
    robustness,
    spatial_filters,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------- the study


def _masked(model):
    """The same function, with input gradients cut: FGSM cannot move it."""
    inputs = keras.Input(model.input_shape[1:])
    blocked = keras.layers.Lambda(keras.ops.stop_gradient)(inputs)
    return keras.Model(inputs, model(blocked), name="masked")


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A small ConvMixer trained on mnist_small with its weights after
    epochs 0 and 1, an identical copy, and a gradient-masked wrapper."""
    keras.utils.set_random_seed(0)
    weights = tmp_path_factory.mktemp("weights")
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
    model.save_weights(str(weights / "epoch_0000.weights.h5"))
    model.fit(images / 255.0, labels, batch_size=64, epochs=1, verbose=0)
    model.save_weights(str(weights / "epoch_0001.weights.h5"))
    model.fit(images / 255.0, labels, batch_size=64, epochs=3, verbose=0)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    test_images, test_labels = datasets.load_arrays(
        "mnist", "test", data_dir, small=True
    )
    return model, copy, str(weights), test_images / 255.0, test_labels


@pytest.fixture(scope="module")
def studied(trained):
    model, copy, weights, images, labels = trained
    subjects = [
        robustness.Subject(
            "a", "Full", 0, model, robustness.find_checkpoints(weights), 4
        ),
        robustness.Subject("b", "Chans", 0, copy),
        robustness.Subject("m", "Masked", 0, _masked(model)),
    ]
    result = robustness.study(
        subjects,
        images,
        labels,
        fgsm_eps=(0.05, 0.1),
        pgd_eps=(0.05, 0.1),
        pgd_steps=3,
        pgd_examples=200,
    )
    return {e["name"]: e for e in result["subjects"]}, result, trained


def test_white_box_numbers_are_those_of_eps_sweep(studied):
    entries, _, (model, _, _, images, labels) = studied
    expected = attacks.eps_sweep(
        model,
        [(images.astype("float32"), labels)],
        [0.0, 0.05, 0.1],
    )
    assert entries["a"]["white_box"]["clean_accuracy"] > 0.5  # it learned
    assert [
        entries["a"]["white_box"]["clean_accuracy"],
        *entries["a"]["white_box"]["fgsm"],
    ] == pytest.approx(expected["accuracy"])
    assert entries["a"]["white_box"]["examples"] == 500
    assert entries["a"]["subset"]["examples"] == 200


def test_images_crafted_on_a_copy_transfer_exactly(studied):
    entries, _, _ = studied
    for attack in attacks.ATTACKS:
        for i in range(2):
            # b computes a's function: a's adversarial images fool b exactly
            # as they fool a, and the other way round.
            assert entries["b"]["transfer"][attack][i]["a"] == pytest.approx(
                entries["a"]["subset"][attack][i]
            )
            assert entries["a"]["transfer"][attack][i]["b"] == pytest.approx(
                entries["b"]["subset"][attack][i]
            )
    assert entries["a"]["masking"] == entries["b"]["masking"] == []


def test_a_model_with_masked_gradients_is_caught_by_transfer(studied):
    entries, _, _ = studied
    masked = entries["m"]
    # White box, FGSM does nothing to it: its accuracy stays clean...
    assert masked["subset"]["fgsm"][1] == masked["subset"]["clean_accuracy"]
    # ...while images crafted on the same function unmasked fool it.
    assert masked["transfer"]["fgsm"][1]["a"] < masked["subset"]["fgsm"][1]
    assert any(
        "FGSM at eps=25.5/255" in m and "crafted on a" in m
        for m in masked["masking"]
    ), masked["masking"]
    assert any("exactly zero" in w for w in masked["warnings"])


def test_training_length_points_follow_the_kept_weights(studied):
    entries, _, (model, _, weights, _, _) = studied
    points = entries["a"]["epochs"]
    assert [p["epoch"] for p in points] == [0, 1, 4]
    assert [p["final"] for p in points] == [False, False, True]
    assert points[0]["filter_movement"] == 0
    assert "clean_accuracy" not in points[0]  # epoch 0 is not attacked
    at_epoch = [keras.models.clone_model(model) for _ in range(2)]
    at_epoch[0].load_weights(os.path.join(weights, "epoch_0000.weights.h5"))
    at_epoch[1].load_weights(os.path.join(weights, "epoch_0001.weights.h5"))
    initial, first = (spatial_filters.depthwise_kernels(m) for m in at_epoch)
    final = spatial_filters.depthwise_kernels(model)
    assert points[1]["filter_movement"] == pytest.approx(
        spatial_filters.filter_movement(initial, first)
    )
    assert points[2]["filter_movement"] == pytest.approx(
        spatial_filters.filter_movement(initial, final)
    )
    assert 0 < points[1]["filter_movement"] < points[2]["filter_movement"]
    assert points[2]["high_frequency_share"] == pytest.approx(
        spatial_filters.high_frequency_share(final)
    )
    assert points[2]["pgd"] == entries["a"]["subset"]["pgd"]
    assert (
        points[2]["clean_accuracy"] == entries["a"]["subset"]["clean_accuracy"]
    )
    assert points[1]["clean_accuracy"] < points[2]["clean_accuracy"]
    # Models without kept weights get the final filters' statistics only.
    assert [p["epoch"] for p in entries["b"]["epochs"]] == [None]
    assert "fgsm" not in entries["b"]["epochs"][0]


def test_a_stopped_study_resumes_from_its_finished_parts(
    trained, tmp_path, monkeypatch
):
    model, copy, weights, images, labels = trained
    subjects = [
        robustness.Subject(
            "a", "Full", 0, model, robustness.find_checkpoints(weights), 4
        ),
        robustness.Subject("b", "Chans", 0, copy),
    ]
    settings = dict(
        fgsm_eps=(0.1,), pgd_eps=(0.1,), pgd_steps=2, pgd_examples=40
    )
    images, labels = images[:80], labels[:80]
    whole = robustness.study(subjects, images, labels, **settings)
    parts = tmp_path / "parts"
    computed = []
    real = robustness._study_source

    def counting(source, *args):
        computed.append(source.name)
        return real(source, *args)

    monkeypatch.setattr(robustness, "_study_source", counting)

    def run(**changes):
        computed.clear()
        return robustness.study(
            subjects,
            images,
            labels,
            **{**settings, **changes},
            parts_dir=str(parts),
        )

    assert run() == whole and computed == ["a", "b"]
    assert sorted(os.listdir(parts)) == ["a.json", "b.json"]
    # Stopped after the first subject: only the second is computed again.
    os.remove(parts / "b.json")
    assert run() == whole and computed == ["b"]
    # A part cut short by a crash is recomputed.
    (parts / "a.json").write_text('{"fingerprint": ')
    assert run() == whole and computed == ["a"]
    assert run() == whole and computed == []
    # Other settings (or other weights) are never mixed in.
    other = run(pgd_steps=3)
    assert computed == ["a", "b"]
    assert other["settings"]["pgd_steps"] == 3


def _renamed(result, suffix, seed):
    """A study of other models: every name (and transfer source) renamed,
    every seed changed."""
    study = json.loads(json.dumps(result))
    for entry in study["subjects"]:
        entry["name"] += suffix
        entry["seed"] = seed
        for per_eps in entry["transfer"].values():
            for i, by_source in enumerate(per_eps):
                per_eps[i] = {k + suffix: v for k, v in by_source.items()}
    return study


def test_studies_run_apart_merge_with_transfers_kept_apart(studied):
    entries, result, _ = studied
    other = _renamed(result, "_1", 1)
    merged = robustness.merge([result, other])
    assert merged["studies"] == 2
    assert merged["settings"] == result["settings"]
    assert [e["name"] for e in merged["subjects"]] == [
        "a", "b", "m", "a_1", "b_1", "m_1"
    ]  # fmt: skip
    # Each subject as its own study measured it, nothing added.
    assert merged["subjects"][:3] == result["subjects"]
    assert merged["subjects"][3]["transfer"]["pgd"][0] == {
        "b_1": entries["a"]["transfer"]["pgd"][0]["b"],
        "m_1": entries["a"]["transfer"]["pgd"][0]["m"],
    }
    rows = verdicts.transfer_table(merged, "pgd", 0)
    a_row = next(r for r in rows if r.startswith("| a |"))
    cells = [c.strip() for c in a_row.strip("|").split("|")][1:]
    assert cells[0] == f"**{100 * entries['a']['subset']['pgd'][0]:.1f}**"
    assert cells[1] == f"{100 * entries['a']['transfer']['pgd'][0]['b']:.1f}"
    assert cells[3:] == ["-", "-", "-"]  # never crafted across studies
    # Two seeds of Full and Chans now pair (one study alone could not).
    assert verdicts.by_seed(merged, "Full", lambda e: e["name"]) == {
        0: "a",
        1: "a_1",
    }

    with pytest.raises(ValueError, match=r"subjects in more than one.*'a'"):
        robustness.merge([result, result])
    changed = json.loads(json.dumps(other))
    changed["settings"]["pgd_steps"] = 7
    with pytest.raises(ValueError, match="study 1 was run with other settings"):
        robustness.merge([result, changed])
    with pytest.raises(ValueError, match="at least one"):
        robustness.merge([])


def test_study_refuses_duplicate_names_and_zero_eps(trained):
    model = trained[0]
    twice = [robustness.Subject("x", "Full", 0, model)] * 2
    with pytest.raises(ValueError, match="distinct names"):
        robustness.study(twice, trained[3][:4], trained[4][:4])
    with pytest.raises(ValueError, match="must be > 0"):
        robustness.study(twice[:1], trained[3][:4], trained[4][:4], (0.0,))


def test_merge_refuses_a_missing_study_and_merging_into_one(studied, tmp_path):
    from experiments.reproduce import robustness_report
    from spatialmix_keras import files

    _, result, _ = studied
    first = tmp_path / "s0"
    first.mkdir()
    files.write_json(str(first / "robustness.json"), result)
    with pytest.raises(ValueError, match=r"nowhere/robustness.json does not"):
        robustness_report.merge([str(first), str(tmp_path / "nowhere")])
    with pytest.raises(ValueError, match="it is one of the studies"):
        robustness_report.merge([str(first)], output_dir=str(first))
    assert json.loads((first / "robustness.json").read_text()) == result


# ---------------------------------------------------------------- the app


def _command(*args, data_dir):
    return conftest.app_command("robustness", *args, data_dir=data_dir)


def _run(*args, data_dir):
    argv, kwargs = _command(*args, data_dir=data_dir)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, **kwargs
    )


@pytest.fixture(scope="module")
def exports(trained, tmp_path_factory):
    model, copy, weights, _, _ = trained
    where = str(tmp_path_factory.mktemp("exports"))
    paths = []
    for name, m, freeze, seed in (
        ("full_s0", model, "none", 0),
        ("chans_s0", copy, "spatial", 0),
        ("full_s1", copy, "none", 1),
        ("chans_s1", model, "spatial", 1),
    ):
        config = {"freeze": freeze, "seed": seed, "epochs": 4}
        paths.append(
            export.export_run(m, where, name, files={"config.json": config})
        )
    return paths, weights


def test_app_writes_study_report_plots_and_verdict(exports, data_dir, tmp_path):
    (full0, chans0, full1, chans1), weights = exports
    out = tmp_path / "study"
    args = [
        f"--model={full0}",
        f"--model={chans0}",
        f"--model={full1}",
        f"--model={chans1}",
        *[f"--weights_dir={weights}"] * 4,
        "--dataset=mnist",
        "--small",
        "--max_examples=100",
        "--pgd_examples=50",
        "--pgd_steps=2",
        "--fgsm_eps=0.05,0.1",
        "--pgd_eps=0.1",
        f"--output_dir={out}",
    ]
    result = _run(*args, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "robustness.json") as f:
        study = json.load(f)
    assert [e["label"] for e in study["subjects"]] == ["Full", "Chans"] * 2
    assert [e["seed"] for e in study["subjects"]] == [0, 0, 1, 1]
    # The pairs compute the same function: no difference, so no gain.
    assert study["verdict"]["verdict"] == verdicts.NOT_SHOWN
    assert "FGSM +0.0 [+0.0, +0.0] points (n=2)" in study["verdict"]["reason"]
    report = (out / "robustness.md").read_text()
    assert "**Verdict: Chans is more robust than Full: not shown.**" in report
    assert "| full_s0 | 1 |" in report  # the epoch-1 weights were attacked
    for png in ("robustness.png", "training_length.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # A second run keeps these results without --overwrite.
    before = (out / "robustness.json").read_bytes()
    again = _run(*args, data_dir=data_dir)
    assert again.returncode != 0 and "--overwrite" in again.stderr
    assert (out / "robustness.json").read_bytes() == before
    # Merged (here: one study alone), the report and verdict are the same.
    merged_dir = tmp_path / "merged"
    merged = _run(
        f"--merge={out}", f"--output_dir={merged_dir}", data_dir=data_dir
    )
    assert merged.returncode == 0, merged.stderr[-3000:]
    with open(merged_dir / "robustness.json") as f:
        assert json.load(f) == {**study, "studies": 1}
    assert (
        "**Verdict: Chans is more robust than Full: not shown.**"
        in (merged_dir / "robustness.md").read_text()
    )


@pytest.fixture(scope="module")
def refusals(request, exports, data_dir, tmp_path_factory):
    """`{args: (output_dir, result)}` of the selected bad-input runs of
    `apps.robustness`, run side by side."""
    (full0, *_), _ = exports

    def command(args, out):
        model = [] if any(a.startswith("--model") for a in args) else [full0]
        return _command(
            *[f"--model={m}" for m in model],
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
        (["--weights_dir=/a", "--weights_dir=/b"], "give one per model (1)"),
        (["--weights_dir=/nowhere"], "no epoch_NNNN.weights.h5 files in it"),
        (["--pgd_steps=0"], "Received: pgd_steps=0"),
        (["--pgd_restarts=0"], "Received: pgd_restarts=0"),
        (["--pgd_eps=2"], "eps=2.0"),
        (["--dataset=cifar10"], "but cifar10's are (32, 32, 3)"),
        (["--model=/nowhere"], "Received: model='/nowhere'"),
        (["--merge=/a"], "give one of them (models to study, or finished"),
    ],
)
def test_app_refuses_bad_input(refusals, args, message):
    out, result = refusals[tuple(args)]
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(out / "robustness.json")
