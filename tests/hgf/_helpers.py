"""Shared helpers for the HGF tests: where the pyhgf reference files live."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# ../shared/reference/hgf relative to the repository root (tests/hgf/ -> repo root)
REPO = Path(__file__).resolve().parents[2]
REF_DIR = REPO.parent / "shared" / "reference" / "hgf"


def ref_available() -> bool:
    return (REF_DIR / "README.md").exists()


def load_csv(name: str):
    """Return (column names, float array) of a reference CSV, NaN preserved."""
    path = REF_DIR / name
    with open(path) as fh:
        cols = fh.readline().strip().split(",")
    return cols, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def usdchf() -> np.ndarray:
    return load_csv("data_usdchf.csv")[1][:, 0]
