r"""The `long` study: CIFAR-10 at 50 epochs, same-machine pairs, controls.

All 50,000 / 10,000 images, float32, per-image crop and flip, the ResNet
recipe of `configs/resnet_cifar10.py` and the ConvMixer recipe of
`configs/convmixer_cifar10.py`. The runs compared with one another form a
group that one machine trains from start to end (`experiments.campaign`
retrains a group split by a machine change), so that every pair shares
CPU, flags, oneDNN setting, library versions and commit. A seed has a
group per model: its d = 9 ResNets at both lengths (the three modes, and
the change from 10 to 50 epochs), its d = 1 pair, its d = 3 pair, its
standard-convolution run and its ConvMixer pair, each small enough for a
machine to finish. Comparisons across groups (whether Chans - Full widens
from d = 9 to d = 1) keep only the seeds whose runs share a machine, as
the long report checks for every pair.

- Separable ResNet-8 (d = 9), Full / Chans / Space, seeds 0-4, 50 epochs;
  the same at 10 epochs (the training-length axis).
- Controls: a standard-convolution ResNet-8 of the same widths (seeds 0-4,
  50 epochs); separable ResNet-8 with d = 1 and d = 3, Full and Chans
  (seeds 0-2, 50 epochs). Prediction under test: Chans - Full widens as d
  falls below k * k = 9 (below 9 a Chans layer no longer spans every 3x3
  convolution).
- ConvMixer width 128, depth 4, kernel 8, patch 4, Full and Chans, seeds
  0-2, 50 epochs.

Robustness of the separable ResNet-8s (d = 9), a second queue run in the
same work directory once their training is done (`robustness_runs`): per
seed, Full, Chans and Space attacked together, at 50 and at 10 epochs
(robustness against training length): FGSM on all 10,000 test images at
0.5, 1, 2, 4, 8 /255; PGD-20 with random start at 0.5, 1, 2 /255 on the
first 2,000, whose images are also scored on the other two models
(transfer). For seed 0 at 50 epochs, PGD-100 with 5 restarts on the first
500, beside PGD-20 on the same 500, tells whether PGD-20 has converged.
The long report merges the seeds of each setting into one report and
verdict (`robustness.merge`).

Write the queues, then run them (see `experiments/campaign.py`):

    W=$HOME/campaigns/long
    python -m experiments.long_study --output=$W/queue.jsonl
    python -m experiments.long_study --robustness --output=$W/robustness.jsonl

`--groups=seed1_d9,seed1_d1` writes only those groups (the part of the
study one machine is to train; its two workers share that queue).
"""

from __future__ import annotations

import json
import re

from absl import app, flags

MODES = {"none": "full", "spatial": "chans", "channel": "space"}
SEEDS = (0, 1, 2, 3, 4)
CONTROL_SEEDS = (0, 1, 2)
RESNET = "configs/resnet_cifar10.py"
CONVMIXER = "configs/convmixer_cifar10.py"
# resnet8_d9_chans_e50_s0, resnet8_standard_full_e50_s1, convmixer_...
RUN_NAME = re.compile(
    r"^(?P<model>.+)_(?P<mode>full|chans|space)_e(?P<epochs>\d+)_s(?P<seed>\d+)$"
)
CONVMIXER_SHAPE = {
    "model.name": "convmixer_128_4",
    "model.dim": 128,
    "model.depth": 4,
    "model.kernel_size": 8,
    "model.patch_size": 4,
}


def _entry(name, seed, config, overrides, model=None):
    """A queued `classify` run; its group is the seed, or the seed and
    `model` where a seed's runs split into groups."""
    args = [f"--config={config}"] + [
        f"--config.{key}={value}"
        for key, value in {**overrides, "seed": seed, "run_name": name}.items()
    ]
    return {
        "name": name,
        "group": f"seed{seed}" + (f"_{model}" if model else ""),
        "app": "classify",
        "args": args,
    }


