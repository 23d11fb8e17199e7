"""The campaign driver and the `long` study's queue."""

import json
import os
import shutil

import conftest

from experiments import campaign, campaign_workdir, long_study

HERE = {"cpu_model": "Intel Xeon", "cpu_flags": ["amx_bf16"], "onednn": "1"}


def test_long_study_trains_each_seed_back_to_back_and_names_what_differs():
    runs = long_study.runs()
    groups = [r["group"] for r in runs]
    # Contiguous groups: a seed's runs are never split around another's.
    assert groups == sorted(groups, key=groups.index)
    names = {r["name"] for r in runs}
    assert len(names) == len(runs) == 5 * 7 + 3 * 6
    assert "resnet8_d9_chans_e50_s4" in names
    assert "resnet8_d1_full_e50_s2" in names
    assert "resnet8_d1_full_e50_s3" not in names  # controls: 3 seeds
    # A group per seed and model: a pair, or the d = 9 modes at both lengths.
    by_name = {r["name"]: r["group"] for r in runs}
    assert by_name["convmixer_128_4_chans_e50_s1"] == "seed1_convmixer"
    assert by_name["resnet8_d1_chans_e50_s1"] == "seed1_d1"
    assert by_name["resnet8_d9_space_e10_s1"] == "seed1_d9"
    assert by_name["resnet8_d9_full_e50_s1"] == "seed1_d9"
    assert by_name["resnet8_standard_full_e50_s3"] == "seed3_standard"
    chans = next(r for r in runs if r["name"] == "resnet8_d3_chans_e50_s0")
    assert "--config.model.depth_multiplier=3" in chans["args"]
    assert "--config.freeze=spatial" in chans["args"]


def _echo_checkout(root):
    """A checkout whose one app, `echo`, takes a moment and writes its
    working directory into `<output_dir>/echo.json`."""
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "__init__.py").write_text("")
    (root / "apps" / "echo.py").write_text(
        "import json, os, sys, time\n"
        "time.sleep(0.3)\n"
        "out = sys.argv[1].split('=', 1)[1]\n"
        "os.makedirs(out)\n"
        "json.dump(os.getcwd(), open(os.path.join(out, 'echo.json'), 'w'))\n"
    )
    return str(root)


def test_two_workers_share_one_queue(tmp_path):
    import subprocess
    import sys

    source = _echo_checkout(tmp_path / "pinned")
    workdir, queue = tmp_path / "work", tmp_path / "queue.jsonl"
    names = [f"e{i}" for i in range(6)]
    queue.write_text(
        "".join(
            json.dumps({"name": n, "group": "g", "app": "echo", "args": []})
            + "\n"
            for n in names
        )
    )
    command = [
        sys.executable,
        "-m",
        "experiments.campaign",
        f"--queue={queue}",
        f"--workdir={workdir}",
        f"--source={source}",
    ]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    logs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    started = [
        line.split()[-1] for log in logs for line in log.splitlines()
        if " start " in line
    ]  # fmt: skip
    assert sorted(started) == names  # each run once, by one worker
    assert all(" start " in log for log in logs)  # both worked
    assert not os.listdir(workdir / "claims")


def test_runs_come_from_the_source_checkout(tmp_path):
    """The driver may be newer than the pinned checkout whose apps run."""
    source = _echo_checkout(tmp_path / "pinned")
    workdir = str(tmp_path / "work")
    entry = {"name": "e", "group": "g", "app": "echo", "args": []}
    assert campaign.perform(entry, workdir, None, HERE, str(source))
    with open(os.path.join(workdir, "runs", "e", "echo.json")) as f:
        assert json.load(f) == source
    with open(campaign_workdir.marker(workdir, "done", "e")) as f:
        assert json.load(f)["machine"] == HERE


MACHINE = {
    "cpu_model": "Intel Xeon",
    "cpu_flags": ["amx_bf16", "avx512f"],
    "versions": {"tensorflow": "2.21.0", "keras": "3.15.1", "onednn": True},
    "code_version": "abc1234",
}


