import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

from spatialmix_keras import models, reproduce

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BUILDER_ARGS = set(inspect.signature(models.convmixer).parameters) | set(
    inspect.signature(models.convmixer_unshuffler).parameters
)


@pytest.mark.parametrize("scale", reproduce.SCALES)
def test_every_figure_has_runs_with_unique_names_and_real_configs(scale):
    for figure in reproduce.FIGURES:
        runs = reproduce.figure_runs(figure, scale, "/w")
        assert runs, figure
        assert len({r.name for r in runs}) == len(runs), figure
        names = {r.name for r in runs}
        for run in runs:
            assert set(run.after) <= names, (figure, run)
            for arg in run.args:
                if arg.startswith("--config="):
                    path = arg.split("=", 1)[1].split(":")[0]
                    assert os.path.exists(os.path.join(REPO, path)), arg
                if arg.startswith("--model=") and run.app == "classify":
                    assert arg[len("--model=") :] in models.VARIANTS, arg
                if arg.startswith("--config.model_kwargs."):
                    key = arg.split("=")[0].rsplit(".", 1)[1]
                    assert key in _BUILDER_ARGS, arg


def test_bad_figure_or_scale_is_refused():
    with pytest.raises(ValueError, match="figure='fig1'"):
        reproduce.figure_runs("fig1", "smoke", "/w")
    with pytest.raises(ValueError, match="scale='huge'"):
        reproduce.figure_runs("fig2", "huge", "/w")


def _run(*args, data_dir):
    return subprocess.run(
        [sys.executable, "-m", "apps.reproduce", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
        env={
            **os.environ,
            "SPATIALMIX_DATA_DIR": data_dir,
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
    )


def _columns(markdown):
    """`{header: [cells]}` of a report's Markdown table."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in lines[1:]
        if "---" not in line
    ]
    return {h: [row[i] for row in rows] for i, h in enumerate(header)}


def _check_report(figure, markdown):
    columns = _columns(markdown)
    assert columns and all(columns.values()), figure
    checked = 0
    for header, cells in columns.items():
        if "accuracy" in header or header.startswith("eps="):
            low, high = 0.0, 1.0
        elif "PSNR" in header or "(dB)" in header:
            low, high = 0.0, 100.0
        elif any(w in header for w in ("time", "params", "std")):
            low, high = 0.0, float("inf")
        else:
            continue
        for cell in cells:
            value = float(cell)
            assert np.isfinite(value) and low <= value <= high, (
                figure,
                header,
                value,
            )
            checked += 1
    assert checked, figure


@pytest.mark.slow
def test_smoke_scale_reproduces_every_figure_and_resumes(data_dir, tmp_path):
    workdir = str(tmp_path / "rep")
    printed = _run(
        "--figure=all",
        "--scale=smoke",
        "--print_commands",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert printed.returncode == 0, printed.stderr[-2000:]
    lines = printed.stdout.strip().splitlines()
    assert len(lines) == len(set(lines)) > 10  # shared runs printed once

    result = _run(
        "--figure=all",
        "--scale=smoke",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for figure in reproduce.FIGURES:
        fig_dir = reproduce.figure_dir(workdir, figure)
        with open(os.path.join(fig_dir, f"{figure}.md")) as f:
            markdown = f.read()
        assert "smoke scale" in markdown and "Hardware:" in markdown
        _check_report(figure, markdown)
        if figure == "fig2":  # configs/resnet_cifar10.py:smoke: 2 x 5 x 32
            assert "2 epochs of 5 steps of 32 images (320 images" in markdown
        png = (
            os.path.join(fig_dir, f"{figure}.png")
            if figure != "fig10_11_13"
            else os.path.join(fig_dir, "runs", "grid_mnist.png")
        )
        with open(png, "rb") as f:
            assert f.read(4) == b"\x89PNG", figure

    again = _run(
        "--figure=fig2",
        "--scale=smoke",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("already done, skipped") == 3
    assert ": done" not in again.stdout
    index = _run(
        "--figure=fig2",
        "--scale=smoke",
        "--run_index=7",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert index.returncode != 0
    assert "has 3 runs. Received: 7" in index.stderr
