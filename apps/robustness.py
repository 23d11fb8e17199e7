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
matrices, masking flags, the verdict), `robustness.png` and, with
`--weights_dir`, `training_length.png` into `--output_dir`.

Studies run apart with the same settings (one per seed, as the cifar sweeps
of Figs. 8 and 9 run them, or copies kept from lost work directories) merge
into one report and verdict, transfers staying within each study:

    python -m apps.robustness --merge=runs/robustness_s0 \
        --merge=runs/robustness_s1 --claim=smoothing \
        --reference=sigma=none --output_dir=runs/robustness

A stopped study resumes: each model's finished share (its attacks, its
images scored on the others, its kept epochs) is kept in
`<output_dir>/parts/` and read back when the same command runs again, as long
as the models, their weights and the settings are the same.

On the 2-core dev CPU (one core) a separable ResNet-8 of the cifar scale
takes about 18 minutes: 7 for FGSM on 10,000 images and PGD-20 on 2,000 with
the transfer scoring, 11 for the weights after epochs 1 and 3.
"""

from absl import flags

from spatialmix_keras import vocabulary

from . import common

_MODELS = flags.DEFINE_multi_string(
    "model", None, "Export directories to attack."
)
_MERGE = flags.DEFINE_multi_string(
    "merge",
    None,
    "Instead of --model: directories of finished studies (robustness.json) "
    "to merge into one report.",
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
_MAX = flags.DEFINE_integer(
    "max_examples", None, "Only the first N images.", lower_bound=1
)
_FGSM_EPS = flags.DEFINE_string(
    "fgsm_eps", vocabulary.FGSM_EPS, "FGSM epsilons."
)
_PGD_EPS = flags.DEFINE_string("pgd_eps", vocabulary.PGD_EPS, "PGD epsilons.")
_PGD_STEPS = flags.DEFINE_integer("pgd_steps", 20, "PGD steps.")
_PGD_RESTARTS = flags.DEFINE_integer(
    "pgd_restarts",
    1,
    "PGD runs from independent random starts per image; an image counts "
    "as robust only if it survives all of them.",
)
_PGD_EXAMPLES = flags.DEFINE_integer(
    "pgd_examples", 2000, "PGD, transfer and checkpoints on the first N."
)
_BATCH = flags.DEFINE_integer("batch_size", 250, "Batch size.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "PGD random start seed.")
_TITLE = flags.DEFINE_string(
    "title", None, "Plot title (default: the dataset's test set)."
)
_OUT = flags.DEFINE_string("output_dir", "runs/robustness", "Output dir.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace results already in --output_dir."
)


def main(argv):
    common.load_tensorflow_quietly()
    robustness_report = common.experiment("reproduce.robustness_report")
    from spatialmix_keras import datasets

    try:
        if bool(_MODELS.value) == bool(_MERGE.value):
            raise ValueError(
                "Invalid value for arguments `model` and `merge`: give one "
                "of them (models to study, or finished studies to merge). "
                f"Received: model={_MODELS.value}, merge={_MERGE.value}"
            )
        if _MERGE.value:
            robustness_report.merge(
                _MERGE.value,
                claim=_CLAIM.value,
                reference=_REFERENCE.value,
                title=_TITLE.value,
                output_dir=_OUT.value,
                overwrite=_OVERWRITE.value,
            )
            return
        robustness_report.run(
            _MODELS.value,
            _WEIGHTS.value,
            _LABELS.value,
            reference=_REFERENCE.value,
            claim=_CLAIM.value,
            max_examples=_MAX.value,
            fgsm_eps=_FGSM_EPS.value,
            pgd_eps=_PGD_EPS.value,
            pgd_steps=_PGD_STEPS.value,
            pgd_restarts=_PGD_RESTARTS.value,
            pgd_examples=_PGD_EXAMPLES.value,
            batch_size=_BATCH.value,
            seed=_SEED.value,
            title=_TITLE.value,
            output_dir=_OUT.value,
            overwrite=_OVERWRITE.value,
            **_DATA.values(),
        )
    except (ValueError, OSError, datasets.DataNotFoundError) as error:
        common.fail("robustness", error)


def run():
    """Console entry point (`spatialmix-robustness`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
