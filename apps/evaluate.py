r"""Evaluates exported models: accuracy and loss on a test split.

    python -m apps.evaluate --model=saved_models/<run> --dataset=cifar10
    python -m apps.evaluate --model=run.keras --dataset=mnist --json=out.json

`--model` takes an export directory (its SavedModel is used), a SavedModel
directory or a `.keras` file; repeat it to evaluate several. `.keras` files
load in Keras' safe mode; a SavedModel is a program: load only trusted ones.
"""

import json
import os

from absl import flags

from . import common

_MODELS = flags.DEFINE_multi_string(
    "model", None, "Model(s) to evaluate.", required=True
)
_DATA = common.define_data_flags()
_TRUST = common.define_trust_flag()
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "test"], "Split.")
_BATCH = flags.DEFINE_integer("batch_size", 256, "Batch size.", lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_MAX = flags.DEFINE_integer(
    "max_examples",
    None,
    "Score only the first N images of the split.",
    lower_bound=1,
)
flags.register_validator(
    "json",
    lambda path: path is None or os.path.isdir(os.path.dirname(path) or "."),
    message="the directory of --json does not exist (checked before the "
    "models are scored)",
)
flags.adopt_module_key_flags(common)  # --help lists the data flags too


def main(argv):
    common.load_tensorflow_quietly()
    from spatialmix_keras import datasets, export

    results = []
    try:
        loaded, dataset = export.load_models_and_data(
            _MODELS.value,
            split=_SPLIT.value,
            batch_size=_BATCH.value,
            max_examples=_MAX.value,
            trust_saved_model=_TRUST.value,
            **_DATA.values(),
        )
        for model in loaded:
            metrics = export.evaluate_loaded(
                model, dataset, progress_label=f"evaluate {model.path}"
            )
            results.append(
                {
                    "model": model.path,
                    "kind": model.kind,
                    "dataset": _DATA.dataset.value,
                    "split": _SPLIT.value,
                    **metrics,
                }
            )
    except (ValueError, OSError, datasets.DataNotFoundError) as error:
        common.fail("evaluate", error)
    print(f"{'model':60s} {'accuracy':>9s} {'loss':>8s} {'n':>6s}")
    for r in results:
        print(
            f"{r['model']:60s} {r['accuracy']:9.4f} {r['loss']:8.4f} "
            f"{r['examples']:6d}"
        )
    print(json.dumps(results))
    if _JSON.value:
        from spatialmix_keras import files

        files.write_json(_JSON.value, results)


def run():
    """Console entry point (`spatialmix-evaluate`)."""
    common.run(main, __doc__)


if __name__ == "__main__":
    run()
