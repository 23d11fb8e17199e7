"""Flag plumbing shared by the apps: flags override config fields."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import re
import sys
from typing import NamedTuple

from absl import flags

from spatialmix_keras import stopping, vocabulary

# The apps, the configs and the experiments lie side by side: at the top of
# a checkout (`apps`, `configs`, `experiments`), and inside the installed
# package (`spatialmix_keras.apps`, ...), where the console commands find
# them from any directory.
_ROOT_PACKAGE = __package__.rpartition(".")[0]
CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs"
)


def experiment(module: str):
    """Imports `experiments.<module>` from beside the apps."""
    prefix = f"{_ROOT_PACKAGE}." if _ROOT_PACKAGE else ""
    return importlib.import_module(f"{prefix}experiments.{module}")


def shipped_configs() -> list[str]:
    return sorted(
        name.removesuffix(".py")
        for name in os.listdir(CONFIG_DIR)
        if name.endswith(".py") and name != "__init__.py"
    )


def config_path(value: str) -> str:
    """`--config`'s file: an existing path as given, else a shipped config
    by name (`resnet_cifar10`, `resnet_cifar10.py`, `configs/...`), with its
    `:argument` kept. Exits in one line listing the shipped configs when
    neither exists."""
    path, colon, argument = value.partition(":")
    if os.path.isfile(path):
        return value
    name = os.path.basename(path).removesuffix(".py")
    shipped = os.path.join(CONFIG_DIR, f"{name}.py")
    if name in shipped_configs():
        return f"{shipped}{colon}{argument}"
    sys.exit(
        f"Invalid value for flag --config: no file {path!r}, and no shipped "
        f"config of that name. Shipped configs: "
        f"{', '.join(shipped_configs())}."
    )


def _resolve_config_flag(argv: list[str]) -> None:
    """Rewrites `--config=<name>[:arg]` in `argv` to the config's path, in
    place (ml_collections reads it from sys.argv when the flag is
    defined)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            argv[i] = "--config=" + config_path(arg.split("=", 1)[1])
        elif arg == "--config" and i + 1 < len(argv):
            argv[i + 1] = config_path(argv[i + 1])


def define_training_flags(default_config: str, model_help: str, datasets: str):
    """Defines the flags every training app shares; returns `--config`.

    Each flag overrides the config field of the same name in
    `TRAINING_OVERRIDES` when given.
    """
    from ml_collections import config_flags

    _resolve_config_flag(sys.argv)
    try:
        # ml_collections reads the overrides from sys.argv right here.
        config = config_flags.DEFINE_config_file(
            "config",
            os.path.join(CONFIG_DIR, default_config),
            "Experiment config file (ml_collections): path[:argument]. Any "
            "field can be set with --config.<field>=<value>; --print_config "
            "lists them with their values.",
            lock_config=True,
        )
    except (KeyError, AttributeError) as error:
        _unknown_field(error, sys.argv)
    flags.DEFINE_bool(
        "print_config",
        False,
        "Print the resolved config (every field, after the flags) and exit.",
    )
    flags.DEFINE_enum(
        "freeze",
        None,
        list(vocabulary.FREEZE_MODES),
        "Full (none), Chans (spatial frozen), Space (channel frozen).",
    )
    flags.DEFINE_string("model", None, model_help)
    flags.DEFINE_string("dataset", None, datasets)
    flags.DEFINE_integer("epochs", None, "Training epochs.")
    flags.DEFINE_integer("batch_size", None, "Batch size per replica.")
    flags.DEFINE_float("learning_rate", None, "Peak learning rate per replica.")
    flags.DEFINE_integer("seed", None, "Random seed (data order, filters).")
    flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch.")
    flags.DEFINE_string(
        "data_dir",
        None,
        "Directory of <dataset>.npz files (default $SPATIALMIX_DATA_DIR).",
    )
    flags.DEFINE_string("tfds_data_dir", None, "TFDS data directory.")
    flags.DEFINE_bool("small", None, "Use <dataset>_small.npz.")
    flags.DEFINE_string("workdir", None, "Run directory (default runs/<run>).")
    flags.DEFINE_string(
        "export_dir", None, "Parent of the export (default saved_models)."
    )
    flags.DEFINE_string("run_name", None, "Name of the run and its export.")
    flags.DEFINE_bool(
        "overwrite",
        None,
        "When the run ends, replace an export of the same name that is "
        "already there (without it the run refuses to start).",
    )
    flags.DEFINE_bool(
        "status",
        False,
        "List the runs under --workdir (default runs/): model, epochs done "
        "/ planned, last test result, state and export; train nothing.",
    )
    flags.DEFINE_bool(
        "restart",
        False,
        "Train from scratch: move the workdir aside (to "
        "<workdir>.replaced-<time>) and replace the export at the end. "
        "Without it, rerunning a command resumes an unfinished run and "
        "reports a finished one.",
    )
    flags.DEFINE_enum(
        "strategy",
        None,
        list(vocabulary.STRATEGIES),
        "tf.distribute strategy.",
    )
    return config


