"""End-to-end tests of the apps, each in a subprocess as a user runs them."""

import json
import os
import shutil
import subprocess
import sys

import conftest
import pytest
from conftest import app_command, run_side_by_side, selected_params
from killing import kill_when_exists

from spatialmix_keras import get_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(data_dir):
    return {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONUNBUFFERED": "1",
    }


def run_app(app, *args, data_dir, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", f"apps.{app}", *args],
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def smoke_args(tmp_path, *extra):
    return (
        "--config=configs/resnet_cifar10.py:smoke",
        f"--workdir={tmp_path / 'run'}",
        f"--export_dir={tmp_path / 'saved_models'}",
        *extra,
    )


def test_classify_then_evaluate_gives_the_recorded_accuracy(data_dir, tmp_path):
    result = run_app(
        "classify",
        *smoke_args(tmp_path, "--freeze=spatial", "--run_name=chans"),
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # TensorFlow's start-up lines (oneDNN notice, CUDA probing) are not
    # shown: the run's own announcement comes first.
    assert result.stderr.splitlines()[0].endswith("Run chans")
    assert "cuda" not in result.stderr.lower()
    assert "oneDNN custom operations" not in result.stderr
    export = tmp_path / "saved_models" / "chans"
    with open(export / "metrics.json") as f:
        recorded = json.load(f)["final_test_accuracy"]
    out = tmp_path / "eval.json"
    result = run_app(
        "evaluate",
        f"--model={export / 'saved_model'}",
        f"--model={export}",
        "--trust_saved_model",
        "--small",
        f"--json={out}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        results = json.load(f)
    # The export directory loads its .keras file in Keras' safe mode.
    assert [r["kind"] for r in results] == ["saved_model", "keras"]
    for r in results:
        assert r["examples"] == 500
        assert r["accuracy"] == pytest.approx(recorded, abs=1e-9)

    # The same command again: nothing to train; it says so and exits 0.
    again = run_app(
        "classify",
        *smoke_args(tmp_path, "--freeze=spatial", "--run_name=chans"),
        data_dir=data_dir,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        f"Already finished: test_accuracy {recorded:.4f} after 2 epochs"
        in again.stderr
    )
    assert f"export {export}" in again.stderr
    # --restart trains from scratch; the old workdir is kept aside.
    before = (export / "metrics.json").stat().st_mtime_ns
    restarted = run_app(
        "classify",
        *smoke_args(tmp_path, "--freeze=spatial", "--run_name=chans"),
        "--restart",
        data_dir=data_dir,
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "Starting fresh" in restarted.stderr
    (aside,) = tmp_path.glob("run.replaced-*")
    assert (aside / "metrics.json").exists()
    assert (export / "metrics.json").stat().st_mtime_ns != before
    # --status lists the runs under a directory, with what differs.
    status = run_app(
        "classify", "--status", f"--workdir={tmp_path}", data_dir=data_dir
    )
    assert status.returncode == 0, status.stderr[-3000:]
    rows = [line.split() for line in status.stdout.splitlines()]
    assert rows[0] == ["run", "model", "epochs", "result", "state", "export"]
    assert rows[1][:6] == ["run", "resnet20", "2", "/", "2", rows[1][5]]
    assert rows[1][6:] == ["finished", str(export)]
    assert rows[2][0].startswith("run.replaced-")


def test_run_killed_mid_training_resumes_without_repeating_epochs(
    data_dir, tmp_path
):
    args = smoke_args(
        tmp_path,
        "--epochs=3",
        "--steps_per_epoch=25",
        "--config.log_every_steps=5",
    )
    history = tmp_path / "run" / "history.json"
    # Killed once an epoch is checkpointed (its record comes just before).
    kill_when_exists(
        [sys.executable, "-m", "apps.classify", *args],
        tmp_path / "run" / "checkpoints" / "checkpoint",
        cwd=REPO,
        env=_env(data_dir),
    )
    with open(history) as f:
        done = [h["epoch"] for h in json.load(f)]
    assert done and done[-1] < 3
    result = run_app("classify", *args, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"(epoch {done[-1]} done)" in result.stderr
    with open(history) as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2, 3]
    for epoch in range(1, done[-1] + 1):  # finished epochs did not rerun
        assert f"epoch {epoch}/3:" not in result.stderr
    assert os.path.isdir(tmp_path / "saved_models")


def _corrupt_dir(tmp_path):
    bad = tmp_path / "bad_data"
    bad.mkdir()
    (bad / "cifar10_small.npz").write_bytes(b"PK\x03\x04 not really a zip")
    return bad


BAD_INPUT = {
    "dataset": "Received: dataset='cifar100'",
    "model": "Received: model.name='resnet21'",
    "epochs": "Received: epochs=0",
    "missing": "cifar10_small.npz does not exist",
    "corrupt": "truncated or corrupt",
    "export_exists": "already exists; pass --overwrite",
}


def _bad_input_command(case, data_dir, root):
    args = list(smoke_args(root))
    data = data_dir
    if case == "dataset":
        args.append("--dataset=cifar100")
    elif case == "model":
        args.append("--model=resnet21")
    elif case == "epochs":
        args.append("--epochs=0")
    elif case == "missing":
        data = str(root / "empty")
        os.makedirs(data)
    elif case == "corrupt":
        data = str(_corrupt_dir(root))
    elif case == "export_exists":
        target = root / "saved_models" / "taken"
        target.mkdir(parents=True)
        (target / "model.keras").write_bytes(b"old model")
        args.append("--run_name=taken")
    return app_command("classify", *args, data_dir=data)


@pytest.fixture(scope="module")
def bad_input_results(request, data_dir, tmp_path_factory):
    """`{case: (root, result)}` of the selected bad-input runs of
    `apps.classify`, run side by side, each in its own directory."""
    roots, commands = {}, {}
    for case in selected_params(request, "case"):
        roots[case] = tmp_path_factory.mktemp(case)
        commands[case] = _bad_input_command(case, data_dir, roots[case])
    results = run_side_by_side(commands)
    return {case: (roots[case], results[case]) for case in results}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_nonzero_naming_the_problem(case, bad_input_results):
    root, result = bad_input_results[case]
    assert result.returncode != 0
    assert BAD_INPUT[case] in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if case == "corrupt":
        assert (
            root / "bad_data" / "cifar10_small.npz"
        ).read_bytes() == b"PK\x03\x04 not really a zip"
    if case == "export_exists":
        target = root / "saved_models" / "taken"
        assert (target / "model.keras").read_bytes() == b"old model"
        assert os.listdir(target) == ["model.keras"]


def test_evaluate_refuses_what_is_not_a_model(data_dir, tmp_path):
    result = run_app(
        "evaluate", f"--model={tmp_path}", "--small", data_dir=data_dir
    )
    assert result.returncode != 0
    assert "is not an export directory" in result.stderr


def test_unshuffle_app_trains_exports_and_compares(data_dir, tmp_path):
    args = (
        "--config=configs/unshuffle_mnist.py:smoke",
        f"--export_dir={tmp_path / 'saved_models'}",
    )
    trained = run_side_by_side(
        {
            freeze: app_command(
                "unshuffle",
                *args,
                f"--freeze={freeze}",
                f"--workdir={tmp_path / freeze}",
                f"--run_name={freeze}",
                data_dir=data_dir,
            )
            for freeze in ("none", "spatial")
        }
    )
    for freeze, result in trained.items():
        assert result.returncode == 0, result.stderr[-3000:]
        with open(tmp_path / freeze / "metrics.json") as f:
            metrics = json.load(f)
        for key in ("final_test_psnr", "shuffled_psnr", "mean_image_psnr"):
            assert 0 < metrics[key] < 100
        assert (tmp_path / freeze / "reconstructions.png").exists()
        export = tmp_path / "saved_models" / freeze
        assert (export / "permutation.json").exists()
        assert (export / "saved_model").is_dir()
    grid = tmp_path / "grid.png"
    exports = [tmp_path / "saved_models" / f for f in ("none", "spatial")]
    result = run_app(
        "unshuffle",
        *(f"--compare={e}" for e in exports),
        "--small",
        f"--output={grid}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout.strip().splitlines()[-2])
    assert [r["freeze"] for r in rows] == ["none", "spatial"]
    with open(tmp_path / "none" / "metrics.json") as f:
        recorded = json.load(f)["final_test_psnr"]
    assert rows[0]["psnr"] == pytest.approx(recorded, abs=1e-3)
    assert grid.read_bytes()[:4] == b"\x89PNG"
    # A dataset, or an image size, that the stored permutation does not fit.
    refused = run_side_by_side(
        {
            message: app_command(
                "unshuffle",
                f"--compare={exports[0]}",
                "--small",
                flag,
                f"--output={tmp_path / 'x.png'}",
                data_dir=data_dir,
            )
            for flag, message in (
                ("--dataset=cifar10", "takes images of shape (14, 14, 1)"),
                ("--image_size=28", "stored permutation shuffles (14, 14)"),
            )
        }
    )
    for message, result in refused.items():
        assert result.returncode != 0
        assert message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("app", ["classify", "unshuffle"])
def test_help_lists_the_everyday_flags_and_how_to_see_config_fields(app):
    result = run_app(app, "--help", data_dir="/nonexistent")  # absl: exit 1
    for flag in ("--freeze", "--epochs", "--data_dir", "--print_config"):
        assert flag in result.stdout, flag
    assert "--config.<field>=<value>" in " ".join(result.stdout.split())


# Runs an app as `python -m` does and says whether TensorFlow got imported.
_IMPORTS_TF = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_module("apps." + sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize(
    "app, args, message",
    [
        ("classify", ["--help"], None),
        ("unshuffle", ["--help"], None),
        ("evaluate", ["--help"], None),
        ("fgsm", ["--help"], None),
        ("robustness", ["--help"], None),
        ("reproduce", ["--help"], None),
        (
            "classify",
            ["--config.epochs=0"],
            "classify: error: Invalid value for argument `epochs`. Expected "
            "an integer >= 1. Received: epochs=0",
        ),
        (
            "classify",
            ["--config=configs/convmixer_cifar10.py", "--config.model.dpth=3"],
            "the config has no field 'dpth'. Did you mean 'depth'?",
        ),
        (
            "unshuffle",
            ["--config=configs/unshuffle_cifar10.py:d=4", "--small=maybe"],
            "error: flag --small=maybe:",
        ),
        (
            "classify",
            ["--config.spatial_initializer=gaussian"],
            "Received: spatial_initializer='gaussian'",
        ),
    ],
)
def test_help_and_config_errors_answer_without_importing_tensorflow(
    app, args, message
):
    result = conftest.run_python(_IMPORTS_TF, app, *args)
    assert "tensorflow imported: False" in result.stdout, result.stderr[-2000:]
    if message is None:
        assert "flags:" in result.stdout  # the help was printed
    else:
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_print_config_shows_flags_applied_to_their_fields():
    result = run_app(
        "classify",
        "--epochs=3",
        "--freeze=spatial",
        "--model=resnet8",
        "--conv=standard",
        "--print_config",
        data_dir="/nonexistent",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "--config.epochs=3" in lines
    assert "--config.freeze='spatial'" in lines
    assert "--config.model.name='resnet8'" in lines
    assert "--config.model.conv='standard'" in lines
    assert "--config.optimizer.learning_rate=0.1" in lines


def test_installed_console_command_works_outside_the_checkout(tmp_path):
    command = shutil.which("spatialmix-classify")
    assert command, "pip install -e . installs the console commands"
    result = subprocess.run(
        [command, "--print_config", "--epochs=2"],
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--config.epochs=2" in result.stdout.splitlines()


def test_installed_command_help_names_itself_not_the_module(tmp_path):
    command = shutil.which("spatialmix-classify")
    assert command, "pip install -e . installs the console commands"
    result = subprocess.run(
        [command, "--help"],
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # absl: exit 1 after the help
    assert "spatialmix-classify --freeze=spatial" in result.stdout
    assert "python -m apps" not in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--model=resnt20"],
            "Received: model.name='resnt20'. Did you mean 'resnet20'?",
        ),
        (
            ["--lr=0.1"],
            "Unknown command line flag 'lr'. Did you mean --learning_rate?",
        ),
    ],
)
def test_misspelt_names_answer_before_tensorflow_with_a_close_match(
    args, message
):
    result = conftest.run_python(_IMPORTS_TF, "classify", *args)
    assert "tensorflow imported: False" in result.stdout, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(message)


def test_a_workdir_that_is_a_file_or_missing_data_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    result = run_app(
        "classify", *smoke_args(tmp_path)[:1], f"--workdir={afile}",
        data_dir=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"classify: error: Invalid value for argument `workdir`: {afile} is "
        "a file; expected a directory (created when missing). Received: "
        f"workdir='{afile}'"
    )
    assert afile.read_text() == "mine"
    # The data is read before anything is written: no workdir is left.
    workdir = tmp_path / "run"
    missing = run_app(
        "classify", *smoke_args(tmp_path), data_dir=str(tmp_path / "none")
    )
    assert missing.returncode == 1
    assert "Cannot load cifar10_small.npz" in missing.stderr
    assert not workdir.exists()


def test_evaluate_help_shows_its_data_flags_and_scores_a_subset(
    data_dir, tmp_path
):
    help_text = run_app("evaluate", "--help", data_dir=data_dir).stdout
    for flag in ("--dataset", "--data_dir", "--[no]small", "--max_examples"):
        assert flag in help_text, flag
    model = get_model("resnet_tiny", input_shape=(32, 32, 3))
    path = tmp_path / "tiny.keras"
    model.save(path)
    out = tmp_path / "eval.json"
    result = run_app(
        "evaluate", f"--model={path}", "--small", "--max_examples=70",
        f"--json={out}", data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (scored,) = json.loads(out.read_text())
    assert scored["examples"] == 70


@pytest.mark.parametrize(
    "app, args, message",
    [
        (
            "evaluate",
            ["--model=m", "--json=/nowhere/out.json"],
            "flag --json=/nowhere/out.json: the directory of --json does not "
            "exist (checked before the models are scored)",
        ),
        (
            "fgsm",
            ["--model=m", "--batch_size=0"],
            "flag --batch_size=0: 0 is not a positive integer",
        ),
    ],
)
def test_arguments_are_checked_before_tensorflow_loads(app, args, message):
    result = conftest.run_python(_IMPORTS_TF, app, *args)
    assert "tensorflow imported: False" in result.stdout, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(f": error: {message}")


def test_ctrl_c_during_start_up_is_one_line(data_dir, tmp_path):
    """SIGINT while TensorFlow loads: no traceback, nothing written."""
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "apps.classify", *smoke_args(tmp_path)],
        cwd=REPO,
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell's background job (`pytest &`) passes
        # SIGINT on ignored, and Python then keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(1.0)  # flags parsed; TensorFlow still loading
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    # 130, or the same death by SIGINT a shell reports as 130 (seen when
    # the signal lands late in TensorFlow's import, after the line).
    assert process.returncode in (130, -signal.SIGINT), stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        "classify: interrupted (rerun the command to resume from the last "
        "checkpoint, if any)."
    )
    assert "Traceback" not in stderr
    assert not (tmp_path / "run").exists()
