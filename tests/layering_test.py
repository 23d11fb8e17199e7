"""The house goes strictly downward: apps -> experiments -> configs ->
library. Read from every module's import statements (ast), and an install
from outside the clone that puts only `spatialmix_keras` in site-packages."""

import ast
import glob
import os
import shutil
import subprocess
import sys

import conftest
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOORS = {"spatialmix_keras": 1, "configs": 2, "experiments": 3, "apps": 4}
STANDARD = set(sys.stdlib_module_names)


def _imports(path):
    """The absolute top-level packages a module imports; a relative import
    stays inside its own folder."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module)
    return found


def _modules(folder):
    return sorted(
        glob.glob(os.path.join(REPO, folder, "**", "*.py"), recursive=True)
    )


@pytest.mark.parametrize("folder", sorted(FLOORS))
def test_no_floor_imports_a_floor_above_it(folder):
    upward = []
    for path in _modules(folder):
        for name in _imports(path):
            top = name.split(".")[0]
            if FLOORS.get(top, 0) > FLOORS[folder]:
                upward.append(f"{os.path.relpath(path, REPO)}: {name}")
    assert upward == []


def test_configs_import_only_ml_collections_and_the_config_schema():
    allowed = {"ml_collections", "spatialmix_keras.schema"}
    found = {}
    for path in _modules("configs"):
        for name in _imports(path):
            if name.split(".")[0] in STANDARD:
                continue
            if name == "spatialmix_keras":  # `from spatialmix_keras import x`
                with open(path) as f:
                    tree = ast.parse(f.read())
                name = {
                    f"spatialmix_keras.{a.name}"
                    for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom)
                    and n.module == "spatialmix_keras"
                    for a in n.names
                }
                name = ",".join(sorted(name))
            if name not in allowed:
                found[os.path.basename(path)] = name
    assert found == {}


@pytest.mark.slow
def test_installed_copy_runs_shipped_configs_from_any_directory(
    tmp_path, data_dir
):
    """A non-editable install into a fresh venv (reusing this environment's
    dependencies), run from outside the clone: only `spatialmix_keras` in
    site-packages, a shipped config by name trains, a wrong name is one
    line listing the shipped configs."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
    )
    python = str(venv / "bin" / "python")
    source = tmp_path / "source"  # pip builds in the tree it installs
    source.mkdir()
    for name in ("pyproject.toml", "README.md", *FLOORS):
        copy = shutil.copytree if name in FLOORS else shutil.copy
        copy(os.path.join(REPO, name), source / name)
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", str(source)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path("
         "'purelib'))"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    top = {
        name
        for name in os.listdir(site)
        if not name.endswith((".dist-info", ".pth", ".virtualenv"))
        and not name.startswith(("_", "pip", "setuptools", "pkg_resources"))
    }
    assert top == {"spatialmix_keras"}
    command = str(venv / "bin" / "spatialmix-classify")
    env = {**os.environ, "SPATIALMIX_DATA_DIR": data_dir}
    wrong = subprocess.run(
        [command, "--config=resnet_cifer10:smoke"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert wrong.returncode != 0
    assert wrong.stderr.strip().splitlines()[-1] == (
        "Invalid value for flag --config: no file 'resnet_cifer10', and no "
        "shipped config of that name. Shipped configs: convmixer_cifar10, "
        "convmixer_smoothing, resnet_cifar10, resnet_imagenet, "
        "unshuffle_cifar10, unshuffle_mnist."
    )
    run = subprocess.run(
        [command, "--config=resnet_cifar10:smoke", "--workdir=run",
         "--export_dir=exports"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done: final test accuracy" in run.stderr
    where = subprocess.run(
        [python, "-c", "import spatialmix_keras as s; print(s.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert where.startswith(site)


@pytest.mark.parametrize(
    "imports",
    [
        "import keras; import spatialmix_keras",
        "import spatialmix_keras; import keras",
        "import spatialmix_keras.schema; import tensorflow; import keras",
    ],
)
def test_layers_register_whichever_is_imported_first(imports):
    """The package loads its layers lazily (configs parse without
    TensorFlow), yet once it and Keras are both imported a `.keras` file
    of ours loads with plain Keras."""
    code = (
        f"import sys; {imports}\n"
        "print(keras.saving.get_registered_object("
        "'spatialmix_keras>SpatialSeparableConv2D').__name__)\n"
    )
    result = conftest.run_python(code)
    assert result.stdout.split() == ["SpatialSeparableConv2D"], result.stderr


def test_the_schema_imports_without_tensorflow():
    code = (
        "import sys, spatialmix_keras.schema, spatialmix_keras.vocabulary\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    assert conftest.run_python(code).stdout.split() == ["False", "False"]
