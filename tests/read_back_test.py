"""Files the package reads back, broken on disk: each is one line naming
the file and what is wrong, never an IndexError, KeyError,
RecursionError or a TensorFlow graph dump."""

import zipfile

import keras
import numpy as np
import pytest
from train_test import tiny_config

from experiments.reproduce import robustness_report
from spatialmix_keras import export, files, train


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is not valid JSON"),
        ('[{"epoch": 1', "is not valid JSON"),
        ('{"epoch": 1}', "expected a JSON list of objects"),
        ('[{"loss": 1}]', "missing epoch"),
    ],
)
def test_a_broken_history_is_named_when_a_run_resumes(
    text, message, data_dir, tmp_path
):
    config = tiny_config(data_dir, tmp_path, epochs=1, export=False)
    workdir = tmp_path / "run"
    train.train_and_evaluate(config, str(workdir))
    (workdir / "history.json").write_text(text)
    (workdir / "metrics.json").unlink()  # stopped before its end: resumes
    config = tiny_config(data_dir, tmp_path, epochs=1, export=False)
    with pytest.raises(ValueError, match=rf"history\.json.*{message}"):
        train.train_and_evaluate(config, str(workdir))


def test_a_broken_study_is_named_when_merged(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    (study / "robustness.json").write_text('{"settings": {}}')
    with pytest.raises(ValueError, match=r"robustness\.json: missing subjects"):
        robustness_report.merge([str(study)], output_dir=str(tmp_path / "out"))


def test_read_json_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match=r"x\.json is not valid JSON"):
        files.read_json(str(path), list)


def test_a_keras_file_nested_200000_deep_is_refused_in_one_line(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    good = tmp_path / "good.keras"
    model.save(good)
    bad = tmp_path / "deep.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = ('{"a": ' * 200_000 + "1" + "}" * 200_000).encode()
            dst.writestr(item, data)
    with pytest.raises(ValueError, match=r"Refused to load .*deep\.keras"):
        export.load_for_eval(str(bad))


def test_a_model_without_one_logit_per_class_is_refused(data_dir, tmp_path):
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    path = tmp_path / "three.keras"
    model.save(path)
    with pytest.raises(
        ValueError,
        match=r"three\.keras: expected 10 logits per image.*\(1, 3\)",
    ):
        export.load_models_and_data(
            [str(path)], "cifar10", "test", 8, data_dir, True, None
        )
    assert np.isfinite(model(np.zeros((1, 32, 32, 3)))).all()
