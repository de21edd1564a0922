"""Shared fixtures: the external data folder and small real photos."""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("CLAIMLENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real external images); tests that need it skip where it is absent."""
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"external data not found at {d}")
    return d


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """A real photo shipped with scikit-image (400x600 RGB)."""
    from skimage import data

    return data.coffee()
