import contextlib
import dataclasses
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import time

import conftest
import numpy as np
import pytest

from experiments import reproduce
from spatialmix_keras import config as config_lib
from spatialmix_keras import models, schema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BUILDER_ARGS = set(inspect.signature(models.convmixer).parameters) | set(
    inspect.signature(models.convmixer_unshuffler).parameters
)

# What a pair's two runs must share (`stats.pair_by_machine`).
SAME_MACHINE = {
    "cpu_model": "CPU A",
    "cpu_flags": ["avx2", "fma"],
    "versions": {"tensorflow": "2.21.0", "keras": "3.15.1", "onednn": True},
    "code_version": "abc1234",
}


@pytest.mark.parametrize("scale", reproduce.SCALES)
def test_every_figure_has_runs_with_unique_names_and_real_configs(scale):

    for figure in reproduce.FIGURES:
        runs = reproduce.figure_runs(figure, scale, "/w")
        assert runs, figure
        assert len({r.name for r in runs}) == len(runs), figure
        names = {r.name for r in runs}
        for run in runs:
            assert set(run.after) <= names, (figure, run)
            assert run.task in reproduce.sweeps.TASKS, run
            if run.task not in reproduce.sweeps.TRAINING_TASKS:
                assert run.config is None and not run.overrides, run
                assert run.after and run.arguments, run
                continue
            # Every override is a field of the locked config, of its type,
            # and the resolved config passes validation.
            config = reproduce.load_config(run.config, run.overrides)
            config_lib.validate_config(config)
            for key, value in run.overrides.items():
                node = config
                for part in key.split("."):
                    node = node[part]
                assert node == value, (run.name, key)
                if key.startswith("model.") and key != "model.name":
                    assert key.split(".")[1] in _BUILDER_ARGS, key
            if run.task == "classify":
                assert config.model.name in models.VARIANTS, run


def test_a_mistyped_override_is_refused_like_a_flag():
    with pytest.raises(KeyError, match="epoch"):
        reproduce.load_config("resnet_cifar10.py", {"epoch": 3})
    with pytest.raises(TypeError):
        reproduce.load_config("resnet_cifar10.py", {"epochs": "three"})


def test_bad_figure_or_scale_is_refused():
    with pytest.raises(ValueError, match="figure='fig1'"):
        reproduce.figure_runs("fig1", "smoke", "/w")
    with pytest.raises(ValueError, match="scale='huge'"):
        reproduce.figure_runs("fig2", "huge", "/w")


def _command(*args, data_dir):
    return conftest.app_command("reproduce", *args, data_dir=data_dir)


def _run(*args, data_dir):
    argv, kwargs = _command(*args, data_dir=data_dir)
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=1500, **kwargs
    )


