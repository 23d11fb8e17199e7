"""Un-shuffling: Fig. 12 (test PSNR against depth, width and kernel, claim
(e)) and Figs. 10, 11 and 13 (reconstruction grids).
"""

from __future__ import annotations

import os

from spatialmix_keras.reproduce import stats
from spatialmix_keras.reproduce.figures import common
from spatialmix_keras.reproduce.sweeps import LABELS
from spatialmix_keras.vocabulary import DATASET_LABELS


def fig12_report(fig_dir, runs, scale):
    plt = common.plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), dpi=120)
    done = [(r, common.metrics(fig_dir, r)) for r in runs]
    done = [(r, m) for r, m in done if m]
    rows = [
        (
            f"d={r.meta['d']} w={r.meta['w']} k={r.meta['k']}",
            LABELS[r.meta["freeze"]],
            m["final_test_psnr"],
            m["train_time_s"],
        )
        for r, m in done
    ]
    baselines = _baselines(done)
    for ax, key, label in zip(
        axes, "dwk", ("depth", "width", "kernel"), strict=True
    ):
        for freeze in ("none", "spatial"):
            points = sorted(
                (r.meta[key], m["final_test_psnr"])
                for r, m in done
                if r.meta["freeze"] == freeze
                and all(
                    r.meta[o] == _center(done, o) for o in "dwk" if o != key
                )
            )
            if points:
                ax.plot(*zip(*points, strict=True), "-o", label=LABELS[freeze])
        for name, style in (("shuffled input", "--"), ("mean image", ":")):
            if name in baselines:
                ax.axhline(baselines[name], color="gray", ls=style, label=name)
        ax.set_xticks(sorted({r.meta[key] for r, _ in done}))
        ax.set_xlabel(label)
        ax.set_ylabel("test PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"fig12: un-shuffling ConvMixers, {_dataset(fig_dir, done)}, {scale} "
        "scale, one seed per point\ny axes zoomed to the data (do not start "
        "at 0); the other two settings at the sweep's centre",
        fontsize=9,
    )
    png = common.save_figure(plt, fig, fig_dir, "fig12")
    common.write_report(
        fig_dir,
        "fig12",
        scale,
        ["model", "learns", "test PSNR (dB)", "train time (s)"],
        rows,
        sum(m["train_time_s"] for _, m in done),
        _as_well_note(done)
        + "".join(
            f" Test PSNR of the {name}: {value:.2f} dB."
            for name, value in baselines.items()
        ),
    )
    return png, rows


def _baselines(done):
    """The PSNR of the shuffled input and of the train mean image, on the
    test images every run of the sweep scores (mean over runs)."""
    found = {}
    for name, key in (
        ("shuffled input", "shuffled_psnr"),
        ("mean image", "mean_image_psnr"),
    ):
        values = [m[key] for _, m in done if key in m]
        if values:
            found[name] = sum(values) / len(values)
    return found


def _dataset(fig_dir, done):
    for config in common.configs(fig_dir, [run for run, _ in done]):
        return DATASET_LABELS.get(config["dataset"], config["dataset"])
    return "dataset unknown"


def _as_well_note(done):
    """Claim (e), paired over the sweep's configurations (one seed each)."""
    from spatialmix_keras.reproduce import verdicts

    psnr = {"none": {}, "spatial": {}}
    for r, m in done:
        if r.meta["freeze"] in psnr:
            point = (r.meta["d"], r.meta["w"], r.meta["k"])
            psnr[r.meta["freeze"]][point] = m["final_test_psnr"]
    d = stats.paired_difference(psnr["spatial"], psnr["none"])
    verdict, reason = verdicts.as_well(d)
    return (
        f"**Verdict (e) Chans un-shuffles as well as Full: {verdict}.** "
        f"{reason}, paired over the sweep's (depth, width, kernel) points, "
        f"one seed each. Rule: above -{verdicts.PSNR_CLOSE:g} dB."
    )


def _center(done, key):
    """The value of `key` shared by the sweep along the other two axes."""
    values = [r.meta[key] for r, _ in done]
    return max(set(values), key=values.count)


def grids_report(fig_dir, runs, scale):
    rows = []
    for run in runs:
        metrics = common.metrics(fig_dir, run)
        if metrics:
            rows.append(
                (
                    run.name,
                    metrics["final_test_psnr"],
                    metrics["shuffled_psnr"],
                    metrics["mean_image_psnr"],
                )
            )
    grids = [r.meta["output"] for r in runs if "output" in r.meta]
    wall = sum(
        common.metrics(fig_dir, r)["train_time_s"]
        for r in runs
        if common.metrics(fig_dir, r)
    )
    common.write_report(
        fig_dir,
        "fig10_11_13",
        scale,
        ["run", "test PSNR (dB)", "shuffled input (dB)", "mean image (dB)"],
        rows,
        wall,
        "Grids: " + ", ".join(os.path.basename(g) for g in grids),
    )
    return grids[0], rows