def _finished(root, name, accuracy, **machine):
    run = root / name
    run.mkdir(parents=True)
    metrics = {**MACHINE, **machine, "final_test_accuracy": accuracy}
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_long_report_pairs_on_one_machine_and_judges_by_the_rules(tmp_path):
    from experiments import long_report

    runs = tmp_path / "runs"
    for seed in range(3):
        wobble = 0.002 * seed
        _finished(runs, f"resnet8_d9_full_e50_s{seed}", 0.85 + wobble)
        _finished(runs, f"resnet8_d9_chans_e50_s{seed}", 0.84 + wobble)
        _finished(runs, f"resnet8_d9_space_e50_s{seed}", 0.75 + wobble)
        _finished(runs, f"resnet8_d1_full_e50_s{seed}", 0.80 + wobble)
        _finished(runs, f"resnet8_d1_chans_e50_s{seed}", 0.70 + 2 * wobble)
    # Another machine's seed-3 Chans: listed, left out.
    _finished(runs, "resnet8_d9_full_e50_s3", 0.85)
    _finished(runs, "resnet8_d9_chans_e50_s3", 0.60, cpu_model="AMD EPYC")
    path = long_report.report(str(runs), str(tmp_path / "out"))
    text = open(path).read()
    assert text.startswith("# The long study")
    assert "17 of 53 training runs finished" in text
    assert "| resnet8_d9 | 50 | Chans | 4 | " in text
    # The mean keeps every run; Chans - Full pairs only the same-machine
    # seeds: -1.0 points each.
    mean = 100 * sum([0.84, 0.842, 0.844, 0.60]) / 4
    assert f"| resnet8_d9 | 50 | Chans | 4 | {mean:.1f} [" in text
    assert "-1.0 [-1.0, -1.0] (n=3)" in text
    assert (
        "resnet8_d9 50 epochs Chans - Full, seed 3: differ in cpu_model" in text
    )
    assert "- (a) separable ResNet-8 (d = 9), 50 epochs: **holds**." in text
    # Three same-machine pairs of the five seeds planned: said so.
    assert "So far: 3 of the 5 planned seeds paired" in text
    assert "- (a) separable ResNet-8 (d = 9), 10 epochs: **not shown**." in text
    # d = 1: Chans - Full -10, -9.8, -9.6 points; the gap to d = 9 is
    # about +9 points on every seed: the mechanism's prediction holds.
    assert "- The mechanism: **holds**." in text
    # d = 1 is planned on three seeds, and all three are paired.
    (mechanism,) = [x for x in text.splitlines() if "The mechanism" in x]
    assert "So far" not in mechanism
    assert (tmp_path / "out" / "d_sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_long_report_says_how_the_gaps_changed_from_10_to_50_epochs(tmp_path):
    from experiments import long_report

    runs = tmp_path / "runs"
    # Chans - Full: -3, -2 points at 10 epochs; -1, -0.5 at 50.
    for seed, (short, long) in enumerate([(-0.03, -0.01), (-0.02, -0.005)]):
        _finished(runs, f"resnet8_d9_full_e10_s{seed}", 0.78)
        _finished(runs, f"resnet8_d9_chans_e10_s{seed}", 0.78 + short)
        _finished(runs, f"resnet8_d9_full_e50_s{seed}", 0.87)
        _finished(runs, f"resnet8_d9_chans_e50_s{seed}", 0.87 + long)
    text = open(long_report.report(str(runs), str(tmp_path / "out"))).read()
    # Changes +2.0 and +1.5: mean +1.75, t(1) = 12.706, sd 0.354.
    half = 12.706 * 0.5 / 2**0.5 / 2**0.5
    assert (
        "- Chans - Full: -2.5 [-8.9, 3.9] points at 10 epochs (n=2), "
        "-0.8 [-3.9, 2.4] points at 50 (n=2); change of the gap: "
        f"1.8 [{1.75 - half:.1f}, {1.75 + half:.1f}] points (n=2"
    ) in text
    assert "- Space - Full: no pair at 10 epochs (n=0)" in text


def _study(folder, seed, fgsm_gain, pgd_gain):
    """A finished per-seed study of Full and Chans: Chans robust scores
    above Full's by `fgsm_gain` and `pgd_gain` at every epsilon."""
    settings = conftest.study_settings(pgd_eps=[1 / 255])
    subjects = []
    for label, up in (("Full", 0.0), ("Chans", 1.0)):
        name = f"resnet8_d9_{label.lower()}_e50_s{seed}"
        other = f"resnet8_d9_{'full' if up else 'chans'}_e50_s{seed}"
        fgsm, pgd = 0.3 + up * fgsm_gain, 0.1 + up * pgd_gain
        subjects.append({
            "name": name, "label": label, "seed": seed,
            "white_box": {"clean_accuracy": 0.8, "fgsm": [fgsm, fgsm],
                          "examples": 100},
            "subset": {"clean_accuracy": 0.8, "fgsm": [fgsm], "pgd": [pgd],
                       "examples": 50},
            "transfer": {a: [{other: 0.5}] for a in ("fgsm", "pgd")},
            "masking": [], "warnings": [],
            "epochs": [{"epoch": 50, "final": True, "filter_movement": None,
                        "high_frequency_share": 0.8}],
        })  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "robustness.json").write_text(
        json.dumps({"settings": settings, "subjects": subjects})
    )


