"""Exporting trained models atomically, and loading them back to evaluate.

An export is a directory `<export_dir>/<run_name>/` holding:

- `saved_model/`: a TensorFlow SavedModel (Keras' `ExportArchive`):
  endpoint `serve`, the default signature, from float [0, 1] pixels
  (`pixels`) to logits (`output_0`; images, for the un-shuffler), refusing
  pixels outside [0, 1]; and `serve_uint8` for 0..255 uint8 pixels;
- `model.keras`: the Keras file, loadable with `keras.models.load_model`
  after `import spatialmix_keras`;
- `config.json` (and any other JSON files passed in).

It is written into a temporary sibling directory and renamed into place, so
a crash, a kill or a full disk never leaves a half-written export, and an
existing export is only replaced with `overwrite=True` (and survives any
failure before the final rename).

Security: `.keras` files load with Keras' safe mode on, which refuses
embedded code (lambdas). A SavedModel, by contrast, is a TensorFlow program:
load one only from a source you trust.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from spatialmix_keras import progress
from spatialmix_keras.files import make_shareable, write_json

SAVED_MODEL_DIR = "saved_model"
KERAS_FILE = "model.keras"


class ExportError(OSError):
    """An export could not be written (full disk, permissions...)."""


def recover_swap(export_dir: str, run_name: str) -> str | None:
    """Finishes what a killed export swap left: the old export moved aside
    to `.<run_name>.old-*/` and the new one not yet in place. The old export
    goes back (the run exports again when it ends); with the export in
    place, the aside copy is removed. Returns what was done, or None."""
    target = os.path.join(export_dir, run_name)
    done = None
    for retired in sorted(
        glob.glob(os.path.join(export_dir, f".{run_name}.old-*"))
    ):
        kept = os.path.join(retired, run_name)
        if not os.path.exists(target) and os.path.isdir(kept):
            os.rename(kept, target)
            done = f"restored {target}, moved aside by a stopped swap"
        shutil.rmtree(retired, ignore_errors=True)
        done = done or f"removed {retired}, left by a stopped swap"
    return done


def check_export_target(export_dir: str, run_name: str, overwrite: bool) -> str:
    """Fails early (before any training) if the export would be refused."""
    if not run_name or os.sep in run_name or run_name.startswith("."):
        raise ValueError(
            "Invalid value for argument `run_name`. Expected a plain "
            f"directory name. Received: run_name={run_name!r}"
        )
    target = os.path.join(export_dir, run_name)
    recovered = recover_swap(export_dir, run_name)
    if recovered:
        logging.warning("Export: %s.", recovered)
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(
            f"Export directory {target} already exists; pass --overwrite to "
            "replace it (the old export is kept until the new one is whole)."
        )
    return target


def export_run(
    model: keras.Model,
    export_dir: str,
    run_name: str,
    files: dict[str, dict] | None = None,
    overwrite: bool = False,
) -> str:
    """Writes the SavedModel, the `.keras` file and JSON files, atomically.

    Args:
        model: the trained model.
        export_dir: parent directory, e.g. `saved_models`.
        run_name: the export's directory name.
        files: `{"config.json": {...}, ...}` written beside the model.
        overwrite: replace an existing export once the new one is whole.

    Returns:
        The export's path.
    """
    target = check_export_target(export_dir, run_name, overwrite)
    os.makedirs(export_dir, exist_ok=True)
    # Staging directories of this run left by a killed earlier export.
    for stale in glob.glob(os.path.join(export_dir, f".{run_name}.partial-*")):
        shutil.rmtree(stale, ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=f".{run_name}.partial-", dir=export_dir)
    make_shareable(staging)  # an export is for sharing
    try:
        _write_saved_model(model, os.path.join(staging, SAVED_MODEL_DIR))
        model.save(os.path.join(staging, KERAS_FILE))
        for name, payload in (files or {}).items():
            write_json(os.path.join(staging, name), payload)
        if os.path.exists(target):
            retired = tempfile.mkdtemp(
                prefix=f".{run_name}.old-", dir=export_dir
            )
            os.rename(target, os.path.join(retired, run_name))
            try:
                os.rename(staging, target)
            except OSError:
                os.rename(os.path.join(retired, run_name), target)
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        kept = (
            "the previous export there is unchanged"
            if os.path.exists(target)
            else "nothing was written there"
        )
        raise ExportError(
            error.errno,
            f"Writing the export {target} failed "
            f"({error.strerror or error}); {kept}.",
        ) from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


PIXEL_RANGE_MESSAGE = (
    "`serve` takes float pixels in [0, 1]; received values outside it "
    "(0..255 pixels?): divide them by 255, or call `serve_uint8` with uint8 "
    "pixels."
)


def _write_saved_model(model, path):
    """The SavedModel of `model`: endpoint `serve` (the default signature;
    input `pixels`, output `output_0`) and, for a model of float pixels,
    `serve_uint8` for 0..255 uint8 pixels. `serve` refuses float pixels
    outside [0, 1], which would otherwise score near chance silently."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    shape = (None, *model.input_shape[1:])
    dtype = tf.as_dtype(model.inputs[0].dtype)
    if dtype != tf.float32:  # a model of uint8 pixels takes them as they are
        archive.add_endpoint(
            "serve",
            lambda pixels: model(pixels, training=False),
            input_signature=[tf.TensorSpec(shape, dtype, name="pixels")],
        )
        archive.write_out(path, verbose=False)
        return

    def serve(pixels):
        checks = [
            tf.debugging.assert_greater_equal(
                tf.reduce_min(pixels), 0.0, message=PIXEL_RANGE_MESSAGE
            ),
            tf.debugging.assert_less_equal(
                tf.reduce_max(pixels), 1.0, message=PIXEL_RANGE_MESSAGE
            ),
        ]
        with tf.control_dependencies(checks):
            return model(tf.identity(pixels), training=False)

    archive.add_endpoint(
        "serve",
        serve,
        input_signature=[tf.TensorSpec(shape, tf.float32, name="pixels")],
    )
    archive.add_endpoint(
        "serve_uint8",
        lambda pixels: model(
            tf.cast(pixels, tf.float32) / 255.0, training=False
        ),
        input_signature=[tf.TensorSpec(shape, tf.uint8, name="pixels")],
    )
    archive.write_out(path, verbose=False)


