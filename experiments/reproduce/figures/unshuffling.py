"""Un-shuffling: Fig. 12 (test PSNR against depth, width and kernel, claim
(e)), test PSNR against training length (claim (e) epoch by epoch), and
Figs. 10, 11 and 13 (reconstruction grids).
"""

from __future__ import annotations

import os

from spatialmix_keras import stats
from spatialmix_keras.vocabulary import DATASET_LABELS

from ..sweeps import LABELS, unshuffle_point
from . import common


def fig12_report(fig_dir, runs, scale):
    """Test PSNR against depth, width and kernel, Full and Chans: the mean
    over a point's seeds with its 95% interval, and claim (e) paired over
    every (point, seed)."""
    done = _finished(fig_dir, runs)
    psnr, machines, time = _by_point(done)
    cis = {key: stats.mean_ci(list(v.values())) for key, v in psnr.items()}
    baselines = _baselines(done)
    plt = common.plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5), dpi=120)
    centre = {o: _center(done, o) for o in "dwk"}
    for ax, key, label in zip(
        axes, "dwk", ("depth", "width", "kernel"), strict=True
    ):
        _point_lines(ax, cis, key, centre)
        _draw_baselines(ax, baselines)
        ax.set_xticks(sorted({r.meta[key] for r, _ in done}))
        ax.set_xlabel(label)
        ax.set_ylabel("test PSNR (dB), mean and 95% CI", fontsize=8)
        ax.grid(alpha=0.3)
    # One legend, beside the last panel, where it hides no line.
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(
        f"fig12: un-shuffling ConvMixers, {_dataset(fig_dir, done)}, {scale} "
        f"scale, {_seeds_note(psnr)}\ny axes zoomed to the data (do not "
        "start at 0); the other two settings at the sweep's centre",
        fontsize=9,
    )
    png = common.save_figure(plt, fig, fig_dir, "fig12", scale)
    rows = [
        _point_row(freeze, point, ci, psnr, machines, time)
        for (freeze, point), ci in sorted(
            cis.items(), key=lambda item: (item[0][1], item[0][0] != "none")
        )
    ]
    common.write_report(
        fig_dir,
        runs,
        "fig12",
        scale,
        [
            "model",
            "learns",
            "seeds",
            "test PSNR (dB), mean [95% CI]",
            "paired difference to Full (dB) [95% CI]",
            "train time (s), mean",
        ],
        rows,
        sum(m["train_time_s"] for _, m in done),
        _as_well_note(psnr, machines) + _baselines_note(baselines),
    )
    return png, rows


def _finished(fig_dir, runs):
    """`(run, metrics)` of the runs that finished."""
    done = [(r, common.metrics(fig_dir, r)) for r in runs]
    return [(r, m) for r, m in done if m]


def _by_point(done):
    """Keyed by `(freeze, (d, w, k))`: `{seed: test PSNR}`, `{seed: the
    run's metrics}` and the runs' training times."""
    psnr, machines, time = {}, {}, {}
    for r, m in done:
        key = (r.meta["freeze"], unshuffle_point(r))
        psnr.setdefault(key, {})[r.meta.get("seed", 0)] = m["final_test_psnr"]
        machines.setdefault(key, {})[r.meta.get("seed", 0)] = m
        time.setdefault(key, []).append(m["train_time_s"])
    return psnr, machines, time


def _point_lines(ax, cis, key, centre):
    """Full and Chans against one setting (`key` of "dwk"), the other two
    at the sweep's centre."""
    for freeze in ("none", "spatial"):
        points = sorted(
            (dict(zip("dwk", p, strict=True))[key], cis[f, p])
            for f, p in cis
            if f == freeze
            and all(
                dict(zip("dwk", p, strict=True))[o] == centre[o]
                for o in "dwk"
                if o != key
            )
        )
        if points:
            ax.errorbar(
                [x for x, _ in points],
                [c[0] for _, c in points],
                yerr=common.error_bars([c for _, c in points], scale=1),
                fmt="-o",
                capsize=4,
                label=LABELS[freeze],
            )


def _point_row(freeze, point, ci, psnr, machines, time):
    diff = ""
    if freeze == "spatial" and ("none", point) in psnr:
        d, _ = _paired(
            psnr[freeze, point],
            psnr["none", point],
            machines[freeze, point],
            machines["none", point],
        )
        diff = f"{_db(d[:3], signed=True)} (n={d[3]})"
    return (
        "d={} w={} k={}".format(*point),
        LABELS[freeze],
        len(psnr[freeze, point]),
        _db(ci),
        diff,
        round(sum(time[freeze, point]) / len(time[freeze, point])),
    )


