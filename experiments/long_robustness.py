"""The long study's robustness studies in its report: each seed's study as
run, and the studies of one attack setting merged across seeds."""

from __future__ import annotations

import json
import os
import re

from experiments import long_study
from experiments.reproduce import robustness_report, verdicts
from spatialmix_keras import stats

FOLDER = "robustness"  # the studies' folder inside the report's
MERGED = "robustness_merged"  # their merges across seeds
FILES = ("robustness.json", "robustness.md", "robustness.png")


def _finished(root: str) -> list[str]:
    """The studies under `root` that finished (hold `robustness.json`)."""
    return sorted(
        n
        for n in (os.listdir(root) if os.path.isdir(root) else ())
        if os.path.exists(os.path.join(root, n, "robustness.json"))
    )


def sections(output: str) -> list[str]:
    """Sections on the finished robustness studies under
    `<output>/robustness/`: the studies of one setting run on two or more
    seeds merged into `<output>/robustness_merged/<setting>/` (one report,
    one verdict over the paired seeds), then each study as run, each with
    its verdict as its report words it."""
    root = os.path.join(output, FOLDER)
    names = _finished(root)
    if not names:
        return []
    lines = []
    merged = merge(root, os.path.join(output, MERGED))
    if merged:
        planned = _by_setting(r["name"] for r in long_study.robustness_runs())
        lines += ["## Robustness, seeds merged", ""]
        lines += [
            _study_line(os.path.join(output, MERGED), MERGED, n)
            + _so_far(len(merged[n]), len(planned.get(n, ())))
            for n in merged
        ]
        lines.append("")
    lines += [
        "## Robustness, seed by seed",
        "",
        f"{len(names)} of {len(long_study.robustness_runs())} attack studies "
        "finished; one seed is an anecdote: the studies of one setting merge "
        "above once two seeds have finished.",
        "",
    ]
    lines += [_study_line(root, FOLDER, n) for n in names]
    return [*lines, ""]


def _by_setting(names) -> dict[str, list[int]]:
    """`{setting: seeds}` of the studies `<setting>_s<seed>` among `names`."""
    by_setting = {}
    for name in names:
        match = re.fullmatch(r"(.+)_s(\d+)", name)
        if match:
            by_setting.setdefault(match[1], []).append(int(match[2]))
    return by_setting


def _so_far(done: int, wanted: int) -> str:
    """What a merged verdict on `done` of `wanted` planned seeds is worth
    while seeds are missing."""
    if done >= wanted:
        return ""
    return (
        f". So far: {done} of the {wanted} planned seeds; every planned "
        f"study runs whatever this says, and the verdict is the one at "
        f"n={wanted}."
    )


def _study_line(root: str, folder: str, name: str) -> str:
    with open(os.path.join(root, name, "robustness.json")) as f:
        verdict = json.load(f).get("verdict")
    said = (
        f": {verdict['claim']}: **{verdict['verdict']}** ({verdict['reason']})"
        if verdict
        else ""
    )
    return f"- [{name}]({folder}/{name}/robustness.md){said}"


def merge(root: str, target: str) -> dict[str, list[int]]:
    """Merges the studies under `root` named `<setting>_s<seed>` into
    `target/<setting>/` for each setting with two or more seeds (replacing
    an earlier merge); returns `{setting merged: its seeds}`."""
    merged = {}
    for setting, seeds in sorted(_by_setting(_finished(root)).items()):
        if len(seeds) < 2:
            continue
        robustness_report.merge(
            [os.path.join(root, f"{setting}_s{s}") for s in sorted(seeds)],
            title=f"{setting.removeprefix('robustness_')}, seeds "
            + ", ".join(map(str, sorted(seeds))),
            output_dir=os.path.join(target, setting),
        )
        merged[setting] = seeds
    return merged


def training_length(output: str) -> list[str]:
    """How Chans - Full robust scores changed from 10 to 50 epochs
    (descriptive, no verdict): each at both lengths over the seeds studied,
    and the change paired by seed, from the per-seed studies under
    `<output>/robustness/`."""
    root = os.path.join(output, FOLDER)
    gaps = {10: {}, 50: {}}  # epochs -> seed -> {"fgsm", "pgd"} gaps
    for name in _finished(root):
        match = re.fullmatch(r"robustness_resnet8_d9_e(10|50)_s(\d+)", name)
        if not match:
            continue
        with open(os.path.join(root, name, "robustness.json")) as f:
            subjects = json.load(f)["subjects"]
        score = {e["label"]: verdicts.scores(e) for e in subjects}
        gaps[int(match[1])][int(match[2])] = {
            m: score["Chans"][m] - score["Full"][m] for m in ("fgsm", "pgd")
        }
    lines = []
    for measure, words in (("fgsm", "FGSM"), ("pgd", "PGD-20")):
        at = {
            e: stats.format_ci(*stats.mean_ci([g[measure] for g in s.values()]))
            + f" points (n={len(s)})"
            if s
            else "no study (n=0)"
            for e, s in gaps.items()
        }
        change = stats.paired_difference(
            {k: g[measure] for k, g in gaps[50].items()},
            {k: g[measure] for k, g in gaps[10].items()},
        )
        changed = (
            f"{stats.format_ci(*change[:3])} points (n={change[3]})"
            if change[3]
            else "no seed studied at both lengths yet"
        )
        lines.append(
            f"- Chans - Full {words} robust score: {at[10]} at 10 epochs, "
            f"{at[50]} at 50; change: {changed}."
        )
    return lines if gaps[10] or gaps[50] else []