def test_long_report_copies_and_lists_the_finished_robustness_studies(
    tmp_path,
):
    from experiments import long_report

    source = tmp_path / "campaign"
    study = source / "robustness_resnet8_d9_e50_s0"
    _study(study, 0, 0.02, 0.04)
    verdict = {
        "claim": "Chans more robust",
        "verdict": "not shown",
        "reason": "fewer than 2 paired seeds",
    }
    results = json.loads((study / "robustness.json").read_text())
    (study / "robustness.json").write_text(
        json.dumps({**results, "verdict": verdict})
    )
    (study / "robustness.md").write_text("# study")
    (source / "robustness_resnet8_d9_e10_s0").mkdir()  # running: no JSON
    out = tmp_path / "out"
    copied = long_report.copy_robustness(str(source), str(out / "robustness"))
    assert copied == ["robustness_resnet8_d9_e50_s0"]
    assert (out / "robustness" / copied[0] / "robustness.md").exists()
    runs = tmp_path / "runs"
    _finished(runs, "resnet8_d9_full_e50_s0", 0.87)
    text = open(long_report.report(str(runs), str(out))).read()
    assert "1 of 12 attack studies finished" in text
    assert (
        "- [robustness_resnet8_d9_e50_s0](robustness/robustness_resnet8_d9_"
        "e50_s0/robustness.md): Chans more robust: **not shown** (fewer "
        "than 2 paired seeds)"
    ) in text


def test_a_retrained_run_replaces_the_committed_one_and_its_measures(
    tmp_path,
):
    from experiments import long_report

    campaign_runs, committed = tmp_path / "campaign", tmp_path / "committed"
    _finished(committed, "convmixer_128_4_full_e50_s0", 0.83)
    _finished(committed, "resnet8_d9_full_e50_s0", 0.87)
    for name in ("convmixer_128_4_full_e50_s0", "resnet8_d9_full_e50_s0"):
        (committed / name / "reach.json").write_text("{}")
    # Retrained on another machine: another run of the same name.
    _finished(campaign_runs, "convmixer_128_4_full_e50_s0", 0.84)
    shutil.copytree(
        committed / "resnet8_d9_full_e50_s0",
        campaign_runs / "resnet8_d9_full_e50_s0",
    )  # the same run again
    copied = long_report.copy_finished(str(campaign_runs), str(committed))
    assert copied == ["convmixer_128_4_full_e50_s0", "resnet8_d9_full_e50_s0"]
    retrained = committed / "convmixer_128_4_full_e50_s0"
    assert json.loads((retrained / "metrics.json").read_text()) == json.loads(
        (campaign_runs / retrained.name / "metrics.json").read_text()
    )
    assert not (retrained / "reach.json").exists()
    assert (committed / "resnet8_d9_full_e50_s0" / "reach.json").exists()


def test_long_report_merges_a_settings_studies_once_two_seeds_finished(
    tmp_path,
):
    from experiments import long_report

    out = tmp_path / "out"
    studies = out / "robustness"
    _study(studies / "robustness_resnet8_d9_e50_s0", 0, 0.02, 0.04)
    _study(studies / "robustness_resnet8_d9_e50_s4", 4, 0.04, 0.06)
    _study(studies / "robustness_resnet8_d9_e10_s0", 0, 0.01, 0.01)
    runs = tmp_path / "runs"
    _finished(runs, "resnet8_d9_full_e50_s0", 0.87)
    merged = out / "robustness_merged" / "robustness_resnet8_d9_e50"
    merged.mkdir(parents=True)
    (merged / "training_length.png").write_bytes(b"an earlier merge's")
    text = open(long_report.report(str(runs), str(out))).read()
    # No model was attacked at a kept epoch: no training-length figure,
    # and the earlier merge's is gone with the rest of it.
    assert (merged / "robustness.png").exists()
    assert not (merged / "training_length.png").exists()
    merged_text = (merged / "robustness.md").read_text()
    assert "## Robustness against training length" not in merged_text
    assert (
        "| model | high-freq. share |\n| --- | --- |\n"
        "| resnet8_d9_full_e50_s0 | 0.800 |"
    ) in merged_text
    with open(merged / "robustness.json") as f:
        assert json.load(f)["studies"] == 2
    assert not (
        out / "robustness_merged" / "robustness_resnet8_d9_e10"
    ).exists()
    # Paired over seeds 0 and 4: FGSM gains 2 and 4 points, PGD 4 and 6;
    # each sd is sqrt(2), so the half-width is t(1) = 12.706 itself.
    assert (
        "- [robustness_resnet8_d9_e50](robustness_merged/robustness_resnet8_"
        "d9_e50/robustness.md): Chans is more robust than Full: **not shown** "
        "(Chans - Full robust score, FGSM +3.0 [-9.7, +15.7] points (n=2), "
        "PGD +5.0 [-7.7, +17.7] points (n=2)). So far: 2 of the 5 planned "
        "seeds;"
    ) in text
    assert text.index("## Robustness, seeds merged") < text.index(
        "## Robustness, seed by seed"
    )
    assert "3 of 12 attack studies finished" in text
    # 10 epochs: seed 0 alone (+1 and +1); the change pairs seed 0 only.
    assert (
        "- Chans - Full FGSM robust score: 1.0 points (n=1) at 10 epochs, "
        "3.0 [-9.7, 15.7] points (n=2) at 50; change: 1.0 points (n=1)."
    ) in text
    assert (
        "- Chans - Full PGD-20 robust score: 1.0 points (n=1) at 10 epochs, "
        "5.0 [-7.7, 17.7] points (n=2) at 50; change: 3.0 points (n=1)."
    ) in text


