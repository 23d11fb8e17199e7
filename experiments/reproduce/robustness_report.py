"""A robustness study of exported models and its written report: which
claim it decides and how, in Markdown, JSON and plots.

`run` (what `apps.robustness` and the sweeps of Figs. 8 and 9 call) loads
the models and the test images and runs `robustness.study`, which measures;
`claim_verdict` applies the pre-set rule of `verdicts.py`; `write` puts
`robustness.json`, `robustness.md`, `robustness.png` and, when some model
was attacked at kept epochs, `training_length.png` into a directory.
"""

from __future__ import annotations

import datetime
import os

from spatialmix_keras import files, machine, plots, vocabulary

from . import verdicts

# The study's attacks: FGSM at 0.5-8/255 on every image, PGD at 2 and 8/255.
OUTPUTS = (
    "robustness.json",
    "robustness.md",
    "robustness.png",
    "training_length.png",
)


def _restarts(settings) -> str:
    restarts = settings.get("pgd_restarts", 1)
    return f", worst of {restarts} restarts" if restarts > 1 else ""


def claim_verdict(results: dict, claim: str, reference: str):
    """`(claim in words, verdict, reason)` of a study, or None.

    Args:
        results: what `robustness.study` returned.
        claim: `"chans"` (Chans more robust than Full), `"smoothing"`
            (smoothing adds robustness at no clean cost, against
            `reference`), `"none"`, or `"auto"`: chans when models labelled
            Full and Chans are both there.
        reference: the label the smoothed models are compared with.
    """
    present = plots.study_labels(results)
    if claim == "auto":
        claim = "chans" if {"Full", "Chans"} <= set(present) else "none"
    if claim == "chans":
        if not {"Full", "Chans"} <= set(present):
            raise ValueError(
                "Invalid value for argument `claim`: 'chans' needs models "
                f"labelled Full and Chans. Received labels: {present}"
            )
        verdict, reason = verdicts.more_robust(results, "Chans", "Full")
        return "Chans is more robust than Full", verdict, reason
    if claim == "smoothing":
        verdict, reason = verdicts.smoothing(results, reference)
        return (
            f"smoothing adds robustness without costing clean accuracy "
            f"(against {reference})",
            verdict,
            reason,
        )
    return None


