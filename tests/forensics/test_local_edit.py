"""local_edit: the learned block model of painted / regenerated regions."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors import local_edit as le
from claimlens.forensics.evidence import Evidence

SEVERE = ("medium", "high", "critical")


def _jpeg(rgb, q=90):
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=q)
    return b.getvalue()


def _run(rgb, q=90):
    return run_detector(le.LocalEdit(), Evidence.from_bytes(_jpeg(rgb, q), "claim.jpg"))


@pytest.fixture(scope="module")
def motorcycle():
    """A real photo the model never saw in training (500x741)."""
    return data.stereo_motorcycle()[0]


def _patch_mask(shape, y0, x0, r):
    m = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(m, (x0, y0), (r, int(r * 0.8)), 20, 0, 360, 255, -1)
    return m > 0


def _regenerated(rgb, mask, seed=0):
    """A patch re-rendered by an editor: smoothed, its own noise, a colour drift, other compression."""
    rng = np.random.default_rng(seed)
    f = rgb.astype(np.float32)
    regen = cv2.GaussianBlur(f, (0, 0), 1.4) * np.float32([1.03, 0.98, 0.97])
    regen += rng.normal(0, 3.0, f.shape).astype(np.float32)
    regen = np.asarray(Image.open(io.BytesIO(_jpeg(np.clip(regen, 0, 255).astype(np.uint8), 60))), np.float32)
    a = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)[..., None]
    return np.clip(regen * a + f * (1 - a), 0, 255).astype(np.uint8)


def _stain(rgb, mask):
    """A painted stain: a flat brown tint, feathered."""
    f = rgb.astype(np.float32)
    a = 0.75 * cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)[..., None]
    stain = cv2.GaussianBlur(f, (0, 0), 2.0) * 0.5 + np.float32([70, 45, 20])
    return np.clip(stain * a + f * (1 - a), 0, 255).astype(np.uint8)


def _iou(prob_map, truth):
    p = prob_map >= 0.5
    return float((p & truth).sum()) / max(1.0, float((p | truth).sum()))


def test_weights_present_and_small():
    assert le.WEIGHTS.exists() and le.WEIGHTS.stat().st_size < 1_000_000
    p = le.load_params()
    assert p["w1"].shape == (len(p["mu"]), p["b1"].shape[0])


@pytest.mark.parametrize("edit", [_regenerated, pytest.param(_stain, marks=pytest.mark.xfail(
    reason="known shortfall: a feathered tint keeps the photo's noise; image-level separation is weak "
    "(held-out image AUC about 0.6, see bench.train_local_edit)", strict=True))])
def test_edit_on_held_out_photo_scores_higher_and_is_located(motorcycle, edit):
    mask = _patch_mask(motorcycle.shape, 260, 420, 70)
    clean = _run(motorcycle)
    forged = _run(edit(motorcycle, mask))
    assert clean.applicable and forged.applicable
    assert forged.score > clean.score
    # the map beats the trivial baseline of marking the whole photo
    trivial = float(mask.sum()) / mask.size
    assert _iou(forged.map, mask) > trivial or float(forged.map[mask].mean()) > 2 * float(forged.map[~mask].mean())


@pytest.mark.parametrize("name", ["stereo_motorcycle", "coffee", "chelsea"])
def test_pristine_photos_give_no_finding_above_low(name):
    rgb = getattr(data, name)()
    rgb = rgb[0] if isinstance(rgb, tuple) else rgb
    r = _run(rgb, 88)
    assert r.applicable
    assert not [f for f in r.findings if f.severity in SEVERE], [f.message for f in r.findings]


@pytest.mark.parametrize("shape", [(3, 5), (40, 700), (90, 90)])
def test_tiny_photos_give_a_reason(shape):
    rgb = np.random.default_rng(0).integers(0, 255, shape + (3,), dtype=np.uint8)
    r = _run(rgb)
    assert not r.applicable and "too small" in r.reason


def test_flat_photo_gives_a_reason_not_a_crash():
    r = _run(np.full((240, 320, 3), 200, np.uint8))
    assert r.applicable and r.score == 0.0 and r.reason and not r.findings


def test_finding_carries_a_bbox(motorcycle):
    mask = _patch_mask(motorcycle.shape, 260, 420, 90)
    r = _run(_regenerated(motorcycle, mask, seed=3))
    for f in r.findings:
        assert f.code == "locally_edited_region" and len(f.details["bbox"]) == 4


def test_training_script_reproduces_the_weight_shapes(tmp_path):
    from bench import train_local_edit as t

    params = t.train(tmp_path / "no-shared-data", corpus_n=10, splices=1, sources="skimage", epochs=1,
                     seeds=(1000,), log=lambda *a: None)
    shipped = le.load_params()
    for k in ("mu", "sd", "w1", "b1", "w2", "b2", "score_a", "score_b", "medium", "high"):
        assert params[k].shape == shipped[k].shape, k
    assert list(params["features"]) == list(shipped["features"])


def test_findings_never_raise_a_verdict_alone(motorcycle):
    # whatever the score, this detector's findings stay weak until it separates photos at image level
    edited = _regenerated(motorcycle, _patch_mask(motorcycle.shape, 260, 420, 70))
    for img in (motorcycle, edited):
        r = _run(img)
        assert all(f.severity in ("info", "low") for f in r.findings)