def _columns(markdown):
    """`{header: [cells]}` of a report's first Markdown table."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith("| "):
            lines.append(line)
        elif lines:
            break
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
        if header.startswith("paired difference"):
            continue  # "mean [interval] (n=...)", or empty for Full
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

    # Two sweeps side by side in one workdir (figures that share runs go
    # together): every figure is drawn, and neither disturbs the other.
    halves = (
        "fig2,fig3,fig8,fig5,fig12,unshuffle_length",
        "fig4,fig6,fig7,fig9,fig10_11_13",
    )
    assert sorted(",".join(halves).split(",")) == sorted(reproduce.FIGURES)
    results = conftest.run_side_by_side(
        {
            half: _command(
                f"--figure={half}",
                "--scale=smoke",
                f"--workdir={workdir}",
                data_dir=data_dir,
            )
            for half in halves
        },
        timeout=1500,
    )
    for result in results.values():
        assert result.returncode == 0, result.stderr[-3000:]
    for figure in reproduce.FIGURES:
        fig_dir = reproduce.figure_dir(workdir, figure)
        with open(os.path.join(fig_dir, f"{figure}.md")) as f:
            markdown = f.read()
        assert "smoke scale" in markdown and "Hardware:" in markdown
        _check_report(figure, markdown)
        if figure in ("fig8", "fig9"):  # the robustness study ran
            assert "## Robustness study" in markdown
            assert "**Verdict:" in markdown and "not shown" in markdown
        if figure == "fig2":  # configs/resnet_cifar10.py:smoke: 2 x 5 x 32
            assert "2 epochs of 5 steps of 32 images (320 images" in markdown
        png = (
            os.path.join(fig_dir, f"{figure}.png")
            if figure != "fig10_11_13"
            else os.path.join(fig_dir, "runs", "grid_mnist.png")
        )
        with open(png, "rb") as f:
            assert f.read(4) == b"\x89PNG", figure

    tails = conftest.run_side_by_side(
        {
            "again": _command(
                "--figure=fig2",
                "--scale=smoke",
                f"--workdir={workdir}",
                data_dir=data_dir,
            ),
            "index": _command(
                "--figure=fig2",
                "--scale=smoke",
                "--run_index=7",
                f"--workdir={workdir}",
                data_dir=data_dir,
            ),
            "status": _command(
                "--figure=fig2,fig8",
                "--scale=smoke",
                "--status",
                f"--workdir={workdir}",
                data_dir=data_dir,
            ),
            "index_of_two": _command(
                "--figure=fig2,fig3",
                "--scale=smoke",
                "--run_index=0",
                f"--workdir={workdir}",
                data_dir=data_dir,
            ),
        }
    )
    again = tails["again"]
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("already done, skipped") == 3
    assert ": done" not in again.stdout
    status = tails["status"]
    assert status.returncode == 0, status.stderr[-2000:]
    assert "fig2: 3 runs: 3 done; finished training runs took" in status.stdout
    assert "fig8: 5 runs: 5 done;" in status.stdout
    assert "fig8: fgsm: done\n" in status.stdout
    assert "wrote" not in status.stdout  # nothing drawn
    assert tails["index"].returncode != 0
    assert "has 3 runs. Received: 7" in tails["index"].stderr
    assert tails["index_of_two"].returncode != 0
    assert "Received: figure='fig2,fig3'" in tails["index_of_two"].stderr


def test_t_quantiles_match_a_numerical_integral_of_the_t_density():
    from spatialmix_keras import stats

    for dof in (1, 2, 4, 10, 30):
        # P(|T| <= t95) by integrating Student's t density numerically.
        x = np.linspace(-stats.t95(dof), stats.t95(dof), 200001)
        density = (1 + x**2 / dof) ** (-(dof + 1) / 2)
        log_norm = (
            np.log(np.pi * dof) / 2
            + math.lgamma(dof / 2)
            - math.lgamma((dof + 1) / 2)
        )
        mass = np.trapezoid(density, x) / np.exp(log_norm)
        assert mass == pytest.approx(0.95, abs=2e-4), dof


@pytest.mark.parametrize("figure", ["fig8", "fig9"])
def test_cifar_attacks_run_per_seed_right_after_that_seeds_models(figure):
    runs = reproduce.figure_runs(figure, "cifar", "/w")
    fig_dir = reproduce.figure_dir("/w", figure)
    trained = [r for r in runs if r.task == "classify"]
    assert len(trained) == (12 if figure == "fig9" else 9)
    for seed in reproduce.sweeps.CIFAR_SEEDS:
        mine = tuple(r.name for r in trained if r.meta["seed"] == seed)
        fgsm, study = (
            next(r for r in runs if r.name == f"{task}_s{seed}")
            for task in ("fgsm", "robustness")
        )
        assert fgsm.after == study.after == mine
        # Right after the last of them, before any later seed's model.
        last = max(i for i, r in enumerate(runs) if r.name in mine)
        assert runs[last + 1 : last + 3] == [fgsm, study]
        assert study.arguments["output_dir"] == os.path.join(
            fig_dir, "runs", f"robustness_s{seed}"
        )
    # One seed (smoke): one sweep and one study of every model.
    smoke = reproduce.figure_runs(figure, "smoke", "/w")
    assert [r.name for r in smoke[-2:]] == ["fgsm", "robustness"]
    assert smoke[-1].after == tuple(r.name for r in smoke[:-2])


def _fake_entry(run, clean, fgsm, pgd, group):
    """A study's entry for `run`, with transfers from the other members of
    its `group` (names) only."""
    others = [n for n in group if n != run.name]
    return {
        "name": run.name,
        "label": f"sigma={run.meta['sigma']}",
        "seed": run.meta["seed"],
        "white_box": {"clean_accuracy": clean, "fgsm": fgsm, "examples": 100},
        "subset": {
            "clean_accuracy": clean, "fgsm": fgsm[-1:], "pgd": pgd,
            "examples": 50,
        },
        "transfer": {a: [{o: 0.5 for o in others}] for a in ("fgsm", "pgd")},
        "masking": [],
        "warnings": [],
        "epochs": [
            {"epoch": 10, "final": True, "filter_movement": None,
             "high_frequency_share": 0.8},
        ],
    }  # fmt: skip


def test_per_seed_studies_merge_into_the_figures_verdict(tmp_path):
    workdir = str(tmp_path)
    runs = reproduce.figure_runs("fig9", "cifar", workdir)
    fig_dir = reproduce.figure_dir(workdir, "fig9")
    settings = conftest.study_settings(pgd_eps=[2 / 255])
    # sigma=1.0 gains 5 +- 1 FGSM points on every seed, and costs nothing
    # clean; PGD is the same for all.
    gain = {0: 0.05, 1: 0.06, 2: 0.04}

    def write(run, name, value):
        os.makedirs(reproduce.run_dir(fig_dir, run), exist_ok=True)
        with open(
            os.path.join(reproduce.run_dir(fig_dir, run), name), "w"
        ) as f:
            json.dump(value, f)

    by_name = {r.name: r for r in runs}
    for seed in (0, 1, 2):
        fgsm = by_name[f"fgsm_s{seed}"]
        models = [by_name[n] for n in fgsm.after]
        curves, entries = [], []
        for run in models:
            up = gain[seed] if run.meta["sigma"] == "1.0" else 0.0
            accuracy = [0.7, 0.3 + up + seed / 100, 0.1 + up]
            curves.append({"eps": [0.0, *settings["fgsm_eps"]],
                           "accuracy": accuracy})  # fmt: skip
            entries.append(
                _fake_entry(run, 0.7, accuracy[1:], [0.02], fgsm.after)
            )
            write(run, "metrics.json", {"train_time_s": 60.0})
        write(fgsm, "results.json", {"curves": curves})
        write(
            by_name[f"robustness_s{seed}"],
            "robustness.json",
            {"settings": settings, "subjects": entries, "dataset": "cifar10"},
        )
    _, rows = reproduce.report("fig9", "cifar", workdir)
    assert {row[0]: row[1] for row in rows}["sigma=1.0"] == 3  # seeds
    with open(os.path.join(fig_dir, "fig9.md")) as f:
        markdown = f.read()
    assert (
        "## Robustness study ([runs/robustness/robustness.md]"
        "(runs/robustness/robustness.md))" in markdown
    )
    assert "transfer between the models of each seed" in markdown
    # The verdict pairs all three seeds, which no single study could.
    assert "FGSM +5.0 [+2.5, +7.5] points (n=3)" in markdown
    with open(
        os.path.join(fig_dir, "runs", "robustness", "robustness.json")
    ) as f:
        merged = json.load(f)
    assert merged["studies"] == 3 and len(merged["subjects"]) == 12
    assert merged["verdict"]["verdict"] == "holds only against FGSM"
    report = os.path.join(fig_dir, "runs", "robustness", "robustness.md")
    with open(report) as f:
        assert "Merged from 3 studies run apart" in f.read()
    # Sweeps at other epsilons are never drawn as one curve.
    curves[0]["eps"] = [0.0, 1 / 255, 4 / 255]
    write(by_name["fgsm_s2"], "results.json", {"curves": curves})
    with pytest.raises(ValueError, match="fgsm_s2/results.json was attacked"):
        reproduce.report("fig9", "cifar", workdir)


def test_seeded_report_gives_mean_interval_and_paired_difference(tmp_path):
    runs = [
        r
        for r in reproduce.figure_runs("fig2", "cifar", str(tmp_path))
        if r.meta["depth"] == 1
    ]
    accuracy = {
        ("none", 0): 0.80, ("none", 1): 0.82, ("none", 2): 0.79,
        ("spatial", 0): 0.78, ("spatial", 1): 0.81, ("spatial", 2): 0.76,
        ("channel", 0): 0.60,
    }  # fmt: skip
    fig_dir = reproduce.figure_dir(str(tmp_path), "fig2")
    for run in runs:
        key = (run.meta["freeze"], run.meta["seed"])
        if key not in accuracy:
            continue
        os.makedirs(reproduce.run_dir(fig_dir, run))
        with open(
            os.path.join(reproduce.run_dir(fig_dir, run), "metrics.json"), "w"
        ) as f:
            cpu = "CPU A" if run.meta["seed"] == 0 else "CPU B"
            json.dump(
                {
                    "final_test_accuracy": accuracy[key],
                    "train_time_s": 60.0,
                    **SAME_MACHINE,
                    "cpu_model": cpu,
                },
                f,
            )
    # A Fig. 5 run shares the directory (`resnet/`) but is not Fig. 2's: the
    # report's hardware line must not count it.
    other = reproduce.figure_runs("fig5", "cifar", str(tmp_path))[-1]
    assert other.name not in {r.name for r in runs}
    os.makedirs(reproduce.run_dir(fig_dir, other))
    with open(
        os.path.join(reproduce.run_dir(fig_dir, other), "metrics.json"), "w"
    ) as f:
        json.dump({"final_test_accuracy": 0.5, "cpu_model": "CPU C"}, f)
    _, rows = reproduce.report("fig2", "cifar", str(tmp_path))
    by_mode = {row[1]: row for row in rows}
    full = np.array([0.80, 0.82, 0.79])
    chans = np.array([0.78, 0.81, 0.76])
    half = 4.303 * full.std(ddof=1) / np.sqrt(3)
    assert by_mode["Full"][:3] == ("ResNet-8", "Full", 3)
    assert by_mode["Full"][3] == (
        f"{100 * full.mean():.1f} [{100 * (full.mean() - half):.1f}, "
        f"{100 * (full.mean() + half):.1f}]"
    )
    diff = chans - full
    half = 4.303 * diff.std(ddof=1) / np.sqrt(3)
    assert by_mode["Chans"][4] == (
        f"{100 * diff.mean():.1f} [{100 * (diff.mean() - half):.1f}, "
        f"{100 * (diff.mean() + half):.1f}] (n=3)"
    )
    # One Space seed: a mean without an interval.
    assert by_mode["Space"][2:4] == (1, "60.0")
    assert by_mode["Space"][4] == "-20.0 (n=1)"
    assert os.path.exists(os.path.join(fig_dir, "fig2.png"))
    # One Space seed: no interval, so no verdict on claim (a) yet.
    with open(os.path.join(fig_dir, "fig2.md")) as f:
        markdown = f.read()
    assert (
        "**Verdict (a) separable ResNets: Chans close to Full, Space far "
        "behind: not shown.** ResNet-8: Chans - Full -2.0 [" in markdown
    )
    # Where the runs trained (seed 0: 3 runs; seeds 1, 2: Full and Chans),
    # not only where the report was drawn.
    assert (
        "Hardware: runs trained on CPU A (3 runs), CPU B (4 runs); report "
        "drawn on " in markdown
    )
    assert "CPU C" not in markdown
    assert "Every pair shares CPU, flags, oneDNN, libraries and commit" in (
        markdown
    )
    # A pair whose runs differ in commit is left out, and the report says so.
    chans_s2 = next(
        r for r in runs if (r.meta["freeze"], r.meta["seed"]) == ("spatial", 2)
    )
    path = os.path.join(reproduce.run_dir(fig_dir, chans_s2), "metrics.json")
    with open(path) as f:
        moved = {**json.load(f), "code_version": "def5678"}
    with open(path, "w") as f:
        json.dump(moved, f)
    _, rows = reproduce.report("fig2", "cifar", str(tmp_path))
    by_mode = {row[1]: row for row in rows}
    assert by_mode["Chans"][4].endswith("(n=2)")
    with open(os.path.join(fig_dir, "fig2.md")) as f:
        assert "ResNet-8 Chans - Full, seed 2: differ in commit." in f.read()


def test_a_figure_without_finished_runs_is_not_drawn(tmp_path):
    for figure in reproduce.FIGURES:
        with pytest.raises(ValueError, match=f"{figure} has no finished run"):
            reproduce.report(figure, "cifar", str(tmp_path))
    assert not os.listdir(tmp_path)  # nothing written


def test_filter_report_pairs_seeds_and_judges_random_filters(tmp_path):
    runs = reproduce.figure_runs("fig5", "cifar", str(tmp_path))
    fig_dir = reproduce.figure_dir(str(tmp_path), "fig5")
    accuracy = {"learned": 0.80, "random": 0.78, "same": 0.60, "box": 0.70}
    for run in runs:
        kind, seed = run.meta["kind"], run.meta["seed"]
        if kind not in accuracy:
            continue
        os.makedirs(reproduce.run_dir(fig_dir, run))
        metrics = {
            "final_test_accuracy": accuracy[kind]
            + 0.01 * seed * (kind == "same"),
            "train_time_s": 60.0,
            "trainable_params": 1000,
            **SAME_MACHINE,
        }
        with open(
            os.path.join(reproduce.run_dir(fig_dir, run), "metrics.json"), "w"
        ) as f:
            json.dump(metrics, f)
    _, rows = reproduce.report("fig5", "cifar", str(tmp_path))
    by_kind = {row[0]: row for row in rows}
    assert by_kind["random"][1:3] == (3, pytest.approx(0.78))
    # random - same per seed: 18, 17, 16 points -> 17 +- 4.303 * 1 / sqrt(3).
    assert by_kind["same"][5] == "17.0 [14.5, 19.5] (n=3)"
    with open(os.path.join(fig_dir, "fig5.md")) as f:
        assert (
            "(c) random filters work best among fixed ones: holds." in f.read()
        )


@pytest.mark.parametrize("scale", ["cpu", "cifar"])
def test_filter_types_reuse_the_shallowest_resnets_and_change_only_filters(
    scale, tmp_path
):
    """Fig. 5's learned and random runs are Figs. 2 and 8's shallowest Full
    and Chans runs (same name, config and overrides, same directory: trained
    once); each fixed type differs from the random run of its seed in the
    frozen filters' initializer alone."""
    workdir = str(tmp_path)
    runs = reproduce.figure_runs("fig5", scale, workdir)
    assert reproduce.figure_dir(workdir, "fig5") == (
        reproduce.figure_dir(workdir, "fig2")
    )
    resnets = {r.name: r for r in reproduce.figure_runs("fig2", scale, workdir)}
    random = {}
    for run in runs:
        if run.meta["kind"] in ("learned", "random"):
            shared = resnets[run.name]
            assert shared.meta["depth"] == 1
            assert shared.meta["freeze"] == (
                "none" if run.meta["kind"] == "learned" else "spatial"
            )
            assert (run.config, run.overrides) == (
                shared.config,
                shared.overrides,
            )
        if run.meta["kind"] == "random":
            random[run.meta.get("seed", 0)] = run
    assert len(random) == len(reproduce.sweeps.SEEDS[scale])
    initializers = set()
    for run in runs:
        if run.meta["kind"] in ("learned", "random"):
            continue
        assert run.name not in resnets
        twin = random[run.meta.get("seed", 0)]
        mine = reproduce.load_config(run.config, run.overrides).to_dict()
        theirs = reproduce.load_config(twin.config, twin.overrides).to_dict()
        initializers.add(mine.pop("spatial_initializer"))
        assert theirs.pop("spatial_initializer") == "spatial_random"
        mine.pop("run_name", None), theirs.pop("run_name", None)
        assert mine == theirs
    assert initializers == {"same_random", "box", "identity"}