def markdown(results: dict, verdict, title: str) -> str:
    """The study's report: the accuracy table, the verdict, the transfer
    matrices, the masking flags, the training-length table and the
    attacks' sanity warnings."""
    lines = [
        *_summary(results, verdict, title),
        *_transfer_sections(results),
        *_masking_section(results),
        *_length_section(results),
        *_sanity_section(results),
        f"Written on {machine.cpu_features().get('cpu_model')} by code "
        f"{machine.code_version()}, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    return "\n".join(lines)


def _summary(results, verdict, title):
    s = results["settings"]
    lines = [
        f"# Robustness study: {title}",
        "",
        f"{len(results['subjects'])} models, {s['examples']} test images. "
        f"FGSM on all of them; PGD-{s['pgd_steps']} (random start, step "
        f"{s['pgd_step_size']}{_restarts(s)}), transfer and checkpoint "
        "attacks on the first "
        f"{s['pgd_examples']}. Inference mode, loss on logits, float32. "
        "Epsilons in 1/255 of the [0, 1] pixel range. Accuracy in percent: "
        "mean [95% t interval] over seeds.",
        "",
        *_merged_note(results),
        *verdicts.table(results),
        "",
    ]
    if verdict:
        claim, outcome, reason = verdict
        lines += [f"**Verdict: {claim}: {outcome}.** {reason}.", ""]
        lines += ["Rules: `experiments/reproduce/verdicts.py`.", ""]
    return lines


def _transfer_sections(results):
    lines = []
    for attack in ("pgd", "fgsm"):
        for i, eps in enumerate(results["settings"]["pgd_eps"]):
            lines += [
                f"## Transfer, {attack.upper()} at {255 * eps:g}/255",
                "",
                "Accuracy (%) of each target (row) on images crafted on each"
                " source (column); bold: white box.",
                "",
                *verdicts.transfer_table(results, attack, i),
                "",
            ]
    return lines


def _masking_section(results):
    masked = [
        f"- {e['name']}: {m}" for e in results["subjects"] for m in e["masking"]
    ]
    return [
        "## Gradient masking",
        "",
        *(
            masked
            or [
                "None flagged: every white-box attack was at least as "
                "strong as every transferred one (within noise)."
            ]
        ),
        "",
    ]


_MOVEMENT_NOTE = (
    "Filter movement: ||D - D0|| / ||D0|| over all depthwise kernels (0 for "
    "frozen ones). "
)


def _share_note(s) -> str:
    return (
        f"High-frequency share: energy above {s['high_frequency_cutoff']} "
        "cycles/pixel of the zero-padded spectrum (white noise: ~0.80)."
    )


def _kept_epochs_attacked(results) -> bool:
    """Whether some model was attacked at a kept epoch besides its last."""
    return any(len(e["epochs"]) > 1 for e in results["subjects"])


def _final_filters_section(results):
    """When no kept epoch was attacked: the high-frequency share of each
    model's trained filters (their movement needs the kept epoch 0)."""
    s = results["settings"]
    return [
        "## The trained filters",
        "",
        "No weights kept during training were attacked.",
        "",
        "| model | high-freq. share |",
        "| --- | --- |",
        *(
            f"| {e['name']} | {_length_row(e['name'], e['epochs'][0], s)[-1]} |"
            for e in results["subjects"]
        ),
        "",
        _share_note(s),
        "",
    ]


def _length_section(results):
    """One row per model and saved epoch: accuracies under attack, how far
    the depthwise filters moved and their high-frequency share."""
    if not _kept_epochs_attacked(results):
        return _final_filters_section(results)
    s = results["settings"]
    lines = [
        "## Robustness against training length",
        "",
        "| model | epoch | clean | FGSM "
        + " | FGSM ".join(f"{255 * e:g}" for e in s["fgsm_eps"])
        + " | PGD "
        + " | PGD ".join(f"{255 * e:g}" for e in s["pgd_eps"])
        + " | filter movement | high-freq. share |",
        "|" + " --- |" * (5 + len(s["fgsm_eps"]) + len(s["pgd_eps"])),
    ]
    for e in results["subjects"]:
        for p in e["epochs"]:
            lines.append("| " + " | ".join(_length_row(e["name"], p, s)) + " |")
    return [*lines, "", _MOVEMENT_NOTE + _share_note(s), ""]


def _length_row(name, p, s):
    def cell(value):
        return "" if value is None else f"{100 * value:.1f}"

    def ratio(value):
        return "" if value is None else f"{value:.3f}"

    epoch = (
        "final"
        if p["epoch"] is None
        else f"{p['epoch']}{' (final)' if p['final'] else ''}"
    )
    fgsm = p.get("fgsm") or [None] * len(s["fgsm_eps"])
    pgd = p.get("pgd") or [None] * len(s["pgd_eps"])
    return [
        name,
        epoch,
        cell(p.get("clean_accuracy")),
        *map(cell, fgsm),
        *map(cell, pgd),
        ratio(p["filter_movement"]),
        ratio(p["high_frequency_share"]),
    ]


def _sanity_section(results):
    warnings = [
        f"- {e['name']}: {w}"
        for e in results["subjects"]
        for w in e["warnings"]
    ]
    return [
        "## Sanity checks of the attacks",
        "",
        *(warnings or ["No warnings."]),
        "",
    ]


def _merged_note(results):
    if results.get("studies", 1) == 1:
        return []
    return [
        f"Merged from {results['studies']} studies run apart (one per seed, "
        "each while its models existed): images were transferred only "
        'between models of one study; "-" marks pairs never measured.',
        "",
    ]


def write(results: dict, verdict, out: str, title: str) -> None:
    """Writes `OUTPUTS` into `out` (each file atomically;
    `training_length.png` only when some model was attacked at a kept
    epoch, else an earlier one is removed); `verdict` (from
    `claim_verdict`, or None) is added to the JSON."""
    if verdict:
        results["verdict"] = dict(
            zip(("claim", "verdict", "reason"), verdict, strict=True)
        )
    os.makedirs(out, exist_ok=True)
    files.write_json(os.path.join(out, "robustness.json"), results)
    files.write_text(
        os.path.join(out, "robustness.md"), markdown(results, verdict, title)
    )
    plots.plot_robustness(results, os.path.join(out, "robustness.png"), title)
    length = os.path.join(out, "training_length.png")
    if _kept_epochs_attacked(results):
        plots.plot_training_length(results, length, title)
    elif os.path.exists(length):  # an earlier study's, replaced
        os.remove(length)


def _default_reference(labels):
    """What the others are compared with unless told: Full, else the first
    model's label."""
    return "Full" if "Full" in labels else labels[0]


def _per_model(name, values, count):
    values = list(values or [])
    if values and len(values) != count:
        raise ValueError(
            f"Invalid value for argument `{name}`: give one per model "
            f"({count}), or none. Received {len(values)}."
        )
    return values or [None] * count


def run(
    models,
    weights_dirs=None,
    labels=None,
    *,
    dataset="cifar10",
    reference=None,
    claim="auto",
    max_examples=None,
    fgsm_eps=vocabulary.FGSM_EPS,
    pgd_eps=vocabulary.PGD_EPS,
    pgd_steps=20,
    pgd_examples=2000,
    pgd_restarts=1,
    batch_size=250,
    seed=0,
    title=None,
    output_dir="runs/robustness",
    overwrite=False,
    data_dir=None,
    small=False,
    tfds_data_dir=None,
):
    """The robustness study of exported models, written into `output_dir`.

    Args:
        models: export directories (their `model.keras` and `config.json`,
            which give the label and seed unless `labels` does).
        weights_dirs: each model's run `weights/` directory (the epochs kept
            by `config.save_weights_epochs`), in `models` order, or None.
        reference: the label the others are compared with (default Full,
            else the first model's).
        claim: `"chans"`, `"smoothing"`, `"none"` or `"auto"` (see
            `claim_verdict`).
        pgd_examples: PGD, transfer and the kept epochs on the first N
            images; FGSM runs on all of them (or the first `max_examples`).
        pgd_restarts: PGD runs from independent starts per image (an image
            is robust only if it survives all).
        output_dir: where `OUTPUTS` go; finished subjects are kept in its
            `parts/`, so a stopped study resumes. Earlier results there are
            replaced only with `overwrite`.

    Returns:
        `(results, verdict)`.
    """
    from spatialmix_keras import attacks, datasets, robustness

    weights_dirs = _per_model("weights_dir", weights_dirs, len(models))
    labels = _per_model("label", labels, len(models))
    for name, value in (
        ("pgd_steps", pgd_steps),
        ("pgd_examples", pgd_examples),
        ("pgd_restarts", pgd_restarts),
        ("batch_size", batch_size),
    ):
        if value < 1:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected an integer "
                f">= 1. Received: {name}={value}"
            )
    files.refuse_to_replace(output_dir, OUTPUTS, overwrite)
    fgsm_eps = attacks.parse_eps(fgsm_eps)
    pgd_eps = attacks.parse_eps(pgd_eps)
    subjects = [
        robustness.load_subject(m, label, w)
        for m, label, w in zip(models, labels, weights_dirs, strict=True)
    ]
    info = datasets.dataset_info(dataset)
    for s in subjects:
        if tuple(s.model.input_shape[1:]) != tuple(info.image_shape):
            raise ValueError(
                f"Model {s.name} takes images of shape "
                f"{tuple(s.model.input_shape[1:])}, but "
                f"{dataset}'s are {tuple(info.image_shape)}."
            )
    images, targets = datasets.load_arrays(
        dataset, "test", data_dir, small, tfds_data_dir
    )
    if max_examples:
        images, targets = images[:max_examples], targets[:max_examples]
    reference = reference or _default_reference([s.label for s in subjects])
    results = robustness.study(
        subjects,
        images.astype("float32") / 255.0,
        targets,
        fgsm_eps=fgsm_eps,
        pgd_eps=pgd_eps,
        pgd_steps=pgd_steps,
        pgd_examples=pgd_examples,
        pgd_restarts=pgd_restarts,
        batch_size=batch_size,
        seed=seed,
        parts_dir=os.path.join(output_dir, "parts"),
    )
    results["dataset"] = dataset
    verdict = claim_verdict(results, claim, reference)
    write(results, verdict, output_dir, title or f"{dataset} test set")
    if verdict:
        print(f"Verdict: {verdict[0]}: {verdict[1]}. {verdict[2]}.")
    print(f"Wrote {', '.join(OUTPUTS)} to {output_dir}", flush=True)
    return results, verdict