# Flag name -> config field, for the flags of `define_training_flags`.
TRAINING_OVERRIDES = {
    "freeze": "freeze",
    "model": "model.name",
    "dataset": "dataset",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "optimizer.learning_rate",
    "seed": "seed",
    "steps_per_epoch": "steps_per_epoch",
    "data_dir": "data_dir",
    "tfds_data_dir": "tfds_data_dir",
    "small": "small",
    "export_dir": "export_dir",
    "run_name": "run_name",
    "overwrite": "overwrite",
    "strategy": "strategy",
}


class DataFlags(NamedTuple):
    """The flags of the apps that read one split of a dataset."""

    dataset: flags.FlagHolder
    data_dir: flags.FlagHolder
    tfds_data_dir: flags.FlagHolder
    small: flags.FlagHolder

    def values(self) -> dict:
        """The flags' values, as keyword arguments of the library."""
        return {name: holder.value for name, holder in self._asdict().items()}


def define_data_flags() -> DataFlags:
    """`--dataset`, `--data_dir`, `--tfds_data_dir` and `--small`."""
    return DataFlags(
        flags.DEFINE_string("dataset", "cifar10", "Dataset."),
        flags.DEFINE_string("data_dir", None, "Directory of .npz files."),
        flags.DEFINE_string("tfds_data_dir", None, "TFDS data dir."),
        flags.DEFINE_bool("small", False, "Use <dataset>_small.npz."),
    )


def define_trust_flag() -> flags.FlagHolder:
    """`--trust_saved_model`, for the apps that load exported models."""
    return flags.DEFINE_bool(
        "trust_saved_model",
        False,
        "Load bare SavedModels: loading one runs its TensorFlow graph, which "
        "can do anything its author wrote. Export directories and .keras "
        "files load in Keras' safe mode without it.",
    )


def apply_flag_overrides(
    config, mapping: dict[str, str], argv: list[str] | None = None
) -> None:
    """Copies each flag the user gave into its config field.

    The flags are shortcuts for config fields: giving a flag and its field
    (`--epochs=3 --config.epochs=5`) with different values is an error.

    Args:
        mapping: flag name -> dotted config field (`"learning_rate"` ->
            `"optimizer.learning_rate"`).
        argv: the command line (default `sys.argv`), to see which config
            fields were set on it.
    """
    argv = sys.argv if argv is None else argv
    for flag_name, field in mapping.items():
        flag = flags.FLAGS[flag_name]
        if not flag.present:
            continue
        node = config
        *parents, leaf = field.split(".")
        for parent in parents:
            node = node[parent]
        given = [a for a in argv if a.startswith(f"--config.{field}=")]
        if given and node[leaf] != flag.value:
            raise ValueError(
                f"--{flag_name}={flag.value} and {given[-1]} set the same "
                "config field to different values; give one of them."
            )
        with (
            config.unlocked()
            if hasattr(config, "unlocked")
            else contextlib.nullcontext()
        ):
            node[leaf] = flag.value


def resolve_config(app_name: str, config, overrides: dict[str, str]) -> bool:
    """Applies the flags to the config and checks it against the schema
    (`spatialmix_keras.schema`), before TensorFlow is imported: a bad value
    exits in one line within a fraction of a second. Returns False when
    `--print_config` printed it, or `--status` the runs (nothing more to
    do)."""
    from spatialmix_keras import run_status, schema

    if flags.FLAGS.status:
        root = flags.FLAGS.workdir or "runs"
        print(run_status.format_rows(run_status.status_rows(root)))
        return False
    try:
        apply_flag_overrides(config, overrides)
        if flags.FLAGS.print_config:
            print_config(config)
            return False
        schema.validate(config)
    except ValueError as error:
        fail(app_name, error)
    load_tensorflow_quietly()
    return True


