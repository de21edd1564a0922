"""Shared fixtures: the external data folder and small real photos."""

import os
from pathlib import Path

import cv2
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


def _paint_crack(img, seed=0):
    """A dark jagged crack, anti-aliased, blurred and alpha-feathered; returns the photo and its mask."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    x, y, ang = 0.35 * w, 0.35 * h, 0.6
    pts = []
    for _ in range(14):
        pts.append((x, y))
        ang += rng.normal(0, 0.4)
        x += w / 40 * np.cos(ang)
        y += w / 40 * np.sin(ang)
    cv2.polylines(layer, [np.array(pts, np.int32)], False, 1.0, max(3, w // 150), cv2.LINE_AA)
    soft = cv2.GaussianBlur(layer, (0, 0), 1.0) * 0.9
    out = img.astype(np.float32) * (1 - soft[..., None]) + np.array([25, 20, 18], np.float32) * soft[..., None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    visible = np.abs(out.astype(int) - img).max(2) > 16  # where the crack lies on dark wood it barely shows
    return out, (soft > 0.25) & visible


@pytest.fixture(scope="session")
def paint_crack():
    """Paints a thin dark crack into a photo: paint_crack(img, seed) -> (photo, mask)."""
    return _paint_crack
