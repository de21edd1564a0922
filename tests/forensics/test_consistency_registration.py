"""Registration: homographies recovered for rotations, mirrors and scales; similarity share."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from claimlens.forensics.consistency.registration import register
from claimlens.forensics.evidence import Evidence


def ev(img):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=85)
    return Evidence.from_bytes(buf.getvalue(), "x.jpg")


@pytest.mark.parametrize("op", ["rot180", "mirror", "scale"])
def test_homography_maps_reference_onto_claim(coffee, op):
    h, w = coffee.shape[:2]
    if op == "rot180":
        claim, M = cv2.rotate(coffee, cv2.ROTATE_180), np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1.0]])
    elif op == "mirror":
        claim, M = coffee[:, ::-1].copy(), np.array([[-1, 0, w - 1], [0, 1, 0], [0, 0, 1.0]])
    else:
        claim = cv2.resize(coffee, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        M = np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1.0]])
    reg = register(ev(claim), ev(coffee))
    assert reg is not None and reg.inliers > 50 and reg.mirrored == (op == "mirror")
    pts = np.array([[[50.0, 50.0]], [[w - 50.0, h - 50.0]], [[300.0, 200.0]]])
    got = cv2.perspectiveTransform(pts, reg.H)
    want = cv2.perspectiveTransform(pts, M)
    assert np.abs(got - want).max() < 2.0
    assert reg.similar_share > 0.5


def test_perspective_view_is_not_a_similarity(coffee):
    h, w = coffee.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[150, 50], [w - 20, 0], [w, h], [0, h - 90]])
    P = cv2.getPerspectiveTransform(src, dst)
    claim = cv2.warpPerspective(coffee, P, (w, h))
    reg = register(ev(claim), ev(coffee))
    assert reg is not None
    assert reg.similar_share < 0.35



def test_a_partial_plain_fit_does_not_stop_the_mirrored_try(monkeypatch):
    # a mirrored copy of a symmetric product (corpus seed 1, solidus_bottles_1.png) fitted the plain view with
    # 55 of 206 matches: enough to skip SIFT, not to skip the mirrored view (991 of 1030)
    from claimlens.forensics.consistency import registration as R

    def fit(inliers, matches, mirrored):
        return R.Registration(np.eye(3), inliers, matches, 1.0, mirrored, "orb", 0.5)

    tried = []

    def fake_try(claim, ref, kind, flipped, counts=None):
        tried.append((kind, flipped))
        if counts is not None:
            counts.append(1000)
        return {("orb", False): fit(55, 206, False), ("orb", True): fit(991, 1030, True)}.get((kind, flipped))

    monkeypatch.setattr(R, "_try", fake_try)
    reg = R.register(None, None)
    assert reg.mirrored and reg.inliers == 991
    assert tried == [("orb", False), ("orb", True)]  # and no SIFT after a fit that good
    tried.clear()
    monkeypatch.setattr(R, "_try", lambda c, r, k, f, counts=None: tried.append((k, f)) or fit(900, 950, False))
    assert not R.register(None, None).mirrored and tried == [("orb", False)]  # a copy: nothing more to try


def test_mirrored_copy_of_a_symmetric_product_is_found_mirrored(shared_data):
    # the plain view of a row of bottles fits a part of the mirrored copy (55 of 206 matches); the mirrored
    # view fits all of it, and must be tried
    p = shared_data / "solidus_products"
    path = next(iter(sorted(p.rglob("solidus_bottles_1.png"))), None)
    if path is None:
        pytest.skip("solidus_bottles_1.png not in the shared data")
    ref = np.asarray(Image.open(path).convert("RGB"))
    reg = register(ev(np.ascontiguousarray(ref[:, ::-1])), ev(ref))
    assert reg is not None and reg.mirrored
    assert reg.inlier_ratio > 0.8