def _baselines_note(baselines):
    return "".join(
        f" Test PSNR of the {name}: {value:.2f} dB."
        for name, value in baselines.items()
    )


def length_report(fig_dir, runs, scale):
    """Test PSNR after every epoch, Full and Chans: the mean over seeds with
    its 95% band, the paired difference per epoch, and claim (e) at the
    last epoch."""
    done = _finished(fig_dir, runs)
    psnr, machines = _by_epoch(fig_dir, done)
    baselines = _baselines(done)
    plt = common.plt()
    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=120)
    _epoch_bands(ax, psnr)
    _draw_baselines(ax, baselines)
    all_epochs = sorted({e for by_epoch in psnr.values() for e in by_epoch})
    ax.set_xticks(all_epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test PSNR (dB), mean and 95% CI band", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    points = sorted({unshuffle_point(r) for r, _ in done})
    model = "; ".join(
        "depth {}, width {}, kernel {}".format(*p) for p in points
    )
    seeds = len({r.meta.get("seed", 0) for r, _ in done})
    ax.set_title(
        f"Un-shuffling ConvMixer ({model}), {_dataset(fig_dir, done)},\n"
        f"{scale} scale, {common.seeds_label(seeds)}; y axis "
        "zoomed to the data (does not start at 0)",
        fontsize=9,
    )
    png = common.save_figure(plt, fig, fig_dir, "unshuffle_length", scale)
    rows, note = _epoch_rows(psnr, machines, all_epochs)
    common.write_report(
        fig_dir,
        runs,
        "unshuffle_length",
        scale,
        [
            "epoch",
            "Full test PSNR (dB), mean [95% CI]",
            "Chans test PSNR (dB), mean [95% CI]",
            "paired difference Chans - Full (dB) [95% CI]",
        ],
        rows,
        sum(m["train_time_s"] for _, m in done),
        note + _baselines_note(baselines),
    )
    return png, rows


def _by_epoch(fig_dir, done):
    """`psnr[freeze][epoch] = {seed: test PSNR}` from the runs' histories,
    and `machines[freeze] = {seed: the run's metrics}`."""
    psnr, machines = {}, {}
    for r, m in done:
        machines.setdefault(r.meta["freeze"], {})[r.meta.get("seed", 0)] = m
        history = common.run_json(fig_dir, r, "history.json") or []
        for entry in history:
            psnr.setdefault(r.meta["freeze"], {}).setdefault(
                entry["epoch"], {}
            )[r.meta.get("seed", 0)] = entry["test_psnr"]
    return psnr, machines


def _epoch_bands(ax, psnr):
    """Full and Chans: the mean after every epoch with its 95% band."""
    for freeze in ("none", "spatial"):
        epochs = sorted(psnr.get(freeze, {}))
        cis = [stats.mean_ci(list(psnr[freeze][e].values())) for e in epochs]
        if epochs:
            line = ax.plot(
                epochs, [c[0] for c in cis], "-o", label=LABELS[freeze]
            )[0]
            ax.fill_between(
                epochs,
                [c[1] if c[1] == c[1] else c[0] for c in cis],
                [c[2] if c[2] == c[2] else c[0] for c in cis],
                color=line.get_color(),
                alpha=0.2,
            )


def _epoch_rows(psnr, machines, all_epochs):
    """The table's row per epoch, and the note with claim (e)'s verdict
    at the last epoch."""
    from .. import verdicts

    rows = []
    last, unpaired = None, []
    for epoch in all_epochs:
        full = psnr.get("none", {}).get(epoch, {})
        chans = psnr.get("spatial", {}).get(epoch, {})
        d, unpaired = _paired(
            chans, full, machines.get("spatial", {}), machines.get("none", {})
        )
        last = d
        rows.append(
            (
                epoch,
                _db(stats.mean_ci(list(full.values()))) if full else "",
                _db(stats.mean_ci(list(chans.values()))) if chans else "",
                f"{_db(d[:3], signed=True)} (n={d[3]})" if d[3] else "",
            )
        )
    if last is None:
        return rows, ""
    verdict, reason = verdicts.as_well(last)
    note = (
        f"**Claim (e) after epoch {all_epochs[-1]}: {verdict}.** "
        f"{reason}, paired by seed. Rule (as Fig. 12's): above "
        f"-{verdicts.PSNR_CLOSE:g} dB."
    ) + _left_out(unpaired)
    return rows, note


def _db(ci, signed=False):
    """`'12.34 [11.90, 12.78]'` dB; the mean alone without an interval."""
    form = "{:+.2f}" if signed else "{:.2f}"
    mean, low, high = ci
    if low != low:
        return form.format(mean)
    return f"{form.format(mean)} [{form.format(low)}, {form.format(high)}]"


def _seeds_note(psnr):
    counts = sorted({len(v) for v in psnr.values()})
    if len(counts) <= 1:
        return f"{common.seeds_label(counts[0] if counts else 0)} per point"
    # A sweep under way (or a scale that seeds only its centre): the range.
    return f"{counts[0]}-{counts[-1]} seeds per point"


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


def _draw_baselines(ax, baselines):
    """The shuffled input's and the mean image's PSNR, as gray lines."""
    for name, style in (("shuffled input", "--"), ("mean image", ":")):
        if name in baselines:
            ax.axhline(baselines[name], color="gray", ls=style, label=name)


def _dataset(fig_dir, done):
    for config in common.configs(fig_dir, [run for run, _ in done]):
        return DATASET_LABELS.get(config["dataset"], config["dataset"])
    return "dataset unknown"


def _paired(a, b, machines_a, machines_b):
    """`(difference, unpaired)`: `a - b` over the keys whose two runs share
    machine, libraries and commit (`stats.pair_by_machine`), and a line per
    key left out."""
    kept_a, kept_b, unpaired = stats.pair_by_machine(
        {k: (v, machines_a.get(k, {})) for k, v in a.items()},
        {k: (v, machines_b.get(k, {})) for k, v in b.items()},
    )
    return stats.paired_difference(kept_a, kept_b), unpaired


def _left_out(unpaired):
    if not unpaired:
        return ""
    return " Left out (not the same machine): " + "; ".join(unpaired) + "."


def _as_well_note(psnr, machines):
    """Claim (e), paired over every (point, seed) both modes ran on one
    machine."""
    from .. import verdicts

    values, runs = {}, {}
    for mode in ("none", "spatial"):
        values[mode] = {
            (point, seed): value
            for (freeze, point), by_seed in psnr.items()
            if freeze == mode
            for seed, value in by_seed.items()
        }
        runs[mode] = {
            (point, seed): metrics
            for (freeze, point), by_seed in machines.items()
            if freeze == mode
            for seed, metrics in by_seed.items()
        }
    d, unpaired = _paired(
        values["spatial"], values["none"], runs["spatial"], runs["none"]
    )
    verdict, reason = verdicts.as_well(d)
    return (
        f"**Verdict (e) Chans un-shuffles as well as Full: {verdict}.** "
        f"{reason}, paired over the sweep's (depth, width, kernel) points "
        "and seeds (a pair: one point, one seed, the same initial weights "
        "and data order, on one machine). Rule: above "
        f"-{verdicts.PSNR_CLOSE:g} dB."
    ) + _left_out(unpaired)


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
                    f"{metrics['final_test_psnr']:.2f}",
                    f"{metrics['shuffled_psnr']:.2f}",
                    f"{metrics['mean_image_psnr']:.2f}",
                )
            )
    grids = [r.meta["output"] for r in runs if "output" in r.meta]
    drawn = [g for g in grids if os.path.exists(g)]
    missing = [os.path.basename(g) for g in grids if g not in drawn]
    wall = sum(
        common.metrics(fig_dir, r)["train_time_s"]
        for r in runs
        if common.metrics(fig_dir, r)
    )
    common.write_report(
        fig_dir,
        runs,
        "fig10_11_13",
        scale,
        ["run", "test PSNR (dB)", "shuffled input (dB)", "mean image (dB)"],
        rows,
        wall,
        "Grids: "
        + (", ".join(os.path.basename(g) for g in drawn) or "none yet")
        + (
            f" (not drawn yet: {', '.join(missing)}; run the figure "
            "without --report_only to draw them)"
            if missing
            else ""
        ),
    )
    return (drawn[0] if drawn else None), rows
