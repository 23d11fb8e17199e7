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

from absl import flags

from spatialmix_keras import vocabulary

from . import common

_MODELS = flags.DEFINE_multi_string(
    "model", None, "Model(s) to attack.", required=True
)
_LABELS = flags.DEFINE_multi_string(
    "label",
    None,
    "Legend label per model (default: the model's directory name).",
)
_DATA = common.define_data_flags()
_TRUST = common.define_trust_flag()
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "test"], "Split.")
_EPS = flags.DEFINE_string(
    "eps",
    vocabulary.FGSM_SWEEP_EPS,
    "Comma-separated epsilons on [0, 1] pixels.",
)
_ATTACKS = flags.DEFINE_list("attack", ["fgsm"], "fgsm and/or pgd.")
_PGD_STEPS = flags.DEFINE_integer("pgd_steps", 10, "PGD steps.", lower_bound=1)
_BATCH = flags.DEFINE_integer("batch_size", 256, "Batch size.", lower_bound=1)
_MAX = flags.DEFINE_integer(
    "max_examples", None, "Attack only the first N.", lower_bound=1
)
_OUT = flags.DEFINE_string("output_dir", "runs/fgsm", "Where results go.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace results already in --output_dir."
)
_SEED = flags.DEFINE_integer("seed", 0, "PGD random start seed.")


def main(argv):
    common.load_tensorflow_quietly()
    fgsm_report = common.experiment("reproduce.fgsm_report")
    from spatialmix_keras import datasets

    try:
        fgsm_report.run(
            _MODELS.value,
            _LABELS.value,
            split=_SPLIT.value,
            eps=_EPS.value,
            attacks=_ATTACKS.value,
            pgd_steps=_PGD_STEPS.value,
            batch_size=_BATCH.value,
            max_examples=_MAX.value,
            output_dir=_OUT.value,
            overwrite=_OVERWRITE.value,
            seed=_SEED.value,
            trust_saved_model=_TRUST.value,
            **_DATA.values(),
        )
    except (ValueError, OSError, datasets.DataNotFoundError) as error:
        common.fail("fgsm", error)


def run():
    """Console entry point (`spatialmix-fgsm`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
