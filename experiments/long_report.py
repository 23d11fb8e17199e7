r"""The long study's report: tables, verdicts and the d-sweep plot.

Reads the runs of `experiments.long_study` (each `runs/<name>/` with its
`config.json`, `history.json` and `metrics.json`), pairs them by seed
where both runs share CPU model, flags, oneDNN setting, library versions
and commit (`stats.pair_by_machine`; other pairs are listed and left out),
and writes `<output>/README.md` and `<output>/d_sweep.png`. Runs not
finished yet are counted as missing; a verdict waits for two pairs.

    python -m experiments.long_report --runs=docs/results/long/runs \
        --copy_from=$HOME/campaigns/long/runs --output=docs/results/long

(`--copy_from` first copies each finished run's `config.json`,
`history.json` and `metrics.json` from the campaign's work directory into
`--runs`, and each finished robustness study's `robustness.json`, `.md`
and `.png` into `<output>/robustness/`; both are committed. The studies of
one attack setting on two or more seeds are merged into
`<output>/robustness_merged/<setting>/`, with one verdict over the paired
seeds (`experiments.long_robustness`). With
`--exports=$HOME/campaigns/long/exports` it also measures each finished
Full separable ResNet's exported model once, into its run's `reach.json`:
per layer, the share of what the layer computes that the same layer with
its initial spatial filters frozen could not represent
(`experiments.long_reach`).)

Rules: `experiments/reproduce/verdicts.py` (close_and_far for claim (a),
close for the ConvMixers, widens for the mechanism).
"""

from __future__ import annotations

import datetime
import filecmp
import json
import os
import shutil

from absl import app, flags

from experiments import long_reach, long_robustness, long_study
from experiments.reproduce import verdicts
from spatialmix_keras import stats

LABELS = {"full": "Full", "chans": "Chans", "space": "Space"}


def read_runs(root: str) -> dict:
    """`{(model, epochs): {mode: {seed: (accuracy, metrics)}}}` of the
    finished runs under `root`."""
    found = {}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        match = long_study.RUN_NAME.match(name)
        path = os.path.join(root, name, "metrics.json")
        if not match or not os.path.exists(path):
            continue
        with open(path) as f:
            metrics = json.load(f)
        cell = found.setdefault(
            (match["model"], int(match["epochs"])), {}
        ).setdefault(match["mode"], {})
        cell[int(match["seed"])] = (metrics["final_test_accuracy"], metrics)
    return found


def planned_seeds() -> dict:
    """`{(model, epochs): number of seeds planned}` of the study's queue."""
    seeds = {}
    for entry in long_study.runs():
        match = long_study.RUN_NAME.match(entry["name"])
        key = (match["model"], int(match["epochs"]))
        seeds.setdefault(key, set()).add(int(match["seed"]))
    return {key: len(s) for key, s in seeds.items()}


def _so_far(pairs: int, wanted: int) -> str:
    """What a verdict on `pairs` pairs is worth while seeds are missing."""
    if pairs >= wanted:
        return ""
    return (
        f" So far: {pairs} of the {wanted} planned seeds paired; the study "
        f"trains all {wanted} whatever this says, and the verdict is the one "
        f"at n={wanted}."
    )


def difference(cell, mode) -> tuple[tuple, list[str]]:
    """`(mode - Full paired over same-machine seeds, left-out lines)`."""
    if mode not in cell or "full" not in cell:
        return (float("nan"),) * 3 + (0,), []
    a, b, unpaired = stats.pair_by_machine(cell[mode], cell["full"])
    return stats.paired_difference(a, b), unpaired


