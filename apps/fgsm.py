r"""Adversarial accuracy against epsilon for exported models (Figs. 8, 9).

    python -m apps.fgsm --model=saved_models/full --model=saved_models/chans \
        --dataset=cifar10 --eps=0,0.5/255,1/255,2/255,4/255,8/255 \
        --attack=fgsm,pgd --output_dir=runs/fgsm

Each `--model` is an export directory (its SavedModel; gradients flow through
the loaded function), a SavedModel or a `.keras` file. Prints a table and
writes `results.json`, `results.csv` and `accuracy_vs_eps.png` into
`--output_dir` (refusing to replace earlier results without `--overwrite`).
Epsilon is on pixels scaled to [0, 1]; `a/b` fractions are accepted.
"""

import csv
import os

from absl import app, flags

from apps import common

_MODELS = flags.DEFINE_multi_string(
    "model", None, "Model(s) to attack.", required=True
)
_LABELS = flags.DEFINE_multi_string(
    "label",
    None,
    "Legend label per model (default: the model's directory name).",
)
_DATA = common.define_data_flags()
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "test"], "Split.")
_EPS = flags.DEFINE_string(
    "eps",
    "0,0.5/255,1/255,2/255,4/255,8/255",
    "Comma-separated epsilons on [0, 1] pixels.",
)
_ATTACKS = flags.DEFINE_list("attack", ["fgsm"], "fgsm and/or pgd.")
_PGD_STEPS = flags.DEFINE_integer("pgd_steps", 10, "PGD steps.")
_BATCH = flags.DEFINE_integer("batch_size", 256, "Batch size.")
_MAX = flags.DEFINE_integer("max_examples", None, "Attack only the first N.")
_OUT = flags.DEFINE_string("output_dir", "runs/fgsm", "Where results go.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace results already in --output_dir."
)
_SEED = flags.DEFINE_integer("seed", 0, "PGD random start seed.")

OUTPUTS = ("results.json", "results.csv", "accuracy_vs_eps.png")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from spatialmix_keras import attacks, data, files, plots

    try:
        eps_values = attacks.parse_eps(_EPS.value)
        for attack in _ATTACKS.value:
            if attack not in attacks.ATTACKS:
                raise ValueError(
                    "Invalid value for argument `attack`. Expected "
                    f"{attacks.ATTACKS}. Received: attack={attack!r}"
                )
        labels = _LABELS.value or [
            os.path.basename(os.path.normpath(p)) for p in _MODELS.value
        ]
        if len(labels) != len(_MODELS.value):
            raise ValueError("Give one --label per --model, or none.")
        existing = [
            f for f in OUTPUTS if os.path.exists(os.path.join(_OUT.value, f))
        ]
        if existing and not _OVERWRITE.value:
            raise FileExistsError(
                f"{_OUT.value} already holds {existing}; pass --overwrite or "
                "choose another --output_dir."
            )
        loaded, dataset = common.load_models_and_data(
            _MODELS.value,
            _DATA.dataset.value,
            _SPLIT.value,
            _BATCH.value,
            _DATA.data_dir.value,
            _DATA.small.value,
            _DATA.tfds_data_dir.value,
        )
        if _MAX.value:
            dataset = dataset.unbatch().take(_MAX.value).batch(_BATCH.value)
        os.makedirs(_OUT.value, exist_ok=True)
        curves = []
        for label, model in zip(labels, loaded, strict=True):
            for attack in _ATTACKS.value:
                result = attacks.eps_sweep(
                    model,
                    dataset,
                    eps_values,
                    attack=attack,
                    pgd_steps=_PGD_STEPS.value,
                    seed=_SEED.value,
                    progress_label=f"{attack} {label}",
                )
                curves.append({"label": label, "model": model.path, **result})
    except (ValueError, OSError, data.DataNotFoundError) as error:
        common.fail("fgsm", error)

    header = "".join(f"{255 * e:>9.2f}" for e in eps_values)
    # As wide as the longest label: names end in the freeze mode and seed.
    width = max([len("model"), *(len(c["label"]) for c in curves)])
    print(f"{'model':{width}s} {'attack':6s}{header}   (eps x 1/255)")
    for c in curves:
        row = "".join(f"{a:9.4f}" for a in c["accuracy"])
        print(f"{c['label']:{width}s} {c['attack']:6s}{row}")
        for warning in c["warnings"]:
            print(f"  WARNING ({c['label']}, {c['attack']}): {warning}")

    def write_csv(path):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "attack", "eps", "accuracy"])
            for c in curves:
                for eps, acc in zip(c["eps"], c["accuracy"], strict=True):
                    writer.writerow([c["label"], c["attack"], eps, acc])

    files.write_json(
        os.path.join(_OUT.value, "results.json"),
        {
            "dataset": _DATA.dataset.value,
            "split": _SPLIT.value,
            "curves": curves,
        },
    )
    files.atomic_write(os.path.join(_OUT.value, "results.csv"), write_csv)
    files.atomic_write(
        os.path.join(_OUT.value, "accuracy_vs_eps.png"),
        lambda path: plots.plot_eps_sweep(
            curves, path, f"{_DATA.dataset.value} ({_SPLIT.value})"
        ),
    )
    print(f"Wrote {', '.join(OUTPUTS)} to {_OUT.value}")


def run():
    """Console entry point (`spatialmix-fgsm`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
