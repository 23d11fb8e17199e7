r"""The robustness study of Figs. 8 and 9: white-box, transfer and
training-length attacks, and the verdict on the paper's claim.

    python -m apps.robustness \
        --model=saved_models/full_s0 --weights_dir=runs/full_s0/weights \
        --model=saved_models/chans_s0 --weights_dir=runs/chans_s0/weights \
        --dataset=cifar10 --output_dir=runs/robustness

Each `--model` is an export directory (its `model.keras` and `config.json`:
the label, "Full" / "Chans" / "Space", and the seed come from there, or from
`--label`); each `--weights_dir` (optional; one per model, in order) is the
run's `weights/` directory of `config.save_weights_epochs`, attacked for the
robustness-against-training-length study. Attacks: FGSM at `--fgsm_eps` on
all test images; PGD (random start, `--pgd_steps`) at `--pgd_eps` on the
first `--pgd_examples`, and their images scored on every other model
(transfer). Writes `robustness.json`, `robustness.md` (tables, transfer
matrices, masking flags, the verdict), `robustness.png` and
`training_length.png` into `--output_dir`.

A stopped study resumes: each model's finished share (its attacks, its
images scored on the others, its kept epochs) is kept in
`<output_dir>/parts/` and read back when the same command runs again, as long
as the models, their weights and the settings are the same.

On the 2-core dev CPU (one core) a separable ResNet-8 of the cifar scale
takes about 18 minutes: 7 for FGSM on 10,000 images and PGD-20 on 2,000 with
the transfer scoring, 11 for the weights after epochs 1 and 3.
"""

import os

from absl import app, flags

from apps import common
from spatialmix_keras.reproduce import robustness_report

_MODELS = flags.DEFINE_multi_string(
    "model", None, "Export directories to attack.", required=True
)
_WEIGHTS = flags.DEFINE_multi_string(
    "weights_dir",
    None,
    "Each model's run weights/ directory (kept epochs), in --model order.",
)
_LABELS = flags.DEFINE_multi_string(
    "label", None, "Label per model (default: Full / Chans / Space)."
)
_REFERENCE = flags.DEFINE_string(
    "reference", None, "Label the others are compared with (default: Full)."
)
_CLAIM = flags.DEFINE_enum(
    "claim",
    "auto",
    ["auto", "chans", "smoothing", "none"],
    "Verdict to give: Chans more robust than Full (chans), smoothing adds "
    "robustness at no clean cost (smoothing); auto: chans when both labels "
    "are there.",
)
_DATA = common.define_data_flags()
_MAX = flags.DEFINE_integer("max_examples", None, "Only the first N images.")
_FGSM_EPS = flags.DEFINE_string(
    "fgsm_eps", "0.5/255,1/255,2/255,4/255,8/255", "FGSM epsilons."
)
_PGD_EPS = flags.DEFINE_string("pgd_eps", "2/255,8/255", "PGD epsilons.")
_PGD_STEPS = flags.DEFINE_integer("pgd_steps", 20, "PGD steps.")
_PGD_EXAMPLES = flags.DEFINE_integer(
    "pgd_examples", 2000, "PGD, transfer and checkpoints on the first N."
)
_BATCH = flags.DEFINE_integer("batch_size", 250, "Batch size.")
_SEED = flags.DEFINE_integer("seed", 0, "PGD random start seed.")
_TITLE = flags.DEFINE_string(
    "title", None, "Plot title (default: the dataset's test set)."
)
_OUT = flags.DEFINE_string("output_dir", "runs/robustness", "Output dir.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace results already in --output_dir."
)


def _check_flags():
    weights = _WEIGHTS.value or []
    if weights and len(weights) != len(_MODELS.value):
        raise ValueError(
            "Invalid value for argument `weights_dir`: give one per --model "
            f"({len(_MODELS.value)}), or none. Received {len(weights)}."
        )
    labels = _LABELS.value or []
    if labels and len(labels) != len(_MODELS.value):
        raise ValueError(
            "Invalid value for argument `label`: give one per --model "
            f"({len(_MODELS.value)}), or none. Received {len(labels)}."
        )
    for name, flag in (
        ("pgd_steps", _PGD_STEPS),
        ("pgd_examples", _PGD_EXAMPLES),
        ("batch_size", _BATCH),
    ):
        if flag.value < 1:
            raise ValueError(
                f"Invalid value for argument `{name}`. Expected an integer "
                f">= 1. Received: {name}={flag.value}"
            )
    existing = [
        f
        for f in robustness_report.OUTPUTS
        if os.path.exists(os.path.join(_OUT.value, f))
    ]
    if existing and not _OVERWRITE.value:
        raise FileExistsError(
            f"{_OUT.value} already holds {existing}; pass --overwrite or "
            "choose another --output_dir."
        )
    return weights or [None] * len(_MODELS.value), labels or [None] * len(
        _MODELS.value
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from spatialmix_keras import attacks, data, robustness

    try:
        weights, labels = _check_flags()
        fgsm_eps = attacks.parse_eps(_FGSM_EPS.value)
        pgd_eps = attacks.parse_eps(_PGD_EPS.value)
        subjects = [
            robustness.load_subject(m, label, w)
            for m, label, w in zip(_MODELS.value, labels, weights, strict=True)
        ]
        info = data.dataset_info(_DATA.dataset.value)
        for s in subjects:
            if tuple(s.model.input_shape[1:]) != tuple(info.image_shape):
                raise ValueError(
                    f"Model {s.name} takes images of shape "
                    f"{tuple(s.model.input_shape[1:])}, but "
                    f"{_DATA.dataset.value}'s are {tuple(info.image_shape)}."
                )
        images, targets = data.load_arrays(
            _DATA.dataset.value,
            "test",
            _DATA.data_dir.value,
            _DATA.small.value,
            _DATA.tfds_data_dir.value,
        )
        if _MAX.value:
            images, targets = images[: _MAX.value], targets[: _MAX.value]
        reference = _REFERENCE.value or (
            "Full"
            if "Full" in {s.label for s in subjects}
            else subjects[0].label
        )
        results = robustness.study(
            subjects,
            images.astype("float32") / 255.0,
            targets,
            fgsm_eps=fgsm_eps,
            pgd_eps=pgd_eps,
            pgd_steps=_PGD_STEPS.value,
            pgd_examples=_PGD_EXAMPLES.value,
            batch_size=_BATCH.value,
            seed=_SEED.value,
            parts_dir=os.path.join(_OUT.value, "parts"),
        )
        results["dataset"] = _DATA.dataset.value
        verdict = robustness_report.claim_verdict(
            results, _CLAIM.value, reference
        )
        robustness_report.write(
            results,
            verdict,
            _OUT.value,
            _TITLE.value or f"{_DATA.dataset.value} test set",
        )
    except (ValueError, OSError, data.DataNotFoundError) as error:
        common.fail("robustness", error)
    if verdict:
        print(f"Verdict: {verdict[0]}: {verdict[1]}. {verdict[2]}.")
    print(f"Wrote {', '.join(robustness_report.OUTPUTS)} to {_OUT.value}")


def run():
    """Console entry point (`spatialmix-robustness`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
