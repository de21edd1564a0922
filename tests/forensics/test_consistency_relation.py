"""Relation of a claim to a reference: rotated copies, shared logos on different products, cut-outs."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from claimlens.forensics.base import run_detector
from claimlens.forensics.consistency.registration import rgb
from claimlens.forensics.consistency.relation import relate
from claimlens.forensics.detectors.reference import ReferenceDetector
from claimlens.forensics.evidence import Evidence





def iou(a, b):
    return np.logical_and(a, b).sum() / max(1, np.logical_or(a, b).sum())


def encode(img, fmt="JPEG", q=90):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **({"quality": q} if fmt == "JPEG" else {}))
    return buf.getvalue()


def ev(img, name="x.jpg", refs=(), fmt="JPEG", q=90):
    return Evidence.from_bytes(encode(img, fmt, q), name, references=list(refs))


def test_rot180_copy_is_derived(coffee):
    claim = cv2.rotate(coffee, cv2.ROTATE_180)
    rel = relate(ev(claim, q=75), ev(coffee, "ref.png", fmt="PNG"))
    assert rel.relation == "derived"


def test_rot180_copy_with_crack_is_found(coffee, paint_crack):
    img, mask = paint_crack(coffee, seed=3)
    img, mask = cv2.rotate(img, cv2.ROTATE_180), np.rot90(mask, 2)
    ref = ev(coffee, "listing.png", fmt="PNG")
    res = run_detector(ReferenceDetector(), ev(img, "claim.jpg", [ref], q=80))
    assert res.extra["references"][0]["relation"] == "derived"
    assert res.findings[0].code == "derived_with_edits"
    assert iou(res.map >= 0.5, mask) >= 0.4


def product_shot(texture, logo, size=(900, 700)):
    """A product on white: a textured box with a logo printed in its middle."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = 150, 100, w - 150, h - 100
    img[y0:y1, x0:x1] = cv2.resize(texture, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    lh, lw = logo.shape[:2]
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    img[cy - lh // 2:cy - lh // 2 + lh, cx - lw // 2:cx - lw // 2 + lw] = logo
    return img


def test_shared_logo_on_other_product_is_unrelated(coffee):
    from skimage import data

    logo = cv2.resize(data.astronaut()[40:260, 140:360], (130, 130), interpolation=cv2.INTER_AREA)
    mug = product_shot(data.chelsea(), logo)
    tote = product_shot(coffee, logo)
    rel = relate(ev(mug, "claim.jpg", q=90), ev(tote, "other.jpg", q=92))
    assert rel.registration is not None and rel.registration.inliers >= 15  # the logo itself matches
    assert rel.relation == "unrelated"
    # the same product with its logo stays a copy
    assert relate(ev(mug, "claim.jpg", q=80), ev(mug, "listing.png", fmt="PNG")).relation == "derived"


def test_shared_logo_real_products(shared_data):
    found = {p.name: p for p in (shared_data / "solidus_products").rglob("ror_*.jpg")}
    if not {"ror_stein.jpg", "ror_tote.jpg"} <= set(found):
        pytest.skip("ror product photos not available")
    a = Evidence.from_path(found["ror_stein.jpg"])
    b = Evidence.from_path(found["ror_tote.jpg"])
    assert relate(b, a).relation == "unrelated"


def cutout(img):
    """An RGBA cut-out: an elliptic product, transparent (and black underneath) around it."""
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.42), int(h * 0.42)), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    rgba = np.dstack([img * (alpha[..., None] > 0), alpha]).astype(np.uint8)
    a = alpha.astype(np.float32)[..., None] / 255
    on_white = np.clip(img * a + 255 * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    return rgba, on_white


def test_transparent_png_is_composited_on_white(coffee):
    rgba, on_white = cutout(coffee)
    ref = Evidence.from_bytes(encode(rgba, "PNG"), "listing.png")
    assert ref.image.alpha is not None
    assert np.abs(rgb(ref).astype(int) - on_white).max() <= 1
    assert (rgb(ref)[0, 0] == 255).all()


def test_transparent_listing_copy_with_crack(coffee, paint_crack):
    rgba, on_white = cutout(coffee)
    img, mask = paint_crack(on_white, seed=1)
    ref = Evidence.from_bytes(encode(rgba, "PNG"), "listing.png")
    res = run_detector(ReferenceDetector(), ev(img, "claim.jpg", [ref], q=85))
    assert res.extra["references"][0]["relation"] == "derived"
    assert res.findings[0].code == "derived_with_edits"
    assert iou(res.map >= 0.5, mask) >= 0.5
    # nothing flagged on the white surround
    h, w = mask.shape
    outside = np.zeros((h, w), np.uint8)
    cv2.ellipse(outside, (w // 2, h // 2), (int(w * 0.45), int(h * 0.45)), 0, 0, 360, 1, -1)
    assert (res.map[outside == 0] >= 0.5).mean() < 0.01
