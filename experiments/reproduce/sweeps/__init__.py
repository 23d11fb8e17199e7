"""The runs of every figure at every scale, as library tasks.

Each builder returns the `Run`s of one figure: a training task (`classify`
or `unshuffle`: an experiment config of `configs/` and typed overrides of its
fields) or an evaluation task (`fgsm`, `robustness`, `compare`: the keyword
arguments of its library function), with what its report needs to place
each result (`meta`) and the runs whose exports it reads (`after`).
`running.execute` carries a run out.

Modules, by kind of figure as `figures/`: `common` (scales, seeds, data,
`Run`), `classification` (Figs. 2-7), `robustness` (Figs. 8, 9) and
`unshuffling` (Figs. 10-13, `unshuffle_length`).
"""

from .classification import (
    convmixer_runs,
    filter_runs,
    resnet_runs,
)
from .common import (
    CIFAR_SEEDS,
    FREEZES,
    LABELS,
    SCALES,
    SEEDS,
    TASKS,
    TRAINING_TASKS,
    Run,
)
from .robustness import fig8_runs, fig9_runs
from .unshuffling import (
    CIFAR_LENGTH_EPOCHS,
    CIFAR_LENGTH_POINT,
    CIFAR_UNSHUFFLE_CENTRE,
    UNSHUFFLE_CENTRE,
    fig12_runs,
    grid_runs,
    unshuffle_length_runs,
    unshuffle_point,
)

__all__ = [
    "CIFAR_LENGTH_EPOCHS",
    "CIFAR_LENGTH_POINT",
    "CIFAR_SEEDS",
    "CIFAR_UNSHUFFLE_CENTRE",
    "FREEZES",
    "LABELS",
    "SCALES",
    "SEEDS",
    "TASKS",
    "TRAINING_TASKS",
    "UNSHUFFLE_CENTRE",
    "Run",
    "convmixer_runs",
    "fig12_runs",
    "fig8_runs",
    "fig9_runs",
    "filter_runs",
    "grid_runs",
    "resnet_runs",
    "unshuffle_length_runs",
    "unshuffle_point",
]
