"""The robustness study of Figs. 8 and 9, done the way attack papers do it.

A white-box FGSM curve alone can overstate robustness: a model whose input
gradients are uninformative (gradient masking) resists FGSM without being
robust. For a set of trained models ("subjects": Full / Chans / Space, or
smoothing sigmas, over paired seeds) `study` measures:

- **white box**: FGSM at every epsilon on all the test images given, and
  PGD (random start, `pgd_steps` steps) on a fixed subset (the first
  `pgd_examples` images), through `attacks.eps_sweep`: inference mode, loss
  on logits, float32, with its sanity checks;
- **transfer (black box)**: the FGSM and PGD images crafted on each subject
  are scored on every other subject. A valid white-box attack is at least as
  strong as a transferred one; where a model resists its own attack better
  than one crafted on another model, its robustness is gradient masking
  (`masking`);
- **training length**: the same attacks (on the subset) on the weights kept
  after given epochs (`config.save_weights_epochs`), beside how far the
  depthwise filters moved from their initialisation and their
  high-frequency energy (`spatial_filters`).

Every accuracy is a count over the same images for every subject, so seeds
can be paired (`reproduce.verdicts`).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import warnings
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from spatialmix_keras import attacks, files, spatial_filters, vocabulary

FGSM_EPS = tuple(attacks.parse_eps(vocabulary.FGSM_EPS))
PGD_EPS = tuple(attacks.parse_eps(vocabulary.PGD_EPS))
PGD_STEPS = 20
PGD_EXAMPLES = 2000
# A white-box accuracy above a transferred one by more than this (plus two
# binomial standard errors of the difference) is flagged as masking.
MASKING_MARGIN = 0.01
_WEIGHTS_FILE = re.compile(r"epoch_(\d+)\.weights\.h5$")


# ------------------------------------------------------------ the subjects


@dataclasses.dataclass(eq=False)
class Subject:
    """One trained model of the study.

    Attributes:
        name: unique (e.g. the run name).
        label: its group in tables and plots (`"Full"`, `"sigma=1.0"`).
        seed: its paired seed (None if unknown).
        model: the Keras model (logits from [0, 1] pixels).
        checkpoints: `{epoch: weights file}` of the same architecture.
        epochs: how many epochs the final model trained (None if unknown).
    """

    name: str
    label: str
    seed: int | None
    model: keras.Model
    checkpoints: dict = dataclasses.field(default_factory=dict)
    epochs: int | None = None


def default_label(config: dict) -> str:
    """`"Full"`, `"Chans"` or `"Space"` from a run's config (with the
    smoothing sigma when its random filters are smoothed)."""
    label = vocabulary.FREEZE_LABELS.get(config.get("freeze"), "?")
    if config.get("spatial_initializer") == "smoothed":
        label += f" sigma={config.get('smoothing_sigma')}"
    return label


def find_checkpoints(weights_dir: str | None) -> dict[int, str]:
    """`{epoch: path}` of the `epoch_NNNN.weights.h5` files in a run's
    `weights/` directory (`config.save_weights_epochs`)."""
    if not weights_dir:
        return {}
    found = {}
    for path in glob.glob(os.path.join(weights_dir, "epoch_*.weights.h5")):
        match = _WEIGHTS_FILE.search(path)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def load_subject(
    export_dir: str, label: str | None = None, weights_dir: str | None = None
) -> Subject:
    """A subject from an export directory (its `model.keras` and
    `config.json`) and, optionally, its run's `weights/` directory."""
    keras_file = os.path.join(export_dir, "model.keras")
    config_file = os.path.join(export_dir, "config.json")
    for path in (keras_file, config_file):
        if not os.path.isfile(path):
            raise ValueError(
                "Invalid value for argument `model`: expected an export "
                f"directory holding model.keras and config.json; {path} does "
                f"not exist. Received: model={export_dir!r}"
            )
    import spatialmix_keras

    spatialmix_keras.register()  # the custom layers, for loading
    from spatialmix_keras import export

    export.check_weights_size(keras_file)
    model = keras.models.load_model(keras_file, safe_mode=True, compile=False)
    config = files.read_json(config_file, dict, keys=("freeze",))
    checkpoints = find_checkpoints(weights_dir)
    if weights_dir and not checkpoints:
        raise ValueError(
            "Invalid value for argument `weights_dir`: no epoch_NNNN."
            f"weights.h5 files in it. Received: weights_dir={weights_dir!r}"
        )
    return Subject(
        name=os.path.basename(os.path.normpath(export_dir)),
        label=label or default_label(config),
        seed=config.get("seed"),
        model=model,
        checkpoints=checkpoints,
        epochs=config.get("epochs"),
    )