def test_first_cifar_scale_run_trains_when_shrunk(data_dir, tmp_path):
    """The cifar scale's first run, as the campaign runs it (a fresh process
    calling the library), shrunk to the small file and two steps: it trains,
    keeps the epoch-0 and epoch-1 weights, exports and logs."""
    run = reproduce.figure_runs("fig2", "cifar", str(tmp_path))[0]
    assert run.overrides["seed"] == 0 and run.overrides["dataset"] == "cifar10"
    fig_dir = reproduce.figure_dir(str(tmp_path), "fig2")
    shrunk = dataclasses.replace(
        run,
        overrides={
            **run.overrides,
            "small": True,
            "epochs": 1,
            "steps_per_epoch": 2,
        },
    )
    assert reproduce.execute(fig_dir, shrunk, data_dir)
    weights = os.path.join(reproduce.run_dir(fig_dir, run), "weights")
    assert sorted(os.listdir(weights)) == [
        "epoch_0000.weights.h5",
        "epoch_0001.weights.h5",
    ]
    assert os.path.isdir(os.path.join(fig_dir, "exports", run.name))
    with open(os.path.join(reproduce.run_dir(fig_dir, run), "log.txt")) as f:
        log = f.read()
    assert "epoch 1" in log and "Traceback" not in log
    # Done now: a second call runs nothing.
    assert not reproduce.execute(fig_dir, shrunk, data_dir)