def table(runs) -> tuple[list[str], list[str]]:
    """Markdown rows (one per model, epochs and mode) and left-out pairs."""
    rows = [
        "| model | epochs | mode | runs | test accuracy (%) | "
        "- Full (points, paired) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    left_out = []
    for (model, epochs), cell in sorted(runs.items()):
        for mode in ("full", "chans", "space"):
            if mode not in cell:
                continue
            values = [v for v, _ in cell[mode].values()]
            diff, unpaired = difference(cell, mode)
            left_out += [
                f"{model} {epochs} epochs {LABELS[mode]} - Full, {u}"
                for u in unpaired
            ]
            shown = (
                ""
                if mode == "full"
                else f"{stats.format_ci(*diff[:3])} (n={diff[3]})"
            )
            rows.append(
                f"| {model} | {epochs} | {LABELS[mode]} | {len(values)} | "
                f"{stats.format_ci(*stats.mean_ci(values))} | {shown} |"
            )
    return rows, left_out


def judged(runs) -> list[str]:
    """One line per verdict of the study."""
    lines, wanted = [], planned_seeds()
    for epochs in (10, 50):
        cell = runs.get(("resnet8_d9", epochs), {})
        chans, _ = difference(cell, "chans")
        space, _ = difference(cell, "space")
        verdict, reason = verdicts.close_and_far(
            {"ResNet-8": {"Chans": chans, "Space": space}}
        )
        pairs = min(chans[3], space[3])
        lines.append(
            f"- (a) separable ResNet-8 (d = 9), {epochs} epochs: "
            f"**{verdict}**. {reason}."
            + _so_far(pairs, wanted["resnet8_d9", epochs])
        )
    key = ("convmixer_128_4", 50)
    chans, _ = difference(runs.get(key, {}), "chans")
    verdict, reason = verdicts.close(chans)
    lines.append(
        f"- (b) ConvMixer-128/4, 50 epochs: **{verdict}**. {reason}."
        + _so_far(chans[3], wanted[key])
    )
    verdict, reason, pairs = widens(runs)
    lines.append(
        f"- The mechanism: **{verdict}**. {reason}."
        + _so_far(pairs, wanted["resnet8_d1", 50])
    )
    return lines


def _gaps(cell, mode) -> dict:
    """`{seed: mode - Full}` over the seeds whose two runs share a machine."""
    if mode not in cell or "full" not in cell:
        return {}
    a, b, _ = stats.pair_by_machine(cell[mode], cell["full"])
    return {s: a[s] - b[s] for s in a}


def _gap_change(cell_a, cell_b, mode) -> tuple[dict, dict, tuple]:
    """`(gaps in a, gaps in b, (gap in a) - (gap in b))`, the change paired
    by seed over the seeds whose four runs all share one machine."""
    gaps_a, gaps_b = _gaps(cell_a, mode), _gaps(cell_b, mode)
    same = [
        s for s in sorted(gaps_a.keys() & gaps_b.keys())
        if stats.pair_by_machine(
            {s: cell_a["full"][s]}, {s: cell_b["full"][s]}
        )[0]
    ]  # fmt: skip
    change = stats.paired_difference(
        {s: gaps_a[s] for s in same}, {s: gaps_b[s] for s in same}
    )
    return gaps_a, gaps_b, change


def training_length(runs) -> list[str]:
    """What changed from 10 to 50 epochs (descriptive, no verdict): each
    mode's gap to Full at both lengths, and the change of the gap paired by
    seed over the seeds whose four runs share one machine."""
    short = runs.get(("resnet8_d9", 10), {})
    long = runs.get(("resnet8_d9", 50), {})
    lines = []
    for mode in ("chans", "space"):
        gaps_50, gaps_10, change = _gap_change(long, short, mode)
        at = {
            e: stats.format_ci(*stats.mean_ci(list(g.values()))) + " points"
            if g
            else "no pair"
            for e, g in ((10, gaps_10), (50, gaps_50))
        }
        changed = (
            f"{stats.format_ci(*change[:3])} points (n={change[3]}, seeds "
            "whose runs at both lengths share one machine)"
            if change[3]
            else "no seed with runs at both lengths on one machine yet"
        )
        lines.append(
            f"- {LABELS[mode]} - Full: {at[10]} at 10 epochs "
            f"(n={len(gaps_10)}), {at[50]} at 50 "
            f"(n={len(gaps_50)}); change of the gap: {changed}."
        )
    return lines


def widens(runs) -> tuple:
    """`(verdict, reason, n)` of (Chans - Full at d = 9) - (Chans - Full at
    d = 1), paired by seed over the n seeds whose four runs all share one
    machine."""
    _, _, gap = _gap_change(
        runs.get(("resnet8_d9", 50), {}),
        runs.get(("resnet8_d1", 50), {}),
        "chans",
    )
    return (*verdicts.widens(gap, 9, 1), gap[3])


def d_sweep_plot(runs, path):
    """Chans - Full (points, mean and 95% interval) against d, 50 epochs."""
    from spatialmix_keras import plots

    plt = plots.plt
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    xs, means, errors = [], [], [[], []]
    for d in (1, 3, 9):
        diff, _ = difference(runs.get((f"resnet8_d{d}", 50), {}), "chans")
        if diff[3] == 0:
            continue
        ax.annotate(
            f"n={diff[3]}",
            (d, 100 * diff[0]),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
        xs.append(d)
        means.append(100 * diff[0])
        low = 0 if diff[3] < 2 else 100 * (diff[0] - diff[1])
        high = 0 if diff[3] < 2 else 100 * (diff[2] - diff[0])
        errors[0].append(low)
        errors[1].append(high)
    ax.errorbar(xs, means, yerr=errors, fmt="-o", capsize=4)
    ax.axhline(0, color="gray", lw=1)
    ax.axhline(
        -100 * verdicts.CLOSE,
        color="gray",
        ls=":",
        lw=1,
        label="-2 points (rule)",
    )
    ax.set_xticks([1, 3, 9])
    ax.set_xlabel("depth multiplier d (k * k = 9)")
    ax.set_ylabel("Chans - Full (points), 95% CI if n > 1", fontsize=9)
    ax.set_title("Separable ResNet-8, CIFAR-10, 50 epochs", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(runs_root: str, output: str) -> str:
    runs = read_runs(runs_root)
    done = sum(len(s) for cell in runs.values() for s in cell.values())
    rows, left_out = table(runs)
    lines = [
        "# The long study: CIFAR-10 at 50 epochs, same-machine pairs",
        "",
        f"{done} of {len(long_study.runs())} training runs finished "
        f"(report drawn {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} "
        "UTC by `python -m experiments.long_report`). What was planned: "
        "`experiments/long_study.py`; where each run was made: "
        "[`../provenance.md`](../provenance.md).",
        "",
        *rows,
        "",
        "Left out (a pair counts only when both runs share CPU model, CPU "
        "flags, oneDNN setting, library versions and commit): "
        + ("; ".join(left_out) if left_out else "none")
        + ".",
        "",
        "## Verdicts",
        "",
        *judged(runs),
        "",
        "## What changed with training (10 to 50 epochs)",
        "",
        *training_length(runs),
        *long_robustness.training_length(output),
        "",
        *long_reach.section(runs_root),
        *long_robustness.sections(output),
    ]
    os.makedirs(output, exist_ok=True)
    if any(("resnet8_d" + str(d), 50) in runs for d in (1, 3)):
        d_sweep_plot(runs, os.path.join(output, "d_sweep.png"))
        lines += ["![Chans - Full against d](d_sweep.png)", ""]
    path = os.path.join(output, "README.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def copy_robustness(source: str, target: str) -> list[str]:
    """Copies each finished robustness study (a `robustness.json`) under
    `source` into `target`; returns the studies copied."""
    return _copy_marked(
        source, target, "robustness.json", long_robustness.FILES
    )


def _copy_marked(source, target, marker, names) -> list[str]:
    """Copies the files `names` of each folder of `source` that holds
    `marker` into a folder of the same name in `target`, replacing that
    folder whole where its `marker` differs."""
    copied = []
    for folder in sorted(os.listdir(source)):
        if not os.path.exists(os.path.join(source, folder, marker)):
            continue
        kept = os.path.join(target, folder, marker)
        if os.path.exists(kept) and not filecmp.cmp(
            kept, os.path.join(source, folder, marker), shallow=False
        ):
            # Another run of that name (retrained on another machine):
            # what was measured on the old one (reach.json) goes with it.
            shutil.rmtree(os.path.join(target, folder))
        os.makedirs(os.path.join(target, folder), exist_ok=True)
        for name in names:
            path = os.path.join(source, folder, name)
            if os.path.exists(path):
                shutil.copy2(path, os.path.join(target, folder, name))
        copied.append(folder)
    return copied


def copy_finished(source: str, target: str) -> list[str]:
    """Copies the JSON of every finished run (one with `metrics.json`)
    under `source` into `target`; returns the runs copied."""
    return _copy_marked(
        source,
        target,
        "metrics.json",
        ("config.json", "history.json", "metrics.json"),
    )


def main(argv):
    if flags.FLAGS.copy_from:
        copy_finished(flags.FLAGS.copy_from, flags.FLAGS.runs)
        copy_robustness(
            flags.FLAGS.copy_from,
            os.path.join(flags.FLAGS.output, long_robustness.FOLDER),
        )
    if flags.FLAGS.exports:
        long_reach.measure(flags.FLAGS.exports, flags.FLAGS.runs)
    print(report(flags.FLAGS.runs, flags.FLAGS.output))


if __name__ == "__main__":
    # Defined here, not on import: tests import this module beside others.
    flags.DEFINE_string("runs", None, "The study's runs/ directory.")
    flags.DEFINE_string("output", "docs/results/long", "Report directory.")
    flags.DEFINE_string(
        "copy_from", None, "Copy finished runs' JSON from here first."
    )
    flags.DEFINE_string(
        "exports",
        None,
        "The campaign's exports: measure each finished Full run's model "
        "(reach.json) where not measured yet.",
    )
    flags.mark_flag_as_required("runs")
    app.run(main)
