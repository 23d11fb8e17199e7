"""Learning-rate schedules built from the training config."""

from __future__ import annotations

import keras
from keras import ops

from spatialmix_keras.vocabulary import SCHEDULES


@keras.saving.register_keras_serializable(package="spatialmix_keras")
class PiecewiseLinear(keras.optimizers.schedules.LearningRateSchedule):
    """Linear interpolation between `(step, value)` knots, flat outside.

    ConvMixer's one-cycle schedule is `PiecewiseLinear([0, 0.4 T, 0.8 T, T],
    [0, lr, lr / 20, 0])` (Trockman & Kolter's CIFAR-10 recipe).

    Example:

    >>> float(PiecewiseLinear([0, 10], [0.0, 1.0])(5))
    0.5
    """

    def __init__(self, steps, values):
        if len(steps) != len(values) or len(steps) < 2:
            raise ValueError(
                "Arguments `steps` and `values` need the same length >= 2. "
                f"Received: steps={steps}, values={values}"
            )
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError(
                f"Argument `steps` must increase. Received: steps={steps}"
            )
        self.steps = [float(s) for s in steps]
        self.values = [float(v) for v in values]

    def __call__(self, step):
        step = ops.cast(step, "float32")
        value = ops.convert_to_tensor(self.values[0], "float32")
        pieces = zip(
            self.steps,
            self.steps[1:],
            self.values,
            self.values[1:],
            strict=False,
        )
        for s0, s1, v0, v1 in pieces:
            t = ops.clip((step - s0) / (s1 - s0), 0.0, 1.0)
            value = ops.where(step >= s0, v0 + t * (v1 - v0), value)
        return value

    def get_config(self):
        return {"steps": self.steps, "values": self.values}


def make_schedule(
    schedule, learning_rate: float, total_steps: int, steps_per_epoch: int
):
    """A Keras learning-rate schedule from `config.schedule`.

    `schedule.name` is one of `SCHEDULES`; `step` multiplies the rate by
    `schedule.factor` at each fraction of training in `schedule.boundaries`;
    `cosine` decays to 0 after `schedule.warmup_epochs` of linear warm-up;
    `onecycle` is ConvMixer's triangle (peak at 40% of training, lr/20 at
    80%, 0 at the end).
    """
    name = schedule.name
    warmup = int(schedule.get("warmup_epochs", 0) * steps_per_epoch)
    if name == "constant":
        # A schedule, not a float: Keras stores a float rate as an optimizer
        # variable, which a resumed checkpoint would silently restore.
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [1], [learning_rate, learning_rate]
        )
    if name == "step":
        boundaries = [max(1, int(f * total_steps)) for f in schedule.boundaries]
        values = [
            learning_rate * schedule.factor**i
            for i in range(len(boundaries) + 1)
        ]
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            boundaries, values
        )
    if name == "cosine":
        warmup = min(warmup, total_steps - 1)
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else learning_rate,
            max(1, total_steps - warmup),
            warmup_target=learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if name == "onecycle":
        return PiecewiseLinear(
            [0, 0.4 * total_steps, 0.8 * total_steps, max(total_steps, 1)],
            [0.0, learning_rate, learning_rate / 20, 0.0],
        )
    raise ValueError(
        "Invalid value for argument `schedule.name`. Expected one of "
        f"{SCHEDULES}. Received: schedule.name={name!r}"
    )
