"""The un-shuffling reports of `apps.reproduce`: Fig. 12, `unshuffle_length`
and the reconstruction grids (`reproduce/figures/unshuffling.py`), checked
against statistics computed here with NumPy."""

import json
import os

import numpy as np

from experiments import reproduce
from experiments.reproduce import unshuffle_report

# What a run's metrics.json records of its machine (`stats.PAIR_FIELDS`).
MACHINE = {
    "cpu_model": "Intel Xeon",
    "cpu_flags": ["avx512f"],
    "versions": {"tensorflow": "2.21.0", "keras": "3.15.1", "onednn": True},
    "code_version": "abc1234",
}


def test_cifar_unshuffling_pairs_seeds_and_its_grid_reuses_the_centre(
    tmp_path,
):
    workdir = str(tmp_path)
    runs = reproduce.figure_runs("fig12", "cifar", workdir)
    centre = reproduce.sweeps.CIFAR_UNSHUFFLE_CENTRE
    seeds = {}
    for run in runs:
        point = (run.meta["d"], run.meta["w"], run.meta["k"])
        seeds.setdefault(point, set()).add(run.meta["seed"])
    # Every point on three seeds, the centre among four points.
    assert len(seeds) == 4 and all(s == {0, 1, 2} for s in seeds.values())
    assert centre in seeds
    # The grid trains nothing of its own: it shows the centre's seed-0 runs,
    # the very runs of Fig. 12 (same name, config and overrides).
    grid = reproduce.figure_runs("fig10_11_13", "cifar", workdir)
    by_name = {r.name: r for r in runs}
    trained = [r for r in grid if r.task == "unshuffle"]
    assert [r.name for r in trained] == [
        f"unshuffle_d8_w64_k9_{f}_s0" for f in ("none", "spatial")
    ]
    for run in trained:
        assert (run.config, run.overrides) == (
            by_name[run.name].config,
            by_name[run.name].overrides,
        )
    assert reproduce.figure_dir(workdir, "fig10_11_13") == (
        reproduce.figure_dir(workdir, "fig12")
    )

    fig_dir = reproduce.figure_dir(workdir, "fig12")
    full = {0: 20.0, 1: 21.0, 2: 19.5}
    chans = {0: 19.0, 1: 20.5, 2: 19.3}
    # A sweep half done: seeds 1 and 2 of the kernel-5 point not trained yet.
    kernel5 = (8, 64, 5)
    for run in runs:
        point = (run.meta["d"], run.meta["w"], run.meta["k"])
        seed, freeze = run.meta["seed"], run.meta["freeze"]
        if point == kernel5 and seed:
            continue
        value = (full if freeze == "none" else chans)[seed] - (
            2.0 * (point != centre)
        )
        os.makedirs(reproduce.run_dir(fig_dir, run))
        with open(
            os.path.join(reproduce.run_dir(fig_dir, run), "metrics.json"), "w"
        ) as f:
            json.dump(
                {
                    **MACHINE,
                    "final_test_psnr": value,
                    "train_time_s": 60.0,
                    "shuffled_psnr": 11.3,
                    "mean_image_psnr": 12.7,
                },
                f,
            )
    _, rows = reproduce.report("fig12", "cifar", workdir)
    by_key = {(row[0], row[1]): row for row in rows}
    values = np.array([20.0, 21.0, 19.5])
    half = 4.303 * values.std(ddof=1) / np.sqrt(3)
    assert by_key["d=8 w=64 k=9", "Full"][2:4] == (
        3,
        f"{values.mean():.2f} [{values.mean() - half:.2f}, "
        f"{values.mean() + half:.2f}]",
    )
    diff = np.array([-1.0, -0.5, -0.2])
    half = 4.303 * diff.std(ddof=1) / np.sqrt(3)
    assert by_key["d=8 w=64 k=9", "Chans"][4] == (
        f"{diff.mean():+.2f} [{diff.mean() - half:+.2f}, "
        f"{diff.mean() + half:+.2f}] (n=3)"
    )
    chans_d4 = np.array([19.0, 20.5, 19.3]) - 2.0
    half_d4 = 4.303 * chans_d4.std(ddof=1) / np.sqrt(3)
    assert by_key["d=4 w=64 k=9", "Chans"][2:5] == (
        3,
        f"{chans_d4.mean():.2f} [{chans_d4.mean() - half_d4:.2f}, "
        f"{chans_d4.mean() + half_d4:.2f}]",
        by_key["d=8 w=64 k=9", "Chans"][4],
    )
    assert by_key["d=8 w=64 k=5", "Chans"][2:5] == (1, "17.00", "-1.00 (n=1)")
    with open(os.path.join(fig_dir, "fig12.md")) as f:
        markdown = f.read()
    # Ten pairs: three seeds at three points, seed 0 alone at kernel 5.
    diff = np.array([-1.0, -0.5, -0.2] * 3 + [-1.0])
    half = 2.262 * diff.std(ddof=1) / np.sqrt(10)
    assert (
        f"Chans - Full PSNR {diff.mean():+.1f} [{diff.mean() - half:+.1f}, "
        f"{diff.mean() + half:+.1f}] dB (n=10)"
    ) in markdown
    assert "mean image: 12.70 dB" in markdown

    # The grid's runs are done but its picture is not drawn yet: the report
    # lists the PSNRs and says so, rather than naming a PNG that is absent.
    png, rows = reproduce.report("fig10_11_13", "cifar", workdir)
    assert png is None
    assert [row[0] for row in rows] == [r.name for r in trained]
    with open(os.path.join(fig_dir, "fig10_11_13.md")) as f:
        markdown = f.read()
    assert "Grids: none yet (not drawn yet: grid_cifar10.png;" in markdown


def test_unshuffle_length_pairs_seeds_epoch_by_epoch(tmp_path):
    workdir = str(tmp_path)
    runs = reproduce.figure_runs("unshuffle_length", "cifar", workdir)
    fig12 = reproduce.figure_runs("fig12", "cifar", workdir)
    # Its own runs in Fig. 12's directory: names that cannot collide, the
    # same experiment as Fig. 12's width-32 point but for the epochs.
    assert not {r.name for r in runs} & {r.name for r in fig12}
    width32 = {
        r.meta["freeze"]: r
        for r in fig12
        if (r.meta["d"], r.meta["w"], r.meta["k"]) == (8, 32, 9)
    }
    for run in runs:
        twin = width32[run.meta["freeze"]]
        assert run.config == twin.config
        assert run.overrides == {
            **twin.overrides,
            "epochs": 10,
            "seed": run.meta["seed"],
        }
    assert sorted((r.meta["seed"], r.meta["freeze"]) for r in runs) == [
        (s, f) for s in (0, 1, 2) for f in ("none", "spatial")
    ]
    # Other scales train nothing of their own: Fig. 12's centre runs.
    for scale in ("smoke", "cpu", "paper"):
        shared = reproduce.figure_runs("unshuffle_length", scale, workdir)
        centre = reproduce.sweeps.UNSHUFFLE_CENTRE[scale]
        assert [r.name for r in shared] == [
            r.name
            for r in reproduce.figure_runs("fig12", scale, workdir)
            if (r.meta["d"], r.meta["w"], r.meta["k"]) == centre
        ] and len(shared) == 2

    fig_dir = reproduce.figure_dir(workdir, "unshuffle_length")
    rng = np.random.default_rng(0)
    curves = {}
    for run in runs:
        curve = 12.0 + np.cumsum(rng.uniform(0.1, 0.6, size=3))
        curves[run.meta["freeze"], run.meta["seed"]] = curve
        os.makedirs(reproduce.run_dir(fig_dir, run))
        for name, content in (
            (
                "history.json",
                [
                    {"epoch": e + 1, "test_psnr": float(v)}
                    for e, v in enumerate(curve)
                ],
            ),
            (
                "metrics.json",
                {
                    **MACHINE,
                    # Seed 2's Chans ran elsewhere: its pair is left out.
                    "cpu_model": (
                        "AMD EPYC"
                        if (run.meta["freeze"], run.meta["seed"])
                        == ("spatial", 2)
                        else MACHINE["cpu_model"]
                    ),
                    "final_test_psnr": float(curve[-1]),
                    "train_time_s": 30.0,
                    "shuffled_psnr": 11.3,
                    "mean_image_psnr": 12.7,
                },
            ),
        ):
            with open(
                os.path.join(reproduce.run_dir(fig_dir, run), name), "w"
            ) as f:
                json.dump(content, f)
    png, rows = reproduce.report("unshuffle_length", "cifar", workdir)
    assert os.path.basename(png) == "unshuffle_length.png"
    assert [row[0] for row in rows] == [1, 2, 3]
    for epoch, row in zip((0, 1, 2), rows, strict=True):
        diff = np.array(
            [
                curves["spatial", s][epoch] - curves["none", s][epoch]
                for s in (0, 1)
            ]
        )
        half = 12.706 * diff.std(ddof=1) / np.sqrt(2)
        assert row[3] == (
            f"{diff.mean():+.2f} [{diff.mean() - half:+.2f}, "
            f"{diff.mean() + half:+.2f}] (n=2)"
        )
        full = np.array([curves["none", s][epoch] for s in (0, 1, 2)])
        assert row[1].startswith(f"{full.mean():.2f} [")
    with open(os.path.join(fig_dir, "unshuffle_length.md")) as f:
        markdown = f.read()
    low, high = diff.mean() - half, diff.mean() + half
    expected = (
        "holds" if low > -1 else "contradicted" if high < -1 else "not shown"
    )
    assert f"**Claim (e) after epoch 3: {expected}.**" in markdown
    assert "Left out (not the same machine): seed 2: differ in cpu_model" in (
        markdown
    )
    assert "mean image: 12.70 dB" in markdown


def test_grid_title_names_what_the_compared_models_share():
    def config(depth, seed):
        model = {"depth": depth, "dim": 64, "kernel_size": 9}
        return {"model": model, "epochs": 3, "seed": seed}

    title = unshuffle_report.grid_title("CIFAR-10", [config(8, 0)] * 2)
    assert title == (
        "Un-shuffling CIFAR-10 test images: ConvMixer depth 8, width 64, "
        "kernel 9, 3 epochs, seed 0"
    )
    # What differs between the models is left out, not misreported.
    title = unshuffle_report.grid_title("MNIST", [config(8, 0), config(4, 1)])
    assert title == "Un-shuffling MNIST test images: 3 epochs"
    assert unshuffle_report.grid_title("MNIST", [{}]) == (
        "Un-shuffling MNIST test images"
    )