def test_a_failing_run_names_its_log(data_dir, tmp_path):
    run = reproduce.figure_runs("fig2", "smoke", str(tmp_path))[0]
    fig_dir = reproduce.figure_dir(str(tmp_path), "fig2")
    broken = dataclasses.replace(
        run, overrides={**run.overrides, "dataset": "nope"}
    )
    log = os.path.join(reproduce.run_dir(fig_dir, run), "log.txt")
    with pytest.raises(RuntimeError, match=f"failed \\(exit 1\\); see {log}"):
        reproduce.execute(fig_dir, broken, data_dir)
    with open(log) as f:
        assert "dataset='nope'" in f.read()


def test_state_reads_where_each_run_stands_from_its_files(tmp_path):
    fig_dir = str(tmp_path)
    runs = reproduce.figure_runs("fig2", "cifar", fig_dir)
    done, started, untouched = runs[:3]
    attack = reproduce.figure_runs("fig8", "cifar", fig_dir)[-2]
    assert attack.task == "fgsm"
    for run in (done, started, attack):
        os.makedirs(reproduce.run_dir(fig_dir, run))

    def write(run, name, value):
        path = os.path.join(reproduce.run_dir(fig_dir, run), name)
        with open(path, "w") as f:
            json.dump(value, f)

    write(done, "metrics.json", {"train_time_s": 90.0})
    os.makedirs(os.path.join(fig_dir, "exports", done.name))
    write(started, "config.json", {"epochs": 10})
    write(started, "history.json", [{"epoch": 1}, {"epoch": 2}])
    assert reproduce.state(fig_dir, done) == (
        "done",
        "trained in 1 min 30 s",
        90,
    )
    assert reproduce.state(fig_dir, started) == (
        "started",
        "2 of 10 epochs trained",
        None,
    )
    assert reproduce.state(fig_dir, untouched).status == "not started"
    assert reproduce.state(fig_dir, attack).status == "started"
    write(attack, "results.json", {})
    assert reproduce.state(fig_dir, attack) == ("done", "", None)
    # Metrics without an export: not done (the export is the last step).
    os.makedirs(reproduce.run_dir(fig_dir, untouched))
    write(untouched, "metrics.json", {"train_time_s": 1.0})
    assert reproduce.state(fig_dir, untouched) == ("started", "", None)