def test_precision_study_pairs_each_seed_in_both_precisions(tmp_path):
    import ast

    from experiments import precision_study
    from spatialmix_keras.config import validate_config
    from spatialmix_keras.schema import load_config_file

    runs = precision_study.runs()
    assert [r["group"] for r in runs] == ["seed0"] * 2 + ["seed1"] * 2 + [
        "seed2"
    ] * 2
    for entry in runs:  # every queued configuration is a valid one
        config = load_config_file(entry["args"][0].split("=", 1)[1])
        for arg in entry["args"][1:]:
            key, value = arg.removeprefix("--config.").split("=", 1)
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
            config.update_from_flattened_dict({key: value})
        validate_config(config)
    assert "--config.mixed_precision=mixed_bfloat16" in runs[1]["args"]

    root = tmp_path / "runs"
    for seed, (acc32, acc16) in enumerate([(0.80, 0.79), (0.81, 0.81)]):
        for precision, acc, speed in (
            ("f32", acc32, 100),
            ("bf16", acc16, 150),
        ):
            run = root / precision_study.run_name(precision, seed)
            _finished(root, run.name, acc)
            history = [{"images_per_s": 1}] + [{"images_per_s": speed}] * 3
            (run / "history.json").write_text(json.dumps(history))
    text = precision_study.report(str(root))
    assert "| 0 | 80.00 | 79.00 | -1.00 | 100, 150 |" in text
    # Differences -1.0 and 0.0: mean -0.5, t(1) interval +-12.706 * 0.5.
    assert "over 2 paired seeds: -0.5 [-6.9, 5.9] points" in text
    assert "1.50x, 1.50x" in text
    assert "Not finished: resnet8_d9_chans_e10_f32_s2" in text


def test_robustness_queue_attacks_each_seeds_models_with_known_flags(tmp_path):
    import subprocess
    import sys

    entries = long_study.robustness_runs()
    assert len(entries) == 2 * len(long_study.SEEDS) + 2
    first = entries[0]
    assert first["name"] == "robustness_resnet8_d9_e50_s0"
    assert "--model={workdir}/exports/resnet8_d9_chans_e50_s0" in first["args"]
    assert first["needs"][0] == "{workdir}/exports/resnet8_d9_full_e50_s0"
    restarts, same_images = entries[1], entries[2]
    assert {"--pgd_steps=100", "--pgd_restarts=5"} <= set(restarts["args"])
    # PGD-20 on the very images of PGD-100: is PGD-20 converged?
    assert {"--pgd_steps=20", "--max_examples=500"} <= set(same_images["args"])
    assert {a for a in restarts["args"] if "examples" in a} == {
        a for a in same_images["args"] if "examples" in a
    }
    # Every flag the queue passes is one apps.robustness defines.
    defined = subprocess.run(
        [sys.executable, "-c", "import apps.robustness; from absl import "
         "flags; print(' '.join(flags.FLAGS))"],
        capture_output=True, text=True, check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ).stdout.split()  # fmt: skip
    used = {a[2:].split("=")[0] for e in entries for a in e["args"]}
    assert used <= set(defined), used - set(defined)
    # The campaign waits for models not trained yet, and says which.
    workdir = str(tmp_path)
    assert not campaign.perform(first, workdir, None, HERE)
    assert not os.path.exists(
        campaign_workdir.marker(workdir, "started", first["name"])
    )
    flags, finished = campaign._outputs(first, workdir)
    assert flags == [f"--output_dir={workdir}/runs/{first['name']}"]
    assert finished == [f"{workdir}/runs/{first['name']}/robustness.json"]


