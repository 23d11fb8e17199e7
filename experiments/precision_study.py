r"""Does mixed_bfloat16 hold float32's accuracy? ResNet-8 Chans, 10 epochs.

The separable ResNet-8 (d = 9) with frozen spatial filters, the recipe of
`configs/resnet_cifar10.py` on all 50,000 / 10,000 CIFAR-10 images, trained
under `float32` and under `mixed_bfloat16` from the same seed (same
initial weights, data order and crops), seeds 0-2; a seed's two runs are
one group, so one machine trains both (`experiments.campaign`).

The report gives, per seed, both accuracies and the paired difference
bf16 - float32, the mean difference with its 95% t interval over the
seeds whose two runs share machine, flags, versions and commit
(`stats.pair_by_machine`; others are listed and left out), and the
images/s of each precision (median epoch, first epoch excluded: only
an indication where the core was shared). It states an interval; it
judges nothing.

    W=$HOME/campaigns/precision
    python -m experiments.precision_study --queue=$W/queue.jsonl
    python -m experiments.campaign --queue=$W/queue.jsonl --workdir=$W
    python -m experiments.precision_study --runs=$W/runs \
        --output=docs/results/precision
"""

from __future__ import annotations

import json
import os
import statistics

from absl import app, flags

from experiments.long_study import RESNET, _entry
from spatialmix_keras import stats

SEEDS = (0, 1, 2)
PRECISIONS = {"f32": "none", "bf16": "mixed_bfloat16"}  # config values


def run_name(precision: str, seed: int) -> str:
    return f"resnet8_d9_chans_e10_{precision}_s{seed}"


def runs() -> list[dict]:
    """The study's runs, seed-major: a seed's two precisions back to back."""
    return [
        _entry(
            run_name(short, seed),
            seed,
            RESNET,
            {
                "model.name": "resnet8",
                "freeze": "spatial",
                "epochs": 10,
                "mixed_precision": policy,
            },
        )
        for seed in SEEDS
        for short, policy in PRECISIONS.items()
    ]


def _read(root, precision):
    """`{seed: ((accuracy, images/s), metrics)}` of the finished runs."""
    found = {}
    for seed in SEEDS:
        run = os.path.join(root, run_name(precision, seed))
        if not os.path.exists(os.path.join(run, "metrics.json")):
            continue
        with open(os.path.join(run, "metrics.json")) as f:
            metrics = json.load(f)
        with open(os.path.join(run, "history.json")) as f:
            speeds = [epoch["images_per_s"] for epoch in json.load(f)[1:]]
        speed = statistics.median(speeds) if speeds else float("nan")
        found[seed] = ((metrics["final_test_accuracy"], speed), metrics)
    return found


def report(runs_root: str) -> str:
    """The study's report (Markdown) from the runs under `runs_root`."""
    f32, bf16 = _read(runs_root, "f32"), _read(runs_root, "bf16")
    kept_bf16, kept_f32, unpaired = stats.pair_by_machine(bf16, f32)
    lines = [
        "# mixed_bfloat16 against float32: ResNet-8 Chans, 10 epochs",
        "",
        "Written by `python -m experiments.precision_study --runs=...`; "
        "the runs' JSON is beside this file.",
        "",
        "| seed | float32 | bf16 | bf16 - float32 | images/s f32, bf16 | "
        "machine, commit |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for seed in sorted(kept_f32):
        (acc32, ips32), (acc16, ips16) = kept_f32[seed], kept_bf16[seed]
        metrics = f32[seed][1]
        lines.append(
            f"| {seed} | {100 * acc32:.2f} | {100 * acc16:.2f} | "
            f"{100 * (acc16 - acc32):+.2f} | {ips32:.0f}, {ips16:.0f} | "
            f"{metrics['cpu_model']}, {metrics['code_version']} |"
        )
    accuracy = lambda runs: {s: v[0] for s, v in runs.items()}  # noqa: E731
    mean, low, high, n = stats.paired_difference(
        accuracy(kept_bf16), accuracy(kept_f32)
    )
    speedups = [kept_bf16[s][1] / kept_f32[s][1] for s in kept_f32]
    lines += [
        "",
        f"Mean difference bf16 - float32 over {n} paired seeds: "
        f"{stats.format_ci(mean, low, high)} points (95% t interval).",
        "bf16 / float32 training speed (median epoch; the runs shared "
        "their core, so this is no benchmark: `benchmarks.precision_step` "
        "times the step): "
        + (
            ", ".join(f"{s:.2f}x" for s in speedups)
            if speedups
            else "no pair yet"
        )
        + ".",
    ]
    if unpaired:
        lines += ["", "Left out (not the same machine):", ""]
        lines += [f"- {line}" for line in unpaired]
    missing = [
        run_name(p, s)
        for s in SEEDS
        for p, runs in (("f32", f32), ("bf16", bf16))
        if s not in runs
    ]
    if missing:
        lines += ["", f"Not finished: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if flags.FLAGS.queue:
        with open(flags.FLAGS.queue, "x") as f:
            for entry in runs():
                f.write(json.dumps(entry) + "\n")
    if flags.FLAGS.runs:
        text = report(flags.FLAGS.runs)
        os.makedirs(flags.FLAGS.output, exist_ok=True)
        with open(os.path.join(flags.FLAGS.output, "README.md"), "w") as f:
            f.write(text)
        print(text)


if __name__ == "__main__":
    # Defined here, not on import: tests import this module beside others.
    flags.DEFINE_string("queue", None, "Queue file to write (JSON lines).")
    flags.DEFINE_string("runs", None, "Report on the runs under here.")
    flags.DEFINE_string("output", "docs/results/precision", "Report dir.")
    app.run(main)