# --------------------------------------------------------------- the study


def _batches(images, labels, batch_size):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(
        batch_size
    )


def _at_epoch(subject, epoch):
    model = keras.models.clone_model(subject.model)
    with warnings.catch_warnings():
        # Weights saved during training carry the optimizer's state, which
        # an attack has no use for.
        warnings.filterwarnings(
            "ignore", "Skipping variable loading for optimizer"
        )
        model.load_weights(subject.checkpoints[epoch])
    return model


def _attack_subset(model, setup, pgd_eps, label):
    subset, fgsm_eps = setup.subset, setup.fgsm_eps
    fgsm = attacks.eps_sweep(
        model, subset, [0.0, *fgsm_eps], "fgsm", progress_label=f"FGSM {label}"
    )
    result = {
        "clean_accuracy": fgsm["clean_accuracy"],
        "fgsm": fgsm["accuracy"][1:],
        "warnings": fgsm["warnings"],
    }
    if pgd_eps:
        pgd = attacks.eps_sweep(
            model,
            subset,
            pgd_eps,
            "pgd",
            setup.steps,
            seed=setup.seed,
            pgd_restarts=setup.restarts,
            compare_fgsm=False,
            progress_label=f"PGD {label}",
        )
        result["pgd"] = pgd["accuracy"]
        result["warnings"] += pgd["warnings"]
    return result


def study(
    subjects: list[Subject],
    images,
    labels,
    fgsm_eps=FGSM_EPS,
    pgd_eps=PGD_EPS,
    pgd_steps: int = PGD_STEPS,
    pgd_examples: int = PGD_EXAMPLES,
    pgd_restarts: int = 1,
    batch_size: int = 250,
    seed: int = 0,
    parts_dir: str | None = None,
) -> dict:
    """White-box, transfer and training-length attacks on every subject.

    Args:
        subjects: the models; names must be unique.
        images, labels: float [0, 1] pixels `(N, H, W, C)` and int labels.
        fgsm_eps, pgd_eps: epsilons on the [0, 1] scale (all > 0).
        pgd_steps: PGD steps (step size `2.5 * eps / steps`).
        pgd_restarts: PGD runs from independent random starts; an image
            counts as robust only if it survives all of them.
        pgd_examples: the first this many images form the PGD, transfer and
            checkpoint subset.
        seed: of PGD's random start.
        parts_dir: where each subject's finished share is kept (one JSON
            file per subject, see `_Parts`); a study stopped half way and
            run again reads the shares it finished instead of recomputing
            them. None: nothing is kept.

    Returns:
        A JSON-able dict: `settings` and one entry per subject in
        `subjects` with `white_box` (FGSM on all images), `subset` (clean,
        FGSM and PGD on the subset), `transfer` (accuracy of this subject on
        images crafted on each other one), `masking` and `epochs`
        (attacks and filter statistics per kept epoch, the final model last).
    """
    fgsm_eps, pgd_eps = _check_study(subjects, fgsm_eps, pgd_eps)
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels)
    pgd_examples = min(pgd_examples, len(images))
    settings = {
        "fgsm_eps": fgsm_eps,
        "pgd_eps": pgd_eps,
        "pgd_steps": pgd_steps,
        "pgd_restarts": pgd_restarts,
        "pgd_step_size": "2.5 * eps / steps",
        "pgd_random_start": True,
        "pgd_examples": pgd_examples,
        "examples": int(len(images)),
        "seed": seed,
        "high_frequency_cutoff": spatial_filters.HIGH_FREQUENCY_CUTOFF,
    }
    setup = _Setup(
        subjects,
        {s.name: attacks.Attacker(s.model) for s in subjects},
        _batches(images, labels, batch_size),
        _batches(images[:pgd_examples], labels[:pgd_examples], batch_size),
        fgsm_eps,
        pgd_eps,
        pgd_steps,
        seed,
        pgd_restarts,
    )
    parts = (
        _Parts(parts_dir, subjects, images, labels, settings)
        if parts_dir
        else None
    )
    entries, counts = [], {}
    for source in subjects:
        part = parts.load(source.name) if parts else None
        if part is None:
            part = _study_source(source, setup)
            if parts:
                parts.save(source.name, part)
        entries.append(part["entry"])
        counts[source.name] = part["transfer_counts"]
    for entry in entries:
        entry["transfer"] = _transfer(
            entry["name"], counts, pgd_examples, len(pgd_eps)
        )
        entry["masking"] = masking(entry, pgd_eps, pgd_examples)
    return {"settings": settings, "subjects": entries}