@dataclasses.dataclass(eq=False)
class LoadedModel:
    """A model loaded for evaluation: call it on float [0, 1] pixels."""

    path: str
    kind: str  # "saved_model" or "keras"
    input_shape: tuple
    fn: Callable
    # Keeps the loaded object (and so its variables) alive as long as `fn`.
    handle: object = None

    def __call__(self, images):
        """Logits for float [0, 1] pixels; integer pixels (0..255) or floats
        above 1 are refused, since a float model scores them at chance
        without a word."""
        dtype = getattr(images, "dtype", None)
        if dtype is not None and tf.as_dtype(dtype).is_integer:
            raise ValueError(
                f"{self.path} takes float pixels in [0, 1]; received "
                f"{tf.as_dtype(dtype).name} pixels. Divide them by 255 first."
            )
        images = tf.convert_to_tensor(images, tf.float32)
        message = (
            f"{self.path} takes float pixels in [0, 1]; received values "
            "above 1 (0..255 pixels?). Divide them by 255 first."
        )
        if not tf.executing_eagerly():  # inside an attack's tf.function
            with tf.control_dependencies(
                [
                    tf.debugging.assert_less_equal(
                        tf.reduce_max(images), 1.0 + 1e-6, message=message
                    )
                ]
            ):
                return self.fn(tf.identity(images))
        if float(tf.reduce_max(images)) > 1.0 + 1e-6:
            raise ValueError(message)
        return self.fn(images)


def _saved_model_input_shape(loaded):
    signature = loaded.signatures["serving_default"]
    spec = next(iter(signature.structured_input_signature[1].values()))
    return tuple(spec.shape)


# The most weight bytes a `.keras` file may declare (a ConvMixer-1536/20,
# the paper's largest model, has ~210 MB).
MAX_WEIGHT_BYTES = 2**30


def check_weights_size(path: str, limit: int = MAX_WEIGHT_BYTES) -> None:
    """Refuses a `.keras` file whose weights would take more than `limit`
    bytes of memory, before anything is read: the weight file's size in
    the archive and the sizes its HDF5 datasets declare (a few compressed
    megabytes can declare gigabytes)."""
    import h5py

    def refuse(what, size):
        raise ValueError(
            f"Refused to load {path}: it declares {what} of "
            f"{size / 2**20:.0f} MiB, above the "
            f"{limit / 2**20:.0f} MiB this loader reads (export.MAX_WEIGHT_"
            "BYTES)."
        )

    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > limit:
            refuse("files", total)
        names = [i.filename for i in infos if i.filename.endswith(".h5")]
        for name in names:
            with archive.open(name) as raw, h5py.File(raw, "r") as h5:
                declared = _declared_bytes(h5)
            if declared > limit:
                refuse("weights", declared)


def _declared_bytes(h5) -> int:
    import h5py

    sizes = []

    def visit(_, item):
        if isinstance(item, h5py.Dataset):
            sizes.append(item.size * item.dtype.itemsize)

    h5.visititems(visit)
    return sum(sizes)


class UntrustedSavedModel(ValueError):
    """A SavedModel was given without saying it is trusted."""


