"""Real photos for the index tests: scikit-image's bundled photos (always present)."""

import numpy as np
import pytest

PHOTO_NAMES = ("coffee", "astronaut", "chelsea", "rocket", "camera", "immunohistochemistry", "moon", "coins")


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.dstack([a] * 3) if a.ndim == 2 else np.ascontiguousarray(a[..., :3])


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {n: _rgb(getattr(data, n)()) for n in PHOTO_NAMES}
