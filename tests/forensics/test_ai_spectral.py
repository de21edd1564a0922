"""ai_spectral: features, the shipped weights, and the training code behind them."""

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors import ai_spectral as spec
from claimlens.forensics.evidence import Evidence


def ev(rgb, fmt="PNG") -> Evidence:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return Evidence.from_bytes(buf.getvalue(), "claim." + fmt.lower())


def test_shipped_weights_match_features():
    w = json.loads(spec.WEIGHTS.read_text())
    assert w["features"] == list(spec.FEATURE_NAMES)
    n = len(spec.FEATURE_NAMES)
    assert len(w["mean"]) == len(w["std"]) == len(w["coef"]) == n
    assert 0.5 <= w["threshold"] < 1.0
    assert w["crop"] == spec.CROP and w["jpeg_quality"] == spec.JPEG_QUALITY
    assert w["training_files"] and all(isinstance(k, str) for k in w["training_files"])


def test_features_finite_and_deterministic(coffee):
    a = spec.photo_features(coffee)
    b = spec.photo_features(coffee)
    assert a.shape == (spec.MAX_CROPS, len(spec.FEATURE_NAMES))
    assert np.isfinite(a).all()
    assert np.array_equal(a, b)


def test_upsampling_raises_the_half_frequency_peak(coffee):
    """2x upsampling (as generator decoders do) leaves a periodic trace at N/2."""
    h, w = coffee.shape[:2]
    small = cv2.resize(coffee, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (w // 2 * 2, h // 2 * 2), interpolation=cv2.INTER_LINEAR)
    i = spec.FEATURE_NAMES.index("peak_n2")
    assert spec.photo_features(up)[:, i].mean() > spec.photo_features(coffee)[:, i].mean() + 0.5


def test_flat_and_small_photos_are_not_applicable():
    flat = run_detector(spec.AiSpectral(), ev(np.full((400, 400, 3), 240, np.uint8)))
    assert not flat.applicable and "flat" in flat.reason
    small = run_detector(spec.AiSpectral(), ev(np.zeros((200, 300, 3), np.uint8)))
    assert not small.applicable and str(spec.CROP) in small.reason


def test_real_photo_scores_low(coffee):
    r = run_detector(spec.AiSpectral(), ev(coffee, "JPEG"))
    assert r.applicable
    assert 0.0 <= r.extra["probability"] <= 1.0 and len(r.extra["crop_probabilities"]) == spec.MAX_CROPS
    # The score is evidence above the calibrated threshold only.
    if r.extra["probability"] < r.extra["threshold"]:
        assert r.score == 0.0 and r.findings == []
    else:
        assert r.score > 0 and r.findings


def test_logistic_regression_learns_a_separable_problem():
    from bench.train_ai_spectral import image_scores, train

    rng = np.random.default_rng(0)
    d = len(spec.FEATURE_NAMES)
    rows = []
    for label in (0, 1):
        for _ in range(12 if label else 40):
            f = rng.normal(0, 1, (3, d))
            f[:, 2] += 2.5 * label
            rows.append({"label": label, "feats": f})
    model = train(rows, 1.0)
    s = image_scores(model, rows)
    y = np.array([r["label"] for r in rows])
    assert s[y == 1].min() > s[y == 0].max() - 0.2
    assert s[y == 1].mean() > 0.8 and s[y == 0].mean() < 0.2
    assert abs(model["coef"][2]) == np.abs(model["coef"]).max()


@pytest.mark.shared_data
def test_held_out_generated_images_score_above_held_out_real(shared_data):
    """Files the shipped weights never saw (weights list their training files)."""
    from bench.train_ai_spectral import dataset, featurise, image_scores

    w = spec.load_weights()
    trained = set(w["training_files"])
    held = [it for it in dataset(shared_data) if it["key"] not in trained]
    ai = [it for it in held if it["label"] == 1]
    real = [it for it in held if it["label"] == 0 and it["source"] in ("superglue", "crackforest")][:8]
    if len(ai) < 2 or len(real) < 4:
        pytest.skip("not enough held-out images")
    s_ai = image_scores(w, featurise(ai))
    s_real = image_scores(w, featurise(real))
    assert np.median(s_ai) > np.median(s_real)
