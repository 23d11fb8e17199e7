"""Where the training runs under a directory stand, read from their files.

Plain Python (no TensorFlow): a user's `--status` answers at once.

>>> rows = status_rows("/nonexistent")
>>> rows
[]
"""

from __future__ import annotations

import json
import os


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def status_rows(root: str) -> list[dict]:
    """One row per run directory under `root` (a directory holding a
    `config.json`): `run`, `model`, `epochs` ("done / planned"), `result`
    (the last epoch's test accuracy or PSNR, or "-"), `state` ("finished",
    "started" or "not started") and `export` (its path, or "-")."""
    if not os.path.isdir(root):
        return []
    rows = []
    for name in sorted(os.listdir(root)):
        workdir = os.path.join(root, name)
        config = _read(os.path.join(workdir, "config.json"))
        if not isinstance(config, dict):
            continue
        history = _read(os.path.join(workdir, "history.json")) or []
        finished = os.path.exists(os.path.join(workdir, "metrics.json"))
        last = history[-1] if history and isinstance(history, list) else {}
        result = next(
            (
                f"{100 * v:.2f}%" if k == "test_accuracy" else f"{v:.2f} dB"
                for k, v in last.items()
                if k in ("test_accuracy", "test_psnr")
            ),
            "-",
        )
        model = config.get("model", {})
        export = os.path.join(
            config.get("export_dir") or "saved_models",
            config.get("run_name") or name,
        )
        rows.append(
            {
                "run": name,
                "model": model.get("name", "?")
                if isinstance(model, dict)
                else str(model),
                "epochs": f"{len(history)} / {config.get('epochs', '?')}",
                "result": result,
                "state": "finished"
                if finished
                else ("started" if history else "not started"),
                "export": export if os.path.isdir(export) else "-",
            }
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    """The rows as an aligned text table."""
    if not rows:
        return "no runs"
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
