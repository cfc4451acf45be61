"""Helpers shared by the command modules: key=value options, output paths, plots."""

from __future__ import annotations

import ast
import os

__all__ = ["parse_key_values", "check_writable", "use_agg"]


def parse_key_values(items: list[str] | None, what: str) -> dict:
    """Turn ``["dim=100", "seed=1"]`` into ``{"dim": 100, "seed": 1}`` (Python literals)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{what} must look like NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def check_writable(path: str | None) -> None:
    """Fail early, with one clear line, when ``path`` cannot be written."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise OSError(f"cannot write {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise OSError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OSError(f"cannot write {path}: permission denied")


def use_agg() -> None:
    """Select matplotlib's non-interactive backend (plots go to files)."""
    import matplotlib

    matplotlib.use("Agg")
