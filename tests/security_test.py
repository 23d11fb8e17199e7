"""Untrusted models: hostile `.keras` files are refused, never executed."""

import base64
import json
import marshal
import os
import pathlib
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from spatialmix_keras import export

REPO = pathlib.Path(__file__).resolve().parents[1]


def _rewrite_config(source, target, edit):
    with zipfile.ZipFile(source) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as z:
        for name, payload in files.items():
            z.writestr(name, payload)


def _plain(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "plain.keras"
    model.save(path)
    return path


def _lambda_file(tmp_path):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    return path


def _code_in_config(tmp_path):
    # An activation serialised as marshalled Python bytecode: loading it
    # would run `open(...)` (a marker file) if deserialisation were unsafe.
    marker = tmp_path / "pwned"
    code = compile(
        f"lambda x: open({str(marker)!r}, 'w') and x", "<x>", "eval"
    ).co_consts[0]
    payload = base64.b64encode(marshal.dumps(code)).decode()

    def edit(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "class_name": "__lambda__",
            "config": {"code": payload, "defaults": None, "closure": None},
        }

    path = tmp_path / "code.keras"
    _rewrite_config(_plain(tmp_path), path, edit)
    return path


def _foreign_module(tmp_path):
    def edit(config):
        layer = config["config"]["layers"][1]
        layer.update(module="os", class_name="system", registered_name=None)

    path = tmp_path / "os_system.keras"
    _rewrite_config(_plain(tmp_path), path, edit)
    return path


def _tfsm_layer(tmp_path):
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    inner.export(str(tmp_path / "inner"), verbose=False)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.TFSMLayer(
                str(tmp_path / "inner"), call_endpoint="serve"
            ),
        ]
    )
    path = tmp_path / "tfsm.keras"
    model.save(path)
    return path


def _nested_lambda(tmp_path):
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]
    )
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.Sequential([keras.Input((4,)), inner]),
            keras.layers.Dense(2),
        ]
    )
    path = tmp_path / "nested_lambda.keras"
    model.save(path)
    return path


def _nested_tfsm_layer(tmp_path):
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    inner.export(str(tmp_path / "inner"), verbose=False)
    inputs = keras.Input((4,))
    tfsm = keras.layers.TFSMLayer(
        str(tmp_path / "inner"), call_endpoint="serve"
    )
    sub = keras.Model(inputs, tfsm(inputs))
    path = tmp_path / "nested_tfsm.keras"
    keras.Sequential([keras.Input((4,)), sub]).save(path)
    return path


def _function_of_a_foreign_module(tmp_path):
    def edit(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "module": "os",
            "class_name": "function",
            "config": "system",
            "registered_name": "function",
        }

    path = tmp_path / "os_system_activation.keras"
    _rewrite_config(_plain(tmp_path), path, edit)
    return path


def _truncated(tmp_path):
    path = tmp_path / "truncated.keras"
    path.write_bytes(_plain(tmp_path).read_bytes()[:200])
    return path


HOSTILE = {
    "lambda": _lambda_file,
    "nested_lambda": _nested_lambda,
    "nested_tfsm_layer": _nested_tfsm_layer,
    "function_of_a_foreign_module": _function_of_a_foreign_module,
    "code_in_config": _code_in_config,
    "foreign_module": _foreign_module,
    "tfsm_layer": _tfsm_layer,
    "truncated": _truncated,
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_keras_file_is_refused(kind, tmp_path):
    path = HOSTILE[kind](tmp_path)
    with pytest.raises(ValueError, match=r"Refused to load .*safe mode"):
        export.load_for_eval(str(path))
    assert not (tmp_path / "pwned").exists()


def test_weights_declaring_gigabytes_are_refused_before_reading(tmp_path):
    import h5py

    plain = _plain(tmp_path)
    with zipfile.ZipFile(plain) as z:
        files = {n: z.read(n) for n in z.namelist()}
    # A few kilobytes on disk (chunks never written) declaring 20000 x 20000
    # float32 weights: 1526 MiB if read.
    h5_path = tmp_path / "big.weights.h5"
    with h5py.File(h5_path, "w") as h5:
        h5.create_dataset(
            "layers/dense/vars/0",
            shape=(20000, 20000),
            dtype="float32",
            chunks=(1000, 1000),
            compression="gzip",
        )
    assert h5_path.stat().st_size < 100_000
    files["model.weights.h5"] = h5_path.read_bytes()
    path = tmp_path / "big.keras"
    with zipfile.ZipFile(path, "w") as z:
        for name, payload in files.items():
            z.writestr(name, payload)
    with pytest.raises(ValueError, match=r"declares weights of 1526 MiB"):
        export.load_for_eval(str(path))


def test_a_savedmodel_without_its_variables_is_refused(tmp_path):
    import shutil

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.export(str(tmp_path / "sm"), verbose=False)
    shutil.rmtree(tmp_path / "sm" / "variables")
    with pytest.raises(
        ValueError, match=r"Refused to load .*not a whole Saved"
    ):
        export.load_for_eval(str(tmp_path / "sm"), trust_saved_model=True)


def test_a_savedmodel_loads_only_when_trusted(tmp_path):
    """Loading a SavedModel runs its graph: a bare one is refused unless
    the caller says it trusts it; an export directory loads its .keras."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.export(str(tmp_path / "sm"), verbose=False)
    with pytest.raises(export.UntrustedSavedModel, match="trust_saved_model"):
        export.load_for_eval(str(tmp_path / "sm"))
    assert export.load_for_eval(str(tmp_path / "sm"), True).kind == (
        "saved_model"
    )


def test_plain_keras_file_still_loads(tmp_path):
    loaded = export.load_for_eval(str(_plain(tmp_path)))
    assert loaded.kind == "keras"


def test_evaluate_app_refuses_a_lambda_model(tmp_path, data_dir):
    path = _lambda_file(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.evaluate",
            f"--model={path}",
            "--small",
            "--dataset=mnist",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "SPATIALMIX_DATA_DIR": data_dir,
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
    )
    assert result.returncode != 0
    assert "Refused to load" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_code_turns_safe_mode_off():
    sources = [*REPO.glob("spatialmix_keras/**/*.py"), *REPO.glob("apps/*.py")]
    assert sources
    for source in sources:
        text = source.read_text()
        assert "safe_mode=False" not in text, source
        assert "enable_unsafe_deserialization" not in text, source


def test_loaded_float_model_refuses_0_255_pixels(tmp_path):
    """A float model fed raw 0..255 pixels would score at chance silently."""
    from spatialmix_keras import export, get_model

    path = str(tmp_path / "m.keras")
    get_model("convmixer_tiny", seed=0).save(path)
    loaded = export.load_for_eval(path)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3))
    with pytest.raises(ValueError, match="received int64 pixels"):
        loaded(pixels.astype("int64"))
    with pytest.raises(ValueError, match=r"values above 1 \(0\.\.255"):
        loaded(pixels.astype("float32"))
    assert loaded(pixels.astype("float32") / 255).shape == (2, 10)