def _check_study(subjects, fgsm_eps, pgd_eps):
    """The epsilons, checked; refuses nameless or repeated subjects."""
    names = [s.name for s in subjects]
    if len(set(names)) != len(names) or not subjects:
        raise ValueError(
            "Invalid value for argument `subjects`: expected models with "
            f"distinct names. Received: {names}"
        )
    fgsm_eps = [attacks.check_eps(e) for e in fgsm_eps]
    pgd_eps = [attacks.check_eps(e) for e in pgd_eps]
    if 0.0 in fgsm_eps or 0.0 in pgd_eps:
        raise ValueError(
            "Epsilons of the study must be > 0 (clean accuracy "
            "is always measured)."
        )
    return fgsm_eps, pgd_eps


def _transfer(target, counts, examples, eps_count):
    """`{attack: [{source: accuracy}] per eps}` of `target` on the images
    crafted on every other subject, from `counts[source][target][attack][eps
    index]` (correct counts)."""
    sources = [source for source in counts if source != target]
    return {
        attack: [
            {s: counts[s][target][attack][i] / examples for s in sources}
            for i in range(eps_count)
        ]
        for attack in attacks.ATTACKS
    }


class _Setup(NamedTuple):
    """What every subject's share of a study is computed with."""

    subjects: list
    attackers: dict  # name -> attacks.Attacker
    everything: object  # batches of all images
    subset: object  # batches of the first `pgd_examples`
    fgsm_eps: list
    pgd_eps: list
    steps: int  # PGD steps
    seed: int  # PGD's random start
    restarts: int  # PGD runs per image


def _study_source(source, setup: _Setup):
    """One subject's share of the study: its white-box attacks, its images
    scored on every other subject, and its training-length points."""
    logging.info("Robustness study: %s (%s)", source.name, source.label)
    white = attacks.eps_sweep(
        source.model,
        setup.everything,
        [0.0, *setup.fgsm_eps],
        "fgsm",
        progress_label=f"FGSM {source.name}",
    )
    targets = [t for t in setup.subjects if t is not source]
    counts = {
        t.name: {a: [0 for _ in setup.pgd_eps] for a in attacks.ATTACKS}
        for t in targets
    }

    def score(attack, eps, adversarial, y):
        i = setup.pgd_eps.index(eps)
        for target in targets:
            predicted = setup.attackers[target.name].predict(adversarial)
            counts[target.name][attack][i] += int(
                np.sum(predicted.numpy().argmax(-1) == y.numpy())
            )

    pgd = attacks.eps_sweep(
        source.model,
        setup.subset,
        setup.pgd_eps,
        "pgd",
        setup.steps,
        seed=setup.seed,
        pgd_restarts=setup.restarts,
        compare_fgsm=True,
        progress_label=f"PGD {source.name}",
        on_adversarial=score,
    )
    entry = _entry(source, white, pgd)
    entry["epochs"] = _training_length(source, entry, setup)
    return {"entry": entry, "transfer_counts": counts}


def _entry(source, white, pgd) -> dict:
    """A subject's white-box results: FGSM on all images (`white`), and
    clean, FGSM and PGD on the subset (`pgd`)."""
    return {
        "name": source.name,
        "label": source.label,
        "seed": source.seed,
        "white_box": {
            "clean_accuracy": white["clean_accuracy"],
            "fgsm": white["accuracy"][1:],
            "examples": white["examples"],
        },
        "subset": {
            "clean_accuracy": pgd["clean_accuracy"],
            "fgsm": pgd["fgsm_accuracy"],
            "pgd": pgd["accuracy"],
            "examples": pgd["examples"],
        },
        "warnings": white["warnings"] + pgd["warnings"],
    }


