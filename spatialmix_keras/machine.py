"""What a result was measured on: CPU model and flags, GPUs, and the commit.

Benchmarks put these in their JSON, training runs in `metrics.json`, and
reports in their header, so that every number says where it came from.
"""

from __future__ import annotations

import os
import subprocess

# The CPU flags that decide which kernels and precisions are fast.
_FLAGS_OF_INTEREST = ("avx2", "fma", "avx512", "amx", "bf16", "vnni")


def cpu_features() -> dict:
    """CPU model and vector flags from /proc/cpuinfo (Linux), else {}."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return {}
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    wanted = sorted(
        f for f in flags if any(part in f for part in _FLAGS_OF_INTEREST)
    )
    return {
        "cpu_model": model,
        "cpu_flags": wanted,
        "cpu_bfloat16": bool({"avx512_bf16", "amx_bf16"} & flags),
    }


def gpu_info() -> list[dict]:
    """Name, driver and memory of each NVIDIA GPU (`nvidia-smi`), else []."""
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) == 3:
            name, driver, memory = fields
            gpus.append({"name": name, "driver": driver, "memory": memory})
    return gpus


def onednn_enabled() -> bool | None:
    """Whether this process runs TensorFlow's oneDNN kernels on the CPU.

    TensorFlow decides once, when it loads: on by default on x86 CPUs with
    AVX-512 class features, off elsewhere (an AVX2-only AMD EPYC here),
    unless `TF_ENABLE_ONEDNN_OPTS` says otherwise. The two paths give
    different float32 rounding (measured 2026-12-04 on the EPYC: epoch-1
    train loss 1.9855660246 with oneDNN off, 1.9855704228 with it on, for
    the same seed, commit and machine). None where TensorFlow cannot say.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover (a TensorFlow without it)
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def library_versions() -> dict:
    """What decides a run's arithmetic besides its seed and commit: the
    library versions and whether oneDNN's kernels ran. The same seed and
    commit reproduce bit for bit only with the same ones (and the same CPU
    flags, which choose oneDNN's kernels)."""
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "onednn": onednn_enabled(),
    }


def _git(*args) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return subprocess.run(
        ["git", *args],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.strip()


def code_version() -> str | None:
    """The git commit of the package's checkout (`+dirty` with uncommitted
    changes), or None outside a git checkout."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit
