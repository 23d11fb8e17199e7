"""FGSM and PGD (L-infinity) attacks and epsilon sweeps, with sanity checks.

Conventions: models take float pixels in [0, 1] and return logits; epsilon is
measured on that [0, 1] scale (`8/255` is eight grey levels); adversarial
images are clipped to [0, 1]; models run in inference mode (`training=False`),
so BatchNorm uses its running statistics and never updates them.

A robustness number is only worth its evaluation, so `eps_sweep` checks, on
every sweep, for the classic ways robustness gets overstated, and warns
loudly (absl `logging.warning`, and in the result's `warnings`):

- the model returns probabilities rather than logits (softmax outputs make
  the cross-entropy gradient vanish: gradient masking);
- a large share of input gradients is exactly zero;
- accuracy rises with epsilon;
- PGD is weaker than FGSM at the same epsilon;
- the model runs in training mode (an image's logits depend on its batch),
  or its outputs (BatchNorm statistics) changed during the attack.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from spatialmix_keras import progress

ATTACKS = ("fgsm", "pgd")
# Tolerances of the sanity checks.
ZERO_GRADIENT_SHARE = 0.1
ACCURACY_RISE = 0.005


def check_eps(eps) -> float:
    """Validates one epsilon on the [0, 1] pixel scale."""
    ok = (
        not isinstance(eps, bool)
        and isinstance(eps, (int, float))
        and math.isfinite(eps)
        and 0.0 <= eps <= 1.0
    )
    if not ok:
        raise ValueError(
            "Invalid value for argument `eps`. Expected a number in [0, 1] "
            f"(pixels scaled to [0, 1]). Received: eps={eps!r}"
        )
    return float(eps)


def parse_eps(text: str) -> list[float]:
    """`"0,1/255,0.01"` -> floats; each must lie in [0, 1].

    >>> [round(255 * e, 6) for e in parse_eps("0, 0.5/255, 8/255")]
    [0.0, 0.5, 8.0]
    """
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            if "/" in item:
                numerator, denominator = item.split("/")
                value = float(numerator) / float(denominator)
            else:
                value = float(item)
        except (ValueError, ZeroDivisionError) as error:
            raise ValueError(
                "Invalid value for argument `eps`. Expected numbers or a/b "
                f"fractions. Received: eps={item!r}"
            ) from error
        values.append(check_eps(value))
    return values


def logits_fn(model) -> Callable:
    """A function images -> logits, in inference mode."""
    if isinstance(model, keras.Model):
        return lambda x: model(x, training=False)
    if callable(model):
        return model
    raise ValueError(
        f"Invalid value for argument `model`. Expected a Keras model or a "
        f"callable. Received: {type(model).__name__}"
    )


def _loss_and_gradient(fn, images, labels):
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = tf.cast(fn(images), tf.float32)
        loss = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
    # A model that blocks gradients yields zeros (and a masking warning in
    # eps_sweep), not a crash.
    gradient = tape.gradient(
        loss, images, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )
    return gradient, logits


class Attacker:
    """Compiled FGSM / PGD for one model: traces once, attacks many batches.

    Args:
        model: a Keras model or a callable images -> logits.

    Example:

    >>> model = keras.Sequential(
    ...     [keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...      keras.layers.Dense(3)])
    >>> x = np.full((2, 4, 4, 1), 0.5, "float32")
    >>> adv = Attacker(model).fgsm(x, np.array([0, 1]), eps=0.1)
    >>> float(np.max(np.abs(adv - x))) <= 0.1 + 1e-7
    True
    """

    def __init__(self, model):
        self.logits = tf.function(logits_fn(model))
        fn = self.logits
        self.gradient = tf.function(lambda x, y: _loss_and_gradient(fn, x, y))

    def predict(self, images):
        return self.logits(tf.convert_to_tensor(images, tf.float32))

    def fgsm(self, images, labels, eps: float, targeted: bool = False):
        """See the module function `fgsm`."""
        eps = check_eps(eps)
        images = tf.convert_to_tensor(images, tf.float32)
        gradient, _ = self.gradient(images, tf.convert_to_tensor(labels))
        step = -eps if targeted else eps
        return tf.clip_by_value(images + step * tf.sign(gradient), 0.0, 1.0)

    def pgd(
        self,
        images,
        labels,
        eps: float,
        steps: int = 10,
        step_size: float | None = None,
        random_start: bool = True,
        seed: int = 0,
        targeted: bool = False,
        restarts: int = 1,
    ):
        """Projected gradient descent (Madry et al. 2018), L-infinity.

        Args:
            images, labels, eps, targeted: as for `fgsm`.
            steps: gradient-sign steps, >= 1.
            step_size: per step; default `2.5 * eps / steps`.
            random_start: start from a uniform point of the eps-ball.
            seed: of the random start; restart `r` uses `seed + r`.
            restarts: runs from independent random starts, >= 1; each
                image keeps the first run's result that succeeds (for an
                untargeted attack, is misclassified), else the last one.

        Returns:
            Adversarial images, within `eps` of `images` and inside [0, 1].
        """
        eps = check_eps(eps)
        for name, value in (("steps", steps), ("restarts", restarts)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise ValueError(
                    f"Invalid value for argument `{name}`. Expected an "
                    f"integer >= 1. Received: {name}={value!r}"
                )
        step_size = 2.5 * eps / steps if step_size is None else step_size
        images = tf.convert_to_tensor(images, tf.float32)
        labels = tf.convert_to_tensor(labels)
        best = None
        for restart in range(restarts):
            x = self._pgd_run(
                images, labels, eps, steps, step_size, random_start,
                seed + restart, targeted,
            )  # fmt: skip
            if best is None:
                best = x
                continue
            predictions = tf.argmax(self.predict(best), -1, tf.int32)
            hit = tf.equal(predictions, tf.cast(labels, tf.int32))
            succeeded = hit if targeted else tf.logical_not(hit)
            keep = tf.reshape(succeeded, [-1] + [1] * (images.shape.rank - 1))
            best = tf.where(keep, best, x)
        return best

    def _pgd_run(
        self, images, labels, eps, steps, step_size, random_start, seed,
        targeted,
    ):  # fmt: skip
        lower = tf.maximum(images - eps, 0.0)
        upper = tf.minimum(images + eps, 1.0)
        x = images
        if random_start and eps > 0:
            x = x + tf.random.stateless_uniform(
                tf.shape(images), (seed, 0), -eps, eps
            )
            x = tf.clip_by_value(x, lower, upper)
        sign = -1.0 if targeted else 1.0
        for _ in range(steps):
            gradient, _ = self.gradient(x, labels)
            x = tf.clip_by_value(
                x + sign * step_size * tf.sign(gradient), lower, upper
            )
        return x


def input_gradient(model, images, labels):
    """Gradient of the per-example cross-entropy (on logits) w.r.t. pixels."""
    images = tf.convert_to_tensor(images, tf.float32)
    gradient, _ = _loss_and_gradient(
        logits_fn(model), images, tf.convert_to_tensor(labels)
    )
    return gradient


def fgsm(model, images, labels, eps: float, targeted: bool = False):
    """Fast Gradient Sign Method (Goodfellow et al. 2014), L-infinity.

    `x_adv = clip(x + eps * sign(d loss / d x), 0, 1)`, with the
    cross-entropy of the model's logits (inference mode).

    Args:
        model: a Keras model or a callable images -> logits.
        images: float pixels in [0, 1], `(N, H, W, C)`.
        labels: int class ids `(N,)`: the true classes (untargeted), or the
            target classes when `targeted=True`.
        eps: step on the [0, 1] pixel scale.
        targeted: step *down* the loss of `labels` instead of up.

    Returns:
        Adversarial images, within `eps` of `images` and inside [0, 1].
    """
    return Attacker(model).fgsm(images, labels, eps, targeted)


def pgd(model, images, labels, eps: float, **options):
    """Projected gradient descent (Madry et al. 2018), L-infinity.

    `Attacker(model).pgd(images, labels, eps, **options)`; see there for
    the options (`steps`, `step_size`, `random_start`, `seed`,
    `targeted`).

    Returns:
        Adversarial images, within `eps` of `images` and inside [0, 1].
    """
    return Attacker(model).pgd(images, labels, eps, **options)


def _looks_like_probabilities(logits: np.ndarray) -> bool:
    return bool(
        np.all(logits >= 0)
        and np.all(logits <= 1)
        and np.allclose(logits.sum(axis=-1), 1.0, atol=1e-3)
    )


def _batch_variables(model):
    if isinstance(model, keras.Model):
        return [
            keras.ops.convert_to_numpy(v).copy()
            for v in model.non_trainable_variables
        ]
    return None


def eps_sweep(
    model,
    dataset,
    eps_values: Sequence[float],
    attack: str = "fgsm",
    pgd_steps: int = 10,
    pgd_step_size: float | None = None,
    seed: int = 0,
    compare_fgsm: bool = True,
    pgd_restarts: int = 1,
    progress_label: str | None = None,
    on_adversarial: Callable | None = None,
) -> dict:
    """Clean and adversarial accuracy per epsilon over a whole split.

    Args:
        model: a Keras model or a callable images -> logits (e.g.
            `export.LoadedModel`).
        dataset: iterable of `(images, labels)` batches, float [0, 1] pixels
            and int labels (e.g. `data.input_pipeline(..., training=False)`).
        eps_values: epsilons on the [0, 1] scale; 0 gives clean accuracy.
        attack: `"fgsm"` or `"pgd"`.
        pgd_steps, pgd_step_size, pgd_restarts: PGD settings (an image
            counts as robust only if it survives every restart).
        seed: PGD random start (of the first restart).
        compare_fgsm: with `attack="pgd"`, also run FGSM and warn if PGD is
            weaker at some epsilon.
        progress_label: show progress (bar or log lines) under this label.
        on_adversarial: called as `on_adversarial(attack, eps, adversarial,
            labels)` for every batch of adversarial images (eps > 0), also
            for the FGSM images of a PGD sweep with `compare_fgsm`: e.g. to
            score them on other models (transfer attacks).

    Returns:
        `{"attack", "eps", "accuracy", "clean_accuracy", "examples",
        "zero_gradient_share", "warnings"}` (and `"fgsm_accuracy"` when PGD
        was compared).
    """
    if attack not in ATTACKS:
        raise ValueError(
            f"Invalid value for argument `attack`. Expected one of {ATTACKS}."
            f" Received: attack={attack!r}"
        )
    eps_values = [check_eps(e) for e in eps_values]
    if not eps_values:
        raise ValueError("Argument `eps_values` is empty.")
    attacker = Attacker(model)
    tally = _Tally(len(eps_values))
    variables_before = _batch_variables(model)

    def adversarial_of(images, labels, gradient, eps):
        if eps == 0:
            return images
        if attack == "fgsm":
            return _fgsm_step(images, gradient, eps)
        return attacker.pgd(
            images, labels, eps, pgd_steps, pgd_step_size, seed=seed,
            restarts=pgd_restarts,
        )  # fmt: skip

    compare = attack == "pgd" and compare_fgsm
    for images, labels in progress.over_batches(dataset, progress_label):
        images = tf.convert_to_tensor(images, tf.float32)
        labels = tf.convert_to_tensor(labels)
        gradient = tally.add_clean(attacker, images, labels)
        for i, eps in enumerate(eps_values):
            adversarial = adversarial_of(images, labels, gradient, eps)
            tally.correct[i] += _count_correct(attacker, adversarial, labels)
            if on_adversarial is not None and eps > 0:
                on_adversarial(attack, eps, adversarial, labels)
            if compare:
                fgsm_images = _fgsm_step(images, gradient, eps)
                if on_adversarial is not None and eps > 0:
                    on_adversarial("fgsm", eps, fgsm_images, labels)
                tally.fgsm_correct[i] += _count_correct(
                    attacker, fgsm_images, labels
                )
    if tally.total == 0:
        raise ValueError("The dataset given to `eps_sweep` is empty.")
    result = tally.result(attack, eps_values, compare)
    result["warnings"] = _sweep_warnings(result, tally) + _model_warnings(
        attacker, model, tally, variables_before
    )
    for warning in result["warnings"]:
        logging.warning("eps_sweep: %s", warning)
    return result


def _fgsm_step(images, gradient, eps):
    return tf.clip_by_value(images + eps * tf.sign(gradient), 0.0, 1.0)


def _count_correct(attacker, images, labels) -> int:
    predictions = attacker.predict(images).numpy().argmax(-1)
    return int(np.sum(predictions == labels.numpy()))


class _Tally:
    """What an `eps_sweep` counts over its batches."""

    def __init__(self, count):
        self.correct = np.zeros(count)
        self.fgsm_correct = np.zeros(count)
        self.clean_correct = self.total = 0
        self.zero_grads = self.grad_elements = 0
        self.probe = self.probe_out = None
        self.probability_outputs = False

    def add_clean(self, attacker, images, labels):
        """Counts a batch's clean predictions and zero gradients; returns
        the input gradient."""
        gradient, logits = attacker.gradient(images, labels)
        logits = logits.numpy()
        if self.probe is None:
            # Re-run later through the same compiled function: any change
            # of its outputs means the model itself changed.
            self.probe = images
            self.probe_out = attacker.predict(images).numpy()
            self.probability_outputs = _looks_like_probabilities(logits)
        self.clean_correct += np.sum(logits.argmax(-1) == labels.numpy())
        self.total += len(logits)
        self.zero_grads += int(tf.reduce_sum(tf.cast(gradient == 0, tf.int64)))
        self.grad_elements += int(tf.size(gradient))
        return gradient

    def result(self, attack, eps_values, compare) -> dict:
        result = {
            "attack": attack,
            "eps": eps_values,
            "accuracy": (self.correct / self.total).tolist(),
            "clean_accuracy": self.clean_correct / self.total,
            "examples": int(self.total),
            "zero_gradient_share": self.zero_grads / self.grad_elements,
        }
        if compare:
            result["fgsm_accuracy"] = (self.fgsm_correct / self.total).tolist()
        return result


def _sweep_warnings(result, tally) -> list[str]:
    """The classic ways robustness gets overstated, read off the counts."""
    warnings = []
    if tally.probability_outputs:
        warnings.append(
            "The model's outputs look like probabilities (in [0, 1], summing "
            "to 1), not logits: the attack's gradients vanish and robustness "
            "is overstated. Remove the final softmax."
        )
    if result["zero_gradient_share"] > ZERO_GRADIENT_SHARE:
        warnings.append(
            f"{100 * result['zero_gradient_share']:.1f}% of input gradients "
            "are exactly zero: gradient masking (saturated outputs?) makes "
            "the attack weak and robustness overstated."
        )
    eps = np.asarray(result["eps"])
    accuracy = np.asarray(result["accuracy"])
    order = np.argsort(eps)
    for a, b, ea, eb in zip(
        accuracy[order],
        accuracy[order][1:],
        eps[order],
        eps[order][1:],
        strict=False,
    ):
        if b > a + ACCURACY_RISE:
            warnings.append(
                f"Accuracy rises with eps ({a:.4f} at eps={ea:.5f} -> "
                f"{b:.4f} at eps={eb:.5f}): the attack is not working "
                "properly (gradient masking?)."
            )
    for e, p, f in zip(
        eps, accuracy, result.get("fgsm_accuracy", []), strict=False
    ):
        if p > f + ACCURACY_RISE:
            warnings.append(
                f"PGD is weaker than FGSM at eps={e:.5f} (accuracy "
                f"{p:.4f} vs {f:.4f}): PGD is mis-configured or the "
                "gradients are masked."
            )
    return warnings


def _model_warnings(attacker, model, tally, variables_before) -> list[str]:
    """Whether the model ran in inference mode and stayed unchanged."""
    warnings = []
    # In inference mode an image's logits cannot depend on the rest of its
    # batch; with BatchNorm in training mode (batch statistics) they do.
    alone = attacker.predict(tally.probe[:1]).numpy()
    if not np.allclose(alone, tally.probe_out[:1], rtol=1e-3, atol=1e-4):
        warnings.append(
            "The logits of an image depend on the other images of its batch:"
            " the model runs in training mode (BatchNorm on batch "
            "statistics), so the evaluation is invalid."
        )
    after = attacker.predict(tally.probe).numpy()
    variables_after = _batch_variables(model)
    changed = not np.allclose(after, tally.probe_out, rtol=1e-5, atol=1e-6) or (
        variables_before is not None
        and any(
            not np.array_equal(a, b)
            for a, b in zip(variables_before, variables_after, strict=True)
        )
    )
    if changed:
        warnings.append(
            "The model changed during the attack (BatchNorm statistics "
            "updated? model run in training mode?): the evaluation is "
            "invalid."
        )
    return warnings
