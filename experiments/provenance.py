r"""Writes where every committed result came from: one table row per run.

Reads each `metrics.json` under a results directory and writes a Markdown
page: the run, its final test accuracy or PSNR, the commit of its code, the
CPU model and its vector units, TensorFlow / Keras versions, whether oneDNN
ran, and the date (`finished_at` where the run recorded it, else the date
its `metrics.json` entered the repository). Regenerate after adding runs:

    python -m experiments.provenance --results=docs/results \
        --output=docs/results/provenance.md
"""

from __future__ import annotations

import glob
import json
import os
import subprocess

from absl import app, flags

# The vector units that decide a run's kernels, shortest first.
_UNITS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")


def units(flags_: list[str] | None) -> str:
    """`"AMX + AVX-512"`-style summary of recorded CPU flags."""
    if not flags_:
        return "not recorded"
    have = set(flags_)
    parts = []
    if "amx_bf16" in have:
        parts.append("AMX")
    if "avx512f" in have:
        parts.append("AVX-512" + (" BF16" if "avx512_bf16" in have else ""))
    elif "avx2" in have:
        parts.append("AVX2")
    return " + ".join(parts) or "no AVX2"


def _committed(path: str) -> str:
    """The date the file first entered git, or "" outside a checkout."""
    path = os.path.abspath(path)
    try:
        out = subprocess.run(
            ["git", "log", "--diff-filter=A", "--format=%as", "--", path],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(path) or ".",
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{out[-1]} (committed)" if out else ""


def row(results: str, path: str) -> list[str]:
    with open(path) as f:
        m = json.load(f)
    versions = m.get("versions") or {}
    score = next(
        (
            f"{100 * m[k]:.2f}%" if "accuracy" in k else f"{m[k]:.2f} dB"
            for k in ("final_test_accuracy", "final_test_psnr")
            if k in m
        ),
        "",
    )
    onednn = versions.get("onednn")
    return [
        os.path.relpath(os.path.dirname(path), results),
        str(m.get("epochs", "")),
        score,
        m.get("code_version") or "not recorded",
        m.get("cpu_model") or "not recorded",
        units(m.get("cpu_flags")),
        " / ".join(versions.get(k, "?") for k in ("tensorflow", "keras"))
        if versions
        else "not recorded",
        "not recorded" if onednn is None else ("on" if onednn else "off"),
        m.get("finished_at") or _committed(path),
    ]


def page(results: str) -> str:
    paths = sorted(
        glob.glob(os.path.join(results, "**", "metrics.json"), recursive=True)
    )
    header = [
        "run",
        "epochs",
        "final test",
        "commit",
        "CPU",
        "vector units",
        "TensorFlow / Keras",
        "oneDNN",
        "date",
    ]
    lines = [
        "# Where each result came from",
        "",
        "Generated from the runs' `metrics.json` by `python -m "
        "experiments.provenance`; do not edit by hand. Runs pair only when "
        "commit, CPU, vector units, versions and oneDNN agree "
        "(`spatialmix_keras.stats.pair_by_machine`).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    lines += ["| " + " | ".join(row(results, p)) + " |" for p in paths]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    text = page(flags.FLAGS.results)
    with open(flags.FLAGS.output + ".tmp", "w") as f:
        f.write(text)
    os.replace(flags.FLAGS.output + ".tmp", flags.FLAGS.output)


if __name__ == "__main__":
    # Defined here, not on import: tests import this module beside others.
    flags.DEFINE_string("results", "docs/results", "Results directory.")
    flags.DEFINE_string("output", None, "Markdown page to write.")
    flags.mark_flag_as_required("output")
    app.run(main)