def merge(
    study_dirs,
    *,
    claim="auto",
    reference=None,
    title=None,
    output_dir="runs/robustness",
    overwrite=True,
):
    """Studies run apart with the same settings (e.g. one per seed, each
    while its models existed, as the cifar sweeps of Figs. 8 and 9 do),
    written as one into `output_dir`, verdict included; returns the path of
    the merged `robustness.json`.

    Args:
        study_dirs: directories holding a study's `robustness.json`.
        claim, reference: as `run` takes them.
        overwrite: replace an earlier merge in `output_dir`.
    """
    from spatialmix_keras import robustness

    studies = []
    for directory in study_dirs:
        path = os.path.join(directory, "robustness.json")
        if not os.path.isfile(path):
            raise ValueError(
                "Invalid value for argument `study_dirs`: expected "
                f"directories holding robustness.json; {path} does not "
                f"exist. Received: {directory!r}"
            )
        studies.append(
            files.read_json(path, dict, keys=("settings", "subjects"))
        )
    if os.path.exists(output_dir) and any(
        os.path.samefile(directory, output_dir) for directory in study_dirs
    ):
        raise ValueError(
            "Invalid value for argument `output_dir`: it is one of the "
            f"studies to merge. Received: output_dir={output_dir!r}"
        )
    files.refuse_to_replace(output_dir, OUTPUTS, overwrite)
    results = robustness.merge(studies)
    reference = reference or _default_reference(
        [e["label"] for e in results["subjects"]]
    )
    verdict = claim_verdict(results, claim, reference)
    write(results, verdict, output_dir, title or "merged studies")
    print(f"Merged {len(studies)} studies into {output_dir}", flush=True)
    return os.path.join(output_dir, "robustness.json")
