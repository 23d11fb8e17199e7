"""Flag plumbing shared by the apps: flags override config fields."""

from __future__ import annotations

import os
import sys

from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_path(name: str) -> str:
    return os.path.join(REPO, "configs", name)


def apply_flag_overrides(config, mapping: dict[str, str]) -> None:
    """Copies each flag the user gave into its config field.

    Args:
        mapping: flag name -> dotted config field (`"learning_rate"` ->
            `"optimizer.learning_rate"`).
    """
    for flag_name, field in mapping.items():
        flag = flags.FLAGS[flag_name]
        if not flag.present:
            continue
        node = config
        *parents, leaf = field.split(".")
        for parent in parents:
            node = node[parent]
        with config.unlocked() if hasattr(config, "unlocked") else _null():
            node[leaf] = flag.value


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def fail(app_name: str, error: BaseException) -> None:
    """Exits non-zero with a one-line message naming the problem."""
    print(f"{app_name}: error: {error}", file=sys.stderr)
    raise SystemExit(1)
