"""Adversarial accuracy against epsilon for exported models, and its files.

`run` attacks every model with every attack at every epsilon, prints the
table and writes `OUTPUTS` into its output directory; `apps.fgsm` and the
sweeps of Figs. 8 and 9 call it.
"""

from __future__ import annotations

import csv
import os

from spatialmix_keras import attacks as attacks_lib
from spatialmix_keras import export, files, plots, vocabulary

OUTPUTS = ("results.json", "results.csv", "accuracy_vs_eps.png")


def _check(eps, attack_names, models, labels, output_dir, overwrite):
    eps_values = attacks_lib.parse_eps(eps) if isinstance(eps, str) else eps
    for attack in attack_names:
        if attack not in attacks_lib.ATTACKS:
            raise ValueError(
                "Invalid value for argument `attack`. Expected "
                f"{attacks_lib.ATTACKS}. Received: attack={attack!r}"
            )
    labels = labels or [os.path.basename(os.path.normpath(p)) for p in models]
    if len(labels) != len(models):
        raise ValueError("Give one label per model, or none.")
    files.refuse_to_replace(output_dir, OUTPUTS, overwrite)
    return list(eps_values), list(labels)


def table(curves, eps_values) -> list[str]:
    """The printed table: one row of accuracies per model and attack, as
    wide as the longest label (names end in the freeze mode and seed)."""
    header = "".join(f"{255 * e:>9.2f}" for e in eps_values)
    width = max([len("model"), *(len(c["label"]) for c in curves)])
    lines = [f"{'model':{width}s} {'attack':6s}{header}   (eps x 1/255)"]
    for c in curves:
        row = "".join(f"{a:9.4f}" for a in c["accuracy"])
        lines.append(f"{c['label']:{width}s} {c['attack']:6s}{row}")
        for warning in c["warnings"]:
            lines.append(f"  WARNING ({c['label']}, {c['attack']}): {warning}")
    return lines


def run(
    models,
    labels=None,
    dataset="cifar10",
    split="test",
    eps=vocabulary.FGSM_SWEEP_EPS,
    attacks=("fgsm",),
    pgd_steps=10,
    batch_size=256,
    max_examples=None,
    output_dir="runs/fgsm",
    overwrite=False,
    seed=0,
    data_dir=None,
    small=False,
    tfds_data_dir=None,
    trust_saved_model=False,
) -> list[dict]:
    """Sweeps epsilon for every exported model and attack; writes `OUTPUTS`.

    Args:
        models: export directories, `.keras` files, or SavedModels (with
            `trust_saved_model`: loading one runs its graph).
        labels: legend label per model (default: the directory names).
        eps: epsilons on [0, 1] pixels, a list or a string such as
            `"0,0.5/255,1/255"`.
        attacks: names in `attacks.ATTACKS` (`"fgsm"`, `"pgd"`).
        output_dir: where `OUTPUTS` go; earlier results there are replaced
            only with `overwrite`.

    Returns:
        One curve per model and attack (`attacks.eps_sweep`'s result with
        `label` and `model`).
    """
    attack_names = list(attacks)
    eps_values, labels = _check(
        eps, attack_names, models, labels, output_dir, overwrite
    )
    loaded, pipeline = export.load_models_and_data(
        models,
        dataset,
        split,
        batch_size,
        data_dir,
        small,
        tfds_data_dir,
        max_examples=max_examples,
        trust_saved_model=trust_saved_model,
    )
    os.makedirs(output_dir, exist_ok=True)
    curves = []
    for label, model in zip(labels, loaded, strict=True):
        for attack in attack_names:
            result = attacks_lib.eps_sweep(
                model,
                pipeline,
                eps_values,
                attack=attack,
                pgd_steps=pgd_steps,
                seed=seed,
                progress_label=f"{attack} {label}",
            )
            curves.append({"label": label, "model": model.path, **result})
    print("\n".join(table(curves, eps_values)), flush=True)
    write(curves, dataset, split, output_dir)
    print(f"Wrote {', '.join(OUTPUTS)} to {output_dir}", flush=True)
    return curves


def write(curves, dataset, split, output_dir) -> None:
    """`results.json`, `results.csv` and `accuracy_vs_eps.png`, each written
    atomically."""

    def write_csv(path):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "attack", "eps", "accuracy"])
            for c in curves:
                for e, acc in zip(c["eps"], c["accuracy"], strict=True):
                    writer.writerow([c["label"], c["attack"], e, acc])

    files.write_json(
        os.path.join(output_dir, "results.json"),
        {"dataset": dataset, "split": split, "curves": curves},
    )
    files.atomic_write(os.path.join(output_dir, "results.csv"), write_csv)
    plots.plot_eps_sweep(
        curves,
        os.path.join(output_dir, "accuracy_vs_eps.png"),
        f"{dataset} ({split})",
    )