class _Parts:
    """Each subject's finished share of a study, one JSON file per subject
    in `directory`, so that a stopped study resumes where it stopped.

    A part is used only when its fingerprint matches: the settings, the
    images and labels, and the weights (final and kept) of every subject,
    so a changed model or setting is recomputed, never mixed in.
    """

    def __init__(self, directory, subjects, images, labels, settings):
        self.directory = directory
        digest = hashlib.sha256()
        digest.update(json.dumps(settings, sort_keys=True).encode())
        for array in (images, labels):
            digest.update(np.ascontiguousarray(array).tobytes())
        for subject in subjects:
            digest.update(json.dumps([subject.name, subject.label]).encode())
            for weight in subject.model.weights:
                digest.update(np.asarray(weight.numpy()).tobytes())
            for epoch, path in sorted(subject.checkpoints.items()):
                digest.update(str(epoch).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
        self.fingerprint = digest.hexdigest()

    def _path(self, name):
        return os.path.join(self.directory, f"{name}.json")

    def load(self, name):
        path = self._path(name)
        try:
            with open(path) as f:
                part = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logging.warning("Recomputing %s: unreadable (%s).", path, error)
            return None
        if part.get("fingerprint") != self.fingerprint:
            logging.warning(
                "Recomputing %s: made for other models or settings.", path
            )
            return None
        logging.info("Robustness study: %s done before, read %s", name, path)
        return {k: part[k] for k in ("entry", "transfer_counts")}

    def save(self, name, part):
        os.makedirs(self.directory, exist_ok=True)
        files.write_json(
            self._path(name), {"fingerprint": self.fingerprint, **part}
        )


def merge(studies: list[dict]) -> dict:
    """One study of the subjects of several, run apart with the same
    settings (e.g. one per seed, each while its models exist).

    Each subject keeps the transfer accuracies and masking flags of its own
    study: images crafted in one study were never scored in another.

    Raises:
        ValueError: no studies, differing settings, or a subject name in
            two of them.
    """
    if not studies:
        raise ValueError(
            "Invalid value for argument `studies`: expected at least one "
            "robustness study. Received: []"
        )
    settings = studies[0]["settings"]
    names = []
    for i, other in enumerate(studies):
        if other["settings"] != settings:
            raise ValueError(
                f"Invalid value for argument `studies`: study {i} was run "
                f"with other settings ({other['settings']}) than study 0 "
                f"({settings})."
            )
        names += [e["name"] for e in other["subjects"]]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            "Invalid value for argument `studies`: subjects in more than "
            f"one study. Received: {repeated}"
        )
    merged = {
        key: value
        for key, value in studies[0].items()
        if key not in ("subjects", "verdict")
    }
    merged["subjects"] = [e for study in studies for e in study["subjects"]]
    merged["studies"] = len(studies)
    return merged


def masking(entry: dict, pgd_eps, examples: int) -> list[str]:
    """Where this subject resists its own (white-box) attack better than one
    transferred from another subject: a sign of gradient masking.

    Compares, per attack and epsilon, the white-box accuracy on the subset
    with the lowest transferred accuracy, beyond `MASKING_MARGIN` plus two
    binomial standard errors of the difference.
    """
    found = []
    for attack in attacks.ATTACKS:
        for i, eps in enumerate(pgd_eps):
            transferred = entry["transfer"][attack][i]
            if not transferred:
                continue
            source, worst = min(transferred.items(), key=lambda kv: kv[1])
            white = entry["subset"][attack][i]
            noise = 2 * np.sqrt(
                (white * (1 - white) + worst * (1 - worst)) / examples
            )
            if white > worst + MASKING_MARGIN + noise:
                found.append(
                    f"{attack.upper()} at eps={255 * eps:g}/255: white-box "
                    f"accuracy {white:.3f} above {worst:.3f} for images "
                    f"crafted on {source}"
                )
    return found


def _training_length(subject, entry, setup):
    """Attacks and filter statistics after each kept epoch, then the final
    (whose PGD numbers are the subset's white-box ones)."""
    initial = None  # the kernels of epoch 0, when kept (it comes first)
    points = []
    for epoch in [*subject.checkpoints, "final"]:
        final = epoch == "final"
        model = subject.model if final else _at_epoch(subject, epoch)
        kernels = spatial_filters.depthwise_kernels(model)
        if epoch == 0:
            initial = kernels
        point = {
            "epoch": subject.epochs if final else epoch,
            "final": final,
            "filter_movement": (
                spatial_filters.filter_movement(initial, kernels)
                if initial
                else None
            ),
            "high_frequency_share": (
                spatial_filters.high_frequency_share(kernels)
                if kernels
                else None
            ),
        }
        if epoch != 0 and subject.checkpoints:
            label = f"{subject.name} epoch {epoch}"
            point.update(
                _attack_subset(
                    model, setup, [] if final else setup.pgd_eps, label
                )
            )
            if final:
                point["pgd"] = entry["subset"]["pgd"]
        points.append(point)
    return points
