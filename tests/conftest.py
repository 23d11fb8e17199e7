"""Shared fixtures: quiet TensorFlow, seeded Keras, the small datasets."""

import concurrent.futures
import functools
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from spatialmix_keras import datasets  # noqa: E402

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


@pytest.fixture(scope="session")
def data_dir():
    """The data directory by the apps' own rule: `$SPATIALMIX_DATA_DIR`
    (`datasets.resolve_data_dir`; `.ci/run` sets it to `../shared/data`).

    Without it the tests that need real data are skipped on a laptop and fail
    in CI (`CI=true`), where the data must be there.
    """
    path = datasets.resolve_data_dir()
    if path is None or not os.path.exists(
        os.path.join(path, "cifar10_small.npz")
    ):
        message = (
            f"cifar10_small.npz not found in {path}: set "
            f"{datasets.DATA_DIR_ENV} to the directory of the .npz datasets."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def cifar_small(data_dir):
    """A few hundred CIFAR-10 images as float32 in [0, 1], and labels."""
    images, labels = datasets.load_arrays(
        "cifar10", "train", data_dir, small=True
    )
    # Every 8th image keeps all ten classes (the file is sorted by class).
    images, labels = images[::8], labels[::8]
    return images.astype(np.float32) / 255.0, labels


def selected_params(request, name):
    """The values of the parameter `name` of the requesting module's tests
    that this session runs (after `-k` and `-m`), in collection order."""
    values = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is not request.module or callspec is None:
            continue
        value = callspec.params.get(name)
        if name in callspec.params and value not in values:
            values.append(value)
    return values


def side_by_side(calls):
    """`{key: call()}` of `{key: call}`, as many at a time as this process
    may use CPUs: for calls that mostly wait on app subprocesses."""
    cpus = len(os.sched_getaffinity(0))
    with concurrent.futures.ThreadPoolExecutor(cpus) as pool:
        futures = {key: pool.submit(call) for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}


def run_side_by_side(commands, timeout=300):
    """`{key: subprocess.CompletedProcess}` of `{key: (argv, kwargs)}`, run
    side by side.

    Most of an app's bad-input run is `import tensorflow` on one core; a
    table of them run one after another leaves the other cores idle.
    """
    return side_by_side(
        {
            key: functools.partial(
                subprocess.run,
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                **kwargs,
            )
            for key, (argv, kwargs) in commands.items()
        }
    )


def refusals(request, tmp_path_factory, command):
    """`{args: (output_dir, result)}` of `command(args, output_dir)` (an app
    run's `(argv, kwargs)`) for each selected `args` parameter of the
    requesting module, run side by side, each with its own output_dir."""
    outs, commands = {}, {}
    for args in map(tuple, selected_params(request, "args")):
        outs[args] = tmp_path_factory.mktemp("refused") / "out"
        commands[args] = command(args, outs[args])
    results = run_side_by_side(commands)
    return {args: (outs[args], results[args]) for args in results}


def app_command(app, *args, data_dir):
    """`(argv, kwargs)` of `python -m apps.<app> *args` in the checkout, for
    `subprocess.run` or `run_side_by_side`: data from `data_dir`, TensorFlow
    quiet."""
    env = {
        **os.environ,
        "SPATIALMIX_DATA_DIR": str(data_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    argv = [sys.executable, "-m", f"apps.{app}", *args]
    return argv, {"cwd": _REPO, "env": env}


def run_python(code, *args, timeout=120):
    """`python -c code *args` in a fresh process in the checkout (TensorFlow
    quiet), as a completed `subprocess.run`."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=_REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lstsq_outside(initial, composed):
    """The energy share no combination of each channel's initial filters
    reaches, by least squares (numpy's lstsq, which also handles
    dependent filters)."""
    k_h, k_w, channels, _ = initial.shape
    outside = 0.0
    for c in range(channels):
        a = initial[:, :, c, :].reshape(k_h * k_w, -1)
        b = composed[:, :, c, :].reshape(k_h * k_w, -1)
        x = np.linalg.lstsq(a, b, rcond=None)[0]
        outside += np.sum((b - a @ x) ** 2)
    return outside / np.sum(composed**2)


def study_settings(pgd_eps):
    """The settings of a small fake robustness study: FGSM at 1 and 2 /255
    on 100 images, PGD-20 at `pgd_eps` on the first 50."""
    return {
        "fgsm_eps": [1 / 255, 2 / 255], "pgd_eps": pgd_eps, "pgd_steps": 20,
        "pgd_step_size": "2.5 * eps / steps", "pgd_random_start": True,
        "pgd_examples": 50, "examples": 100, "seed": 0,
        "high_frequency_cutoff": 0.25,
    }  # fmt: skip