def test_convmixer_figures_name_the_width_kernel_and_patch_they_ran(tmp_path):
    from experiments.reproduce.figures import common

    runs = reproduce.figure_runs("fig4", "cifar", str(tmp_path))
    assert common.convmixer_shape(str(tmp_path), runs) == ""
    # The second run's config, written the way a finished run writes it
    # (the first has none yet).
    config = schema.base_config()
    config.model.update(name="convmixer_128_8", dim=128, kernel_size=8)
    with config.unlocked():
        config.model.patch_size = 4
    os.makedirs(tmp_path / "runs" / runs[1].name)
    with open(tmp_path / "runs" / runs[1].name / "config.json", "w") as f:
        json.dump(config.to_dict(), f)
    assert common.convmixer_shape(str(tmp_path), runs) == (
        " (width 128, kernel 8, patch 4)"
    )
    # Fig. 9's title also names its one depth (Fig. 4's varies).
    config.model.depth = 6
    with open(tmp_path / "runs" / runs[1].name / "config.json", "w") as f:
        json.dump(config.to_dict(), f)
    assert common.convmixer_shape(str(tmp_path), runs, depth=True) == (
        " (depth 6, width 128, kernel 8, patch 4)"
    )
    # What the cifar scale asks for.
    assert runs[0].overrides["model.patch_size"] == 4