def load_for_eval(path: str, trust_saved_model: bool = False) -> LoadedModel:
    """Loads an export directory, a `.keras` file or a SavedModel.

    An export directory loads its `model.keras` (else its `saved_model/`);
    a `.keras` file loads with `keras.models.load_model` in safe mode,
    which runs no code from the file. Loading a SavedModel runs its
    TensorFlow graph, which can do whatever its author wrote (write files,
    say): only with `trust_saved_model=True`.
    """
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, KERAS_FILE)):
            path = os.path.join(path, KERAS_FILE)
        elif os.path.isdir(os.path.join(path, SAVED_MODEL_DIR)):
            path = os.path.join(path, SAVED_MODEL_DIR)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        if not trust_saved_model:
            raise UntrustedSavedModel(
                f"{path} is a SavedModel: loading one runs its TensorFlow "
                "graph, which can do anything its author wrote. Give the "
                "export directory or its model.keras (loaded in Keras' safe "
                "mode), or pass --trust_saved_model if you trust its source."
            )
        return _load_saved_model(path)
    if path.endswith(".keras") and os.path.isfile(path):
        return _load_keras(path)
    raise ValueError(
        f"Invalid value for argument `model`: {path!r} is not an export "
        "directory, a SavedModel directory or a .keras file."
    )


def _load_saved_model(path: str) -> LoadedModel:
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(
            f"Refused to load {path}: not a whole SavedModel (missing "
            f"or unreadable variables?): {reason}"
        ) from error
    if not hasattr(loaded, "serve"):
        raise ValueError(
            f"{path}: a SavedModel without a `serve` endpoint; export it "
            "with `model.export(...)`."
        )
    return LoadedModel(
        path,
        "saved_model",
        _saved_model_input_shape(loaded),
        loaded.serve,
        loaded,
    )


def _load_keras(path: str) -> LoadedModel:
    import spatialmix_keras

    spatialmix_keras.register()  # the custom layers, for loading
    try:
        check_weights_size(path)
    except (zipfile.BadZipFile, OSError):
        pass  # not a whole archive: load_model below says so
    try:
        # Safe mode stays on: it refuses embedded code (lambdas), layers
        # that load other programs (TFSMLayer) and non-Keras classes.
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        RecursionError,
        OSError,
        zipfile.BadZipFile,
    ) as error:
        lines = str(error).strip().splitlines() or [type(error).__name__]
        reason = f"{type(error).__name__}: {lines[0][:200]}"
        raise ValueError(
            f"Refused to load {path}: it does not load as a plain Keras "
            f"model in Keras' safe mode ({reason}). This package never "
            "turns safe mode off; load only models from sources you "
            "trust."
        ) from error
    return LoadedModel(
        path,
        "keras",
        tuple(model.input_shape),
        lambda x: model(x, training=False),
        model,
    )


def check_logits(model: LoadedModel, info) -> None:
    """Refuses a model whose output is not one row of `info.num_classes`
    logits per image (tried on one blank image)."""
    blank = np.zeros((1, *info.image_shape), np.float32)
    shape = tuple(np.shape(model(blank)))
    if shape != (1, info.num_classes):
        raise ValueError(
            f"{model.path}: expected {info.num_classes} logits per image "
            f"(the dataset's classes). Received: output of shape {shape} for "
            "one image."
        )


def check_input_shape(model: LoadedModel, image_shape) -> None:
    expected = tuple(model.input_shape[1:])
    if expected != tuple(image_shape):
        raise ValueError(
            f"Model {model.path} takes images of shape {expected}, but the "
            f"dataset's are {tuple(image_shape)}."
        )


def evaluate_loaded(
    model: LoadedModel, dataset, progress_label: str | None = None
) -> dict:
    """Accuracy and mean cross-entropy of logits over a batched dataset
    (with progress under `progress_label`, if given)."""
    total = correct = loss_sum = 0.0
    for images, labels in progress.over_batches(dataset, progress_label):
        logits = tf.cast(model(images), tf.float32)
        loss_sum += float(
            tf.reduce_sum(
                keras.losses.sparse_categorical_crossentropy(
                    labels, logits, from_logits=True
                )
            )
        )
        correct += float(
            np.sum(np.argmax(logits.numpy(), axis=-1) == labels.numpy())
        )
        total += int(labels.shape[0])
    return {
        "accuracy": correct / total,
        "loss": loss_sum / total,
        "examples": int(total),
    }


def load_models_and_data(
    paths,
    dataset,
    split,
    batch_size,
    data_dir,
    small,
    tfds_data_dir,
    max_examples=None,
    trust_saved_model=False,
):
    """Loads exported models for evaluation and the split they are run on
    (its first `max_examples` images when given); bare SavedModels only
    with `trust_saved_model` (`load_for_eval`).

    Checks every model's input shape against the dataset before any data
    is read. Returns `(loaded models, batched tf.data pipeline)`.
    """
    from spatialmix_keras import data, datasets

    info = datasets.dataset_info(dataset)
    loaded = [load_for_eval(p, trust_saved_model) for p in paths]
    for model in loaded:
        check_input_shape(model, info.image_shape)
        check_logits(model, info)
    pipeline, _ = data.input_pipeline(
        dataset,
        split,
        batch_size,
        training=False,
        data_dir=data_dir,
        small=small,
        tfds_data_dir=tfds_data_dir,
        max_examples=max_examples,
    )
    return loaded, pipeline
