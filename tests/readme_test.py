"""The README's commands and snippets run as written (fresh processes, in an
empty directory), and do what their comments say."""

import os
import re
import shlex
import subprocess
import sys

import conftest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")


def _blocks(language):
    with open(README) as f:
        return re.findall(rf"```{language}\n(.*?)```", f.read(), re.S)


def test_readme_is_read_in_five_minutes():
    with open(README) as f:
        assert len(f.read().splitlines()) <= 300


def test_readme_example_runs_and_its_model_reloads(tmp_path):
    (block,) = [b for b in _blocks("python") if "sm.get_model" in b]
    checks = """
loaded = keras.models.load_model("chans.keras")
frozen = [w for w in loaded.non_trainable_weights if "depthwise" in w.path]
assert frozen, [w.path for w in loaded.non_trainable_weights]
assert not [w for w in loaded.trainable_weights if "depthwise" in w.path]
assert layer.spatial_trainable is False
print("ok", len(frozen))
"""
    code = f"import os\nos.chdir({str(tmp_path)!r})\n" + block + checks
    result = conftest.run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")
    assert (tmp_path / "chans.keras").exists()


def _run(line, cwd, data_dir, timeout=600):
    """One README command in `cwd`, the apps importable from the checkout
    (as from its root) and the data where the README puts it."""
    env = {
        **os.environ,
        "SPATIALMIX_DATA_DIR": data_dir,
        "PYTHONPATH": REPO,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    args = shlex.split(line)
    args[0] = sys.executable if args[0] == "python" else args[0]
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_readme_quickstart_runs_as_written(tmp_path, data_dir):
    """The Quickstart's commands in order: the 20-second run trains and
    exports, the main job's command parses and validates (it would train
    for hours: `--print_config` stops it there), both loading snippets
    score the export, and `apps.evaluate` scores it on the test split."""
    (commands,) = [b for b in _blocks("bash") if "--run_name=quickstart" in b]
    lines = [
        line
        for line in commands.splitlines()
        if line.startswith("python -m apps.")
    ]
    assert len(lines) == 2
    smoke, main_job = lines
    result = _run(smoke, tmp_path, data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done: final test accuracy" in result.stderr
    assert (tmp_path / "saved_models" / "quickstart" / "saved_model").is_dir()
    parsed = _run(main_job + " --print_config", tmp_path, data_dir, 120)
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    assert "--config.freeze='spatial'" in parsed.stdout.splitlines()
    assert "--config.model.name='resnet20'" in parsed.stdout.splitlines()

    plain, helper = [b for b in _blocks("python") if "quickstart" in b]
    code = (
        plain.replace("../shared/data", data_dir)
        + helper
        + (
            "import numpy as np\n"
            "assert np.allclose(logits, model(pixels), atol=1e-4)\n"
        )
    )
    loaded = _run(f"python -c {shlex.quote(code)}", tmp_path, data_dir, 300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    (accuracy,) = re.findall(r"^accuracy ([0-9.]+)$", loaded.stdout, re.M)
    assert 0.0 <= float(accuracy) <= 1.0

    with open(README) as f:
        (evaluate,) = re.findall(
            r"`(python -m apps\.evaluate [^`]*)`", f.read()
        )
    scored = _run(evaluate, tmp_path, data_dir)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "10000" in scored.stdout + scored.stderr