def runs() -> list[dict]:
    """The study's training runs, seed-major: a seed's runs back to back."""
    queue = []
    for seed in SEEDS:
        for epochs in (50, 10):
            for freeze, mode in MODES.items():
                queue.append(
                    _entry(
                        f"resnet8_d9_{mode}_e{epochs}_s{seed}",
                        seed,
                        RESNET,
                        {
                            "model.name": "resnet8",
                            "freeze": freeze,
                            "epochs": epochs,
                        },
                        "d9",
                    )
                )
        queue.append(
            _entry(
                f"resnet8_standard_full_e50_s{seed}",
                seed,
                RESNET,
                {
                    "model.name": "resnet8",
                    "model.conv": "standard",
                    "epochs": 50,
                },
                "standard",
            )
        )
        if seed not in CONTROL_SEEDS:
            continue
        for d in (1, 3):
            for freeze in ("none", "spatial"):
                queue.append(
                    _entry(
                        f"resnet8_d{d}_{MODES[freeze]}_e50_s{seed}",
                        seed,
                        RESNET,
                        {
                            "model.name": "resnet8",
                            "model.depth_multiplier": d,
                            "freeze": freeze,
                            "epochs": 50,
                        },
                        f"d{d}",
                    )
                )
        for freeze in ("none", "spatial"):
            queue.append(
                _entry(
                    f"convmixer_128_4_{MODES[freeze]}_e50_s{seed}",
                    seed,
                    CONVMIXER,
                    {**CONVMIXER_SHAPE, "freeze": freeze, "epochs": 50},
                    "convmixer",
                )
            )
    return queue


FGSM_EPS = "0.5/255,1/255,2/255,4/255,8/255"
PGD_EPS = "0.5/255,1/255,2/255"


def _attack(name, seed, models, settings):
    exports = [f"{{workdir}}/exports/{m}" for m in models]
    return {
        "name": name,
        "group": f"robustness_seed{seed}",
        "app": "robustness",
        "args": [f"--model={e}" for e in exports]
        + ["--dataset=cifar10", f"--fgsm_eps={FGSM_EPS}", f"--title={name}"]
        + [f"--{key}={value}" for key, value in settings.items()],
        "needs": exports,
    }


def robustness_runs() -> list[dict]:
    """The attacks on the trained separable ResNet-8s, seed-major."""
    queue = []
    for seed in SEEDS:
        for epochs in (50, 10):
            models = [
                f"resnet8_d9_{mode}_e{epochs}_s{seed}"
                for mode in MODES.values()
            ]
            queue.append(
                _attack(
                    f"robustness_resnet8_d9_e{epochs}_s{seed}",
                    seed,
                    models,
                    {"pgd_eps": PGD_EPS, "pgd_steps": 20, "pgd_examples": 2000},
                )
            )
            if seed == 0 and epochs == 50:
                # Is PGD-20 converged? PGD-100 with 5 restarts, and PGD-20
                # again, on the same first 500 images.
                for steps, restarts in ((100, 5), (20, 1)):
                    queue.append(
                        _attack(
                            f"robustness_resnet8_d9_e50_pgd{steps}x"
                            f"{restarts}_s0",
                            seed,
                            models,
                            {
                                "pgd_eps": PGD_EPS,
                                "pgd_steps": steps,
                                "pgd_restarts": restarts,
                                "pgd_examples": 500,
                                "max_examples": 500,
                            },
                        )
                    )
    return queue


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    entries = robustness_runs() if flags.FLAGS.robustness else runs()
    if flags.FLAGS.groups:
        unknown = set(flags.FLAGS.groups) - {e["group"] for e in entries}
        if unknown:
            raise app.UsageError(f"--groups: no such group {sorted(unknown)}")
        entries = [e for e in entries if e["group"] in flags.FLAGS.groups]
    with open(flags.FLAGS.output, "x") as f:
        for entry in entries:
            f.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    # Defined here, not on import: tests import this module beside others.
    flags.DEFINE_string("output", None, "Queue file to write (JSON lines).")
    flags.DEFINE_bool(
        "robustness", False, "Write the attacks' queue instead of training's."
    )
    flags.DEFINE_list(
        "groups", [], "Write only these groups (e.g. a queue for one core)."
    )
    flags.mark_flag_as_required("output")
    app.run(main)