def _fields(config, prefix=""):
    for key, value in config.items():
        if hasattr(value, "items"):
            yield from _fields(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def print_config(config) -> None:
    """Every field of a resolved config, one `--config.<field>=<value>` a
    line (what can be set on the command line)."""
    for field, value in _fields(config):
        print(f"--config.{field}={value!r}")


def _unknown_field(error: Exception, argv: list[str]) -> None:
    """Exits with one line for a `--config.<field>` that names no field."""
    text = str(error.args[0] if error.args else error)
    # The message may arrive escaped once more (a KeyError inside an
    # AttributeError).
    text = text.replace("\\'", "'").replace("\\n", "\n")
    names = re.findall(r"'(\w+)'", text)
    bad = names[0] if names else text
    received = next(
        (a for a in argv if re.match(rf"--config\.(\w+\.)*{bad}\b", a)),
        f"--config.{bad}",
    )
    suggestion = re.findall(r'Did you mean "(\w+)"', text)
    hint = f" Did you mean {suggestion[0]!r}?" if suggestion else ""
    print(
        f"{os.path.basename(argv[0])}: error: {received}: the config has no "
        f"field {bad!r}.{hint} --print_config lists every field.",
        file=sys.stderr,
    )
    raise SystemExit(2)


def parse_flags(argv: list[str]) -> list[str]:
    """`app.run`'s flag parser: absl's, with one-line errors (no traceback,
    no usage dump)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(
            f"{os.path.basename(argv[0])}: error: {error}{_flag_hint(error)}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    except (KeyError, AttributeError) as error:
        _unknown_field(error, argv)


# Short names users type for flags that have long ones.
FLAG_ALIASES = {
    "lr": "learning_rate",
    "learning-rate": "learning_rate",
    "bs": "batch_size",
    "batch-size": "batch_size",
    "wd": "weight_decay",
    "steps": "steps_per_epoch",
    "epoch": "epochs",
    "data": "data_dir",
    "out": "output_dir",
}


def _flag_hint(error) -> str:
    """`. Did you mean --x?` for an unknown flag with a known long name (an
    alias, or absl's closest match) that this app defines."""
    match = re.search(r"Unknown command line flag '([^']+)'", str(error))
    if not match or "Did you mean" in str(error):
        return ""
    name = match.group(1)
    known = set(flags.FLAGS)
    guess = FLAG_ALIASES.get(name)
    if guess not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        guess = close[0] if close else None
    if guess is None and name.startswith("config_"):
        guess = "config." + name.removeprefix("config_")
    return f". Did you mean --{guess}?" if guess else ""


def interrupted(app_name: str, stopped: BaseException) -> None:
    """Exits with `stopping.EXIT_INTERRUPTED` (75) after a saved stop."""

    print(f"{app_name}: {stopped}", file=sys.stderr)
    raise SystemExit(stopping.EXIT_INTERRUPTED)


def fail(app_name: str, error: BaseException) -> None:
    """Exits non-zero with a one-line message naming the problem."""
    print(f"{app_name}: error: {error}", file=sys.stderr)
    raise SystemExit(1)


@contextlib.contextmanager
def _native_stderr_silenced():
    """Sends what C++ code writes to stderr (file descriptor 2) to
    /dev/null; Python's own errors still surface once it is restored."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def finished_or_restarted(config, workdir: str) -> bool:
    """Before a training app trains: with `--restart`, sets the old workdir
    aside and lets the new export replace the old one; otherwise, when the
    run already finished, says so (result and export) and returns True:
    nothing is left to do."""
    from absl import logging

    from spatialmix_keras import train

    if flags.FLAGS.restart:
        moved = train.set_aside(workdir)
        if moved:
            logging.info("Restarting: the old workdir is now %s", moved)
        config.overwrite = True
        return False
    done = train.finished_metrics(config, workdir)
    if done is None:
        return False
    metric = next(k for k in done if k.startswith("final_test_"))
    logging.info(
        "Already finished: %s %.4f after %d epochs, workdir %s%s. Pass "
        "--restart to train it again from scratch.",
        metric.removeprefix("final_"),
        done[metric],
        done["epochs"],
        workdir,
        f", export {done['export_path']}" if done["export_path"] else "",
    )
    return True


def load_tensorflow_quietly() -> None:
    """Imports TensorFlow and lets it find its devices without its start-up
    lines (the oneDNN notice, "Could not find cuda drivers", a `cuInit`
    error on a machine without a GPU: nothing a user can act on), which
    TensorFlow prints whatever `TF_CPP_MIN_LOG_LEVEL` says. Kept when
    `TF_CPP_MIN_LOG_LEVEL` is 0 (asked for everything)."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        import tensorflow as tf
    else:
        with _native_stderr_silenced():
            import tensorflow as tf

            tf.config.list_physical_devices()


def run(main, doc: str) -> None:
    """Runs an app's `main` with `parse_flags`; `doc` (the app module's
    docstring) heads `--help` also when started as a console command."""
    from absl import app

    command = os.path.basename(sys.argv[0])
    if command.startswith("spatialmix-"):  # the installed console command
        doc = re.sub(r"python -m apps\.(\w+)", r"spatialmix-\1", doc)
        doc = re.sub(r"--config=configs/(\w+)\.py", r"--config=\1", doc)
    sys.modules["__main__"].__doc__ = doc

    def checked(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
        try:
            return main(argv)
        except KeyboardInterrupt:  # before a run's own stop handling
            print(
                f"{command.removesuffix('.py')}: interrupted (rerun the "
                "command to resume from the last checkpoint, if any).",
                file=sys.stderr,
            )
            raise SystemExit(130) from None

    app.run(checked, flags_parser=parse_flags)
