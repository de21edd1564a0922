import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.noise_residual import NoiseResidual
from claimlens.forensics.evidence import Evidence


def _encode(rgb, quality=None):
    b = io.BytesIO()
    if quality is None:
        Image.fromarray(rgb).save(b, "PNG")
    else:
        Image.fromarray(rgb).save(b, "JPEG", quality=quality)
    return b.getvalue()


def _run(rgb, quality=None):
    return run_detector(NoiseResidual(), Evidence.from_bytes(_encode(rgb, quality)))


Y0, X0, S = 100, 150, 140


def _camera_photo(seed=0):
    """astronaut with its own sensor-like noise."""
    rng = np.random.default_rng(seed)
    a = data.astronaut().astype(np.float32)
    return a + rng.normal(0, 3.0, a.shape).astype(np.float32)


def _splice(seed=0):
    """A region of another photo, resampled (its camera noise gone), pasted into the noisy photo."""
    a = _camera_photo(seed)
    donor = data.coffee()[100 : 100 + S, 200 : 200 + S].astype(np.float32)
    small = cv2.resize(donor, (S * 2 // 3, S * 2 // 3), interpolation=cv2.INTER_AREA)
    a[Y0 : Y0 + S, X0 : X0 + S] = cv2.resize(small, (S, S), interpolation=cv2.INTER_CUBIC)
    truth = np.zeros(a.shape[:2], bool)
    truth[Y0 : Y0 + S, X0 : X0 + S] = True
    return np.clip(a, 0, 255).astype(np.uint8), truth


@pytest.mark.parametrize("seed", [0, 1])
def test_splice_without_camera_noise_is_found_and_localised(seed):
    img, truth = _splice(seed)
    r = _run(img)
    assert r.score >= 0.5
    assert r.findings and r.findings[0].severity in ("low", "medium")
    marked = r.map >= 0.5
    assert (marked & truth).sum() / max(1, marked.sum()) >= 0.5  # what it marks is mostly the splice
    assert (marked & truth).sum() / truth.sum() >= 0.3  # and a good part of it


def test_clean_photo_is_not_flagged():
    clean = np.clip(_camera_photo(0), 0, 255).astype(np.uint8)
    spliced, _ = _splice(0)
    r_clean, r_splice = _run(clean), _run(spliced)
    assert r_clean.score < 0.5 and not r_clean.findings
    assert r_splice.score > r_clean.score + 0.3
    assert r_clean.map is None or (r_clean.map >= 0.5).mean() < 0.01


def test_evidence_is_numeric(coffee):
    r = _run(coffee, 90)
    assert r.applicable and 0.0 <= r.score <= 1.0
    ev = r.extra["evidence"]
    assert ev and all(isinstance(v, float) and np.isfinite(v) for v in ev.values())


def test_pristine_photos_have_no_high_findings(shared_data, coffee):
    assert _run(coffee).score < 0.5
    for p in ["TruFor/test_docker/images/pristine1.jpg", "multiview/crackforest/image/010.jpg",
              "c2pa-rs/sdk/tests/fixtures/earth_apollo17.jpg", "solidus_products/sample/db/samples/images/solidus_mug_set.png"]:
        r = run_detector(NoiseResidual(), Evidence.from_path(shared_data / p))
        assert not r.reason.startswith("internal error"), r.reason
        assert not [f for f in r.findings if f.severity in ("high", "critical")], p


def test_flat_photo_gives_a_reason():
    for value in (0, 128, 255):
        r = _run(np.full((300, 400, 3), value, np.uint8))
        assert r.score in (None, 0.0) and r.reason and not r.reason.startswith("internal error")


def test_tiny_photo_is_not_applicable():
    r = _run(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    assert not r.applicable and "small" in r.reason


@pytest.mark.parametrize("shape", [(1, 1), (40, 40), (64, 3000), (3000, 50), (200, 200), (256, 384)])
def test_odd_images_give_bounded_scores(shape):
    rng = np.random.default_rng(0)
    for img in (np.full(shape + (3,), 255, np.uint8), np.zeros(shape + (3,), np.uint8),
                rng.integers(0, 255, shape + (3,), dtype=np.uint8)):
        r = _run(img)
        assert not r.reason.startswith("internal error"), r.reason
        assert r.score is None or 0.0 <= r.score <= 1.0
        if r.map is not None:
            assert r.map.shape == shape and 0.0 <= r.map.min() and r.map.max() <= 1.0
