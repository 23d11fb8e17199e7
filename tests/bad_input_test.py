"""Bad input to every app: a non-zero exit, a message naming the problem,
no traceback, and no existing file changed."""

import os
import shutil

import numpy as np
import pytest
from conftest import app_command, run_side_by_side, selected_params

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mutated(name, change):
    def write(src_dir, dst_dir):
        with np.load(os.path.join(src_dir, name)) as npz:
            arrays = {k: npz[k] for k in npz.files}
        change(arrays)
        np.savez(os.path.join(dst_dir, name), **arrays)

    return write


def _truncated(name):
    def write(src_dir, dst_dir):
        with open(os.path.join(src_dir, name), "rb") as f:
            content = f.read()
        with open(os.path.join(dst_dir, name), "wb") as f:
            f.write(content[: len(content) // 3])

    return write


def _nan_pixels(a):
    x = a["x_train"].astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    a["x_train"] = x


CIFAR, MNIST = "cifar10_small.npz", "mnist_small.npz"
CLASSIFY = (
    "classify",
    "--config=configs/resnet_cifar10.py:smoke",
    "--epochs=1",
)
UNSHUFFLE = (
    "unshuffle",
    "--config=configs/unshuffle_mnist.py:smoke",
    "--epochs=1",
)
CASES = {
    "truncated_npz": (CLASSIFY, (), _truncated(CIFAR), "truncated or corrupt"),
    "object_dtype_npz": (
        CLASSIFY,
        (),
        _mutated(
            CIFAR,
            lambda a: a.update(x_train=np.array([object()] * 3, dtype=object)),
        ),
        "Object arrays cannot be loaded",
    ),
    "wrong_rank": (
        CLASSIFY,
        (),
        _mutated(CIFAR, lambda a: a.update(x_train=a["x_train"][..., 0])),
        "expected images of shape",
    ),
    "float_pixels_out_of_range": (
        CLASSIFY,
        (),
        _mutated(CIFAR, lambda a: a.update(x_train=a["x_train"] * 300.0)),
        "expected uint8 images",
    ),
    "nan_pixels": (
        CLASSIFY,
        (),
        _mutated(CIFAR, _nan_pixels),
        "expected uint8 images",
    ),
    "labels_out_of_range": (
        CLASSIFY,
        (),
        _mutated(CIFAR, lambda a: a.update(y_train=a["y_train"] + 10)),
        "labels must lie in [0, 9]",
    ),
    "empty_split": (
        CLASSIFY,
        (),
        _mutated(
            CIFAR,
            lambda a: a.update(x_test=a["x_test"][:0], y_test=a["y_test"][:0]),
        ),
        "the split is empty",
    ),
    "learning_rate_nan": (
        CLASSIFY,
        ("--learning_rate=nan",),
        None,
        "learning_rate=nan",
    ),
    "learning_rate_negative": (
        CLASSIFY,
        ("--learning_rate=-0.1",),
        None,
        "learning_rate=-0.1",
    ),
    "unwritable_workdir": (
        CLASSIFY,
        ("--workdir={tmp}/a_file/run",),
        None,
        "Not a directory",
    ),
    "export_dir_is_backup_dir": (
        CLASSIFY,
        (
            "--workdir={tmp}/work",
            "--export_dir={tmp}/work",
            "--run_name=checkpoints",
        ),
        None,
        "overlap",
    ),
    "evaluate_corrupt_data": (
        ("evaluate", "--model={tmp}/model.keras", "--small"),
        (),
        _truncated(CIFAR),
        "truncated or corrupt",
    ),
    "fgsm_eps_nan": (
        (
            "fgsm",
            "--model={tmp}/model.keras",
            "--small",
            "--eps=0,nan",
            "--output_dir={tmp}/fgsm",
        ),
        (),
        None,
        "eps=nan",
    ),
    "fgsm_labels_out_of_range": (
        (
            "fgsm",
            "--model={tmp}/model.keras",
            "--small",
            "--output_dir={tmp}/fgsm",
        ),
        (),
        _mutated(CIFAR, lambda a: a.update(y_test=a["y_test"] + 10)),
        "labels must lie in [0, 9]",
    ),
    "unshuffle_truncated_npz": (
        UNSHUFFLE,
        (),
        _truncated(MNIST),
        "truncated or corrupt",
    ),
    "config_field_misspelt": (
        CLASSIFY,
        ("--config.epoch=3",),
        None,
        "classify.py: error: --config.epoch=3: the config has no field "
        "'epoch'. Did you mean 'epochs'? --print_config lists every field.",
    ),
    "nested_config_field_misspelt": (
        UNSHUFFLE,
        ("--config.optimizer.lr=0.1",),
        None,
        "--config.optimizer.lr=0.1: the config has no field 'lr'.",
    ),
    "flag_and_config_field_disagree": (
        CLASSIFY,
        ("--config.seed=5", "--seed=3"),
        None,
        "classify: error: --seed=3 and --config.seed=5 set the same config "
        "field to different values; give one of them.",
    ),
    "model_of_another_family_for_the_config": (
        (
            "classify",
            "--config=configs/convmixer_cifar10.py:smoke",
            "--model=resnet20",
        ),
        (),
        None,
        "classify: error: Model 'resnet20' (preact_resnet) takes no "
        "argument 'depth' (from config.model). It takes: ",
    ),
    "conv_flag_and_model_field_disagree": (
        CLASSIFY,
        ("--config.model.conv=separable", "--conv=standard"),
        None,
        "classify: error: --conv=standard and --config.model.conv=separable "
        "set the same config field to different values; give one of them.",
    ),
    "conv_for_a_convmixer": (
        ("classify", "--config=configs/convmixer_cifar10.py:smoke"),
        ("--conv=standard",),
        None,
        "classify: error: Model 'convmixer_tiny' (convmixer) takes no "
        "argument 'conv' (from config.model). It takes: ",
    ),
    "unshuffle_learning_rate_negative": (
        UNSHUFFLE,
        ("--learning_rate=-1",),
        None,
        "learning_rate=-1",
    ),
}


@pytest.fixture(scope="module")
def keras_model_file(tmp_path_factory):
    from spatialmix_keras import get_model

    path = tmp_path_factory.mktemp("model") / "model.keras"
    get_model("convmixer_tiny", seed=0).save(path)
    return path


def _snapshot(root):
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[path] = f.read()
    return files


def _prepare(case, data_dir, root, keras_model_file):
    """Makes `root` a sandbox for `case`: its data, a model, a file that is
    not a directory and a workdir holding a precious file. Returns the
    command and its keyword arguments."""
    (app, *app_args), extra, write_data, _ = CASES[case]
    data = root / "data"
    data.mkdir()
    for name in (CIFAR, MNIST):
        shutil.copy(os.path.join(data_dir, name), data / name)
    if write_data:
        write_data(data_dir, str(data))
    shutil.copy(keras_model_file, root / "model.keras")
    (root / "a_file").write_text("not a directory")
    (root / "work").mkdir()
    (root / "work" / "keep.txt").write_text("precious")
    args = [a.format(tmp=root) for a in (*app_args, *extra)]
    if app in ("classify", "unshuffle"):
        if not any(a.startswith("--workdir") for a in args):
            args.append(f"--workdir={root}/work")
        if not any(a.startswith("--export_dir") for a in args):
            args.append(f"--export_dir={root}/exports")
    return app_command(app, *args, data_dir=data)


@pytest.fixture(scope="module")
def outcomes(request, data_dir, keras_model_file, tmp_path_factory):
    """`{case: (root, files before, result)}` of every selected case, the
    apps run side by side (each in its own sandbox)."""
    roots, before, commands = {}, {}, {}
    for case in selected_params(request, "case"):
        roots[case] = tmp_path_factory.mktemp(case)
        commands[case] = _prepare(case, data_dir, roots[case], keras_model_file)
        before[case] = _snapshot(roots[case])
    results = run_side_by_side(commands)
    return {
        case: (roots[case], before[case], results[case]) for case in results
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_cleanly_and_changes_nothing(case, outcomes):
    root, before, result = outcomes[case]
    expected = CASES[case][-1]
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    after = _snapshot(root)
    for path, content in before.items():
        assert after.get(path) == content, f"{path} changed or vanished"
