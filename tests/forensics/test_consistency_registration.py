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