def test_long_report_measures_what_frozen_filters_cannot_reach(tmp_path):
    # A Full d = 1 ResNet-8 whose spatial filters moved from their initial
    # draw: reach.json holds, per layer, the energy share of W = D.P no
    # combination of the initial filters reaches (here by least squares
    # against a fresh model of the same seed), and the report shows it.
    import keras
    import numpy as np

    from experiments import long_reach, long_report
    from spatialmix_keras import get_model, layers

    name = "resnet8_d1_full_e50_s0"
    fresh = get_model("resnet8", depth_multiplier=1, freeze="none", seed=0)
    trained = get_model("resnet8", depth_multiplier=1, freeze="none", seed=0)
    rng = np.random.default_rng(0)
    expected = {}
    for before, after in zip(fresh.layers, trained.layers, strict=True):
        if not isinstance(after, layers.SpatialSeparableConv2D):
            continue
        d0 = keras.ops.convert_to_numpy(before.depthwise_kernel)
        moved = d0 + 0.5 * rng.normal(size=d0.shape)
        after.depthwise_kernel.assign(moved)
        p = keras.ops.convert_to_numpy(after.pointwise_kernel)
        w = np.einsum("hwcm,cmf->hwcf", moved, p.reshape(d0.shape[2], 1, -1))
        expected[after.name] = conftest.lstsq_outside(d0, w)
    assert expected
    exports, runs = tmp_path / "exports", tmp_path / "runs"
    (exports / name).mkdir(parents=True)
    trained.save(exports / name / "model.keras")
    _finished(runs, name, 0.8)
    _finished(runs, "resnet8_d1_chans_e50_s0", 0.7)  # Chans: not measured
    assert long_reach.measure(str(exports), str(runs)) == [name]
    shares = json.loads((runs / name / "reach.json").read_text())
    assert set(shares) == set(expected)
    for layer, share in shares.items():
        assert abs(share - expected[layer]) < 1e-4 * expected[layer]
    assert long_reach.measure(str(exports), str(runs)) == []  # once
    text = open(long_report.report(str(runs), str(tmp_path / "out"))).read()
    mean = sum(shares.values()) / len(shares)
    assert f"| separable ResNet-8, d = 1 | 1 | {mean:.3f} | 0.889 |" in text


def test_campaign_status_says_where_each_run_stands_and_what_is_left(tmp_path):
    workdir = str(tmp_path)

    def entry(name, model, epochs):
        args = [f"--config.model.name={model}", f"--config.epochs={epochs}"]
        return {"name": name, "group": "s0", "app": "classify", "args": args}

    entries = [
        entry("a_done", "a", 2),
        entry("a_half", "a", 10),
        entry("a_new", "a", 1),
        entry("b_new", "b", 5),
        {
            "name": "attack",
            "group": "s0",
            "app": "robustness",
            "args": [],
            "needs": ["{workdir}/exports/a_done", "{workdir}/exports/b_new"],
        },
    ]
    campaign_workdir.mark(workdir, "started", "a_done", HERE)
    campaign_workdir.mark(workdir, "done", "a_done", HERE)
    runs = tmp_path / "runs"
    (runs / "a_done").mkdir(parents=True)
    (runs / "a_done" / "metrics.json").write_text(
        json.dumps({"train_time_s": 3600.0, "epochs": 2})
    )
    (tmp_path / "exports" / "a_done").mkdir(parents=True)
    campaign_workdir.mark(workdir, "started", "a_half", HERE)
    (runs / "a_half").mkdir()
    (runs / "a_half" / "history.json").write_text(json.dumps([{}] * 4))
    lines = campaign.status(entries, workdir)
    assert lines[:5] == [
        "a_done: done (Intel Xeon, 1800 s an epoch)",
        "a_half: started, 4 of 10 epochs",
        "a_new: not started",
        "b_new: not started",
        "attack: waits for 1 of 2 inputs",
    ]
    # a: 6 + 1 epochs left at 1800 s; b: no finished run to time it by.
    assert lines[5] == (
        "1 of 5 runs done; training left: 3.5 core-hours, plus 1 runs of "
        "models none has finished (b_new)"
    )