_STOPPED_SWEEP = """
import dataclasses, sys
from experiments import reproduce
run = reproduce.figure_runs("fig2", "smoke", sys.argv[1])[0]
run = dataclasses.replace(
    run, overrides={**run.overrides, "epochs": 60, "log_every_steps": 1}
)
try:
    reproduce.execute(reproduce.figure_dir(sys.argv[1], "fig2"), run)
except RuntimeError as error:
    print(error)
    raise SystemExit(1)
"""


def _wait_for_group_to_end(pgid, timeout):
    """[] once no process of the group is left, else the command lines of
    those still running at `timeout` (zombies do not count)."""
    deadline = time.time() + timeout
    while True:
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    with open(f"/proc/{pid}/cmdline") as f:
                        left.append(f.read().replace("\0", " ")[:200])
            except (OSError, IndexError, ValueError):
                continue
        if not left or time.time() > deadline:
            return left
        time.sleep(0.2)


@pytest.mark.parametrize(
    "signum, whole_group",
    [
        (signal.SIGINT, True),  # Ctrl-C in a terminal
        (signal.SIGTERM, False),  # `kill` / `pkill` of the sweep alone
        (signal.SIGTERM, True),  # a scheduler: every process, at once
    ],
    ids=["ctrl_c", "sigterm_to_the_sweep", "sigterm_to_the_group"],
)
def test_a_stop_saves_the_run_and_ends_the_sweep_in_one_line(
    data_dir, tmp_path, signum, whole_group
):
    """However the stop comes, the run saves a checkpoint and exits 75, the
    sweep says so in one line, and no process is left behind."""
    fig_dir = reproduce.figure_dir(str(tmp_path), "fig2")
    run = reproduce.figure_runs("fig2", "smoke", str(tmp_path))[0]
    log = os.path.join(reproduce.run_dir(fig_dir, run), "log.txt")
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOPPED_SWEEP, str(tmp_path)],
        cwd=REPO,
        env={
            **os.environ,
            "SPATIALMIX_DATA_DIR": data_dir,
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As from a terminal, even under a background `pytest &`.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, proc.communicate()
            if os.path.exists(log):
                with open(log) as f:
                    if "epoch 2/60 step" in f.read():
                        break
            time.sleep(0.2)
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=120)
        left = _wait_for_group_to_end(proc.pid, timeout=15)
        assert not left, left  # the run has ended too
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err[-3000:]
    assert "was stopped after saving a checkpoint" in out
    assert "Traceback" not in err
    with open(log) as f:
        assert f"Stopped by {signal.Signals(signum).name}" in f.read()
    assert os.listdir(
        os.path.join(reproduce.run_dir(fig_dir, run), "checkpoints")
    )


def test_learned_filters_are_drawn_beside_their_initialisation(tmp_path):
    """Fig. 7 takes the exported Full run (runs known only by copied JSON
    have no model) and measures it against the frozen filters of the Chans
    run of its seed, here an independent NumPy computation."""
    from spatialmix_keras import models, spatial_filters

    runs = reproduce.figure_runs("fig7", "cifar", str(tmp_path))
    fig_dir = reproduce.figure_dir(str(tmp_path), "fig7")
    by_name = {r.name: r for r in runs}
    for name in ("convmixer_d2_none_s0", "convmixer_d2_none_s1"):
        run_dir = reproduce.run_dir(fig_dir, by_name[name])
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump({"final_test_accuracy": 0.6, "train_time_s": 90.0}, f)
    chans = models.get_model("convmixer_tiny", freeze="spatial", seed=3)
    full = models.get_model("convmixer_tiny", freeze="none", seed=3)
    initial = spatial_filters.depthwise_kernels(chans)
    rng = np.random.default_rng(0)
    moved = {}
    for layer in full.layers:
        if layer.name in initial:
            kernel = initial[layer.name]
            moved[layer.name] = kernel + 0.5 * rng.standard_normal(kernel.shape)
            layer.kernel.assign(moved[layer.name].astype("float32"))
    for model, name in ((full, "none"), (chans, "spatial")):
        os.makedirs(os.path.join(fig_dir, "exports", f"convmixer_d2_{name}_s1"))
        model.save(
            os.path.join(
                fig_dir, "exports", f"convmixer_d2_{name}_s1", "model.keras"
            )
        )
    png, rows = reproduce.report("fig7", "cifar", str(tmp_path))
    assert os.path.exists(png)
    assert [r[0] for r in rows] == list(initial)  # depth 2: both blocks
    for name, _, std, _, _, movement in rows:
        expected = np.linalg.norm(moved[name] - initial[name]) / np.linalg.norm(
            initial[name]
        )
        assert movement == pytest.approx(expected, rel=1e-5)
        assert std == pytest.approx(np.std(moved[name]), rel=1e-5)
    with open(os.path.join(fig_dir, "fig7.md")) as f:
        markdown = f.read()
    assert "Learned depthwise filters of convmixer_d2_none_s1" in markdown
    assert "frozen filters of convmixer_d2_spatial_s1" in markdown
    # Without any export there is nothing to draw: one clear line.
    import shutil

    shutil.rmtree(os.path.join(fig_dir, "exports"))
    with pytest.raises(ValueError, match="fig7 needs an exported Full run"):
        reproduce.report("fig7", "cifar", str(tmp_path))


def test_code_line_counts_runs_that_recorded_no_commit():
    from experiments.reproduce.figures import common

    trained = [
        {"code_version": "abc1234"},
        {"code_version": "def5678"},
        {"code_version": None},
        {},
    ]
    assert common.code_versions(trained) == (
        "abc1234, def5678; not recorded for 2 of 4 runs"
    )
    assert common.code_versions(trained[:2]) == "abc1234, def5678"
    assert common.code_versions(trained[2:]) == ""
