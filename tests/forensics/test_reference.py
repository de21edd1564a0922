"""The reference detector: derived copies (with and without edits), independent captures, unrelated photos."""

import csv
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.reference import ReferenceDetector
from claimlens.forensics.evidence import Evidence


def encode(img, fmt="JPEG", q=90):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **({"quality": q} if fmt == "JPEG" else {}))
    return buf.getvalue()


def evidence(img, name, refs=(), fmt="JPEG", q=90):
    return Evidence.from_bytes(encode(img, fmt, q), name, references=list(refs))




def paint_stain(img):
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    cv2.ellipse(layer, (int(0.55 * w), int(0.6 * h)), (w // 10, h // 14), 20, 0, 360, 1.0, -1)
    soft = cv2.GaussianBlur(layer, (0, 0), w / 150) * 0.75
    out = img.astype(np.float32) * (1 - soft[..., None]) + np.array([110, 75, 35], np.float32) * soft[..., None]
    return np.clip(out, 0, 255).astype(np.uint8), soft > 0.25


def iou(a, b):
    return np.logical_and(a, b).sum() / max(1, np.logical_or(a, b).sum())


def run(claim_img, ref_img, q=90):
    ref = evidence(ref_img, "listing.png", fmt="PNG")
    ev = evidence(claim_img, "claim.jpg", [ref], q=q)
    return run_detector(ReferenceDetector(), ev)


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


def test_reencoded_copy_is_derived_unedited(coffee):
    res = run(coffee, coffee, q=50)
    ref = res.extra["references"][0]
    assert ref["relation"] == "derived"
    assert res.extra["edited_regions"] == []
    assert [f.code for f in res.findings] == ["derived_unedited"]
    assert res.score < 0.1


def test_crack_on_copy_is_found(coffee, paint_crack):
    img, mask = paint_crack(coffee)
    res = run(img, coffee, q=80)
    assert res.extra["references"][0]["relation"] == "derived"
    assert res.findings[0].code == "derived_with_edits" and res.findings[0].severity == "critical"
    assert res.score > 0.6
    assert res.map.shape == mask.shape
    assert iou(res.map >= 0.5, mask) >= 0.5


@pytest.mark.parametrize("transform", ["rot90", "mirror", "scale", "crop_rot", "warm"])
def test_stain_survives_transforms(astronaut, transform):
    img, mask = paint_stain(astronaut)
    m = mask.astype(np.uint8)
    if transform == "rot90":
        img, m = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE), cv2.rotate(m, cv2.ROTATE_90_CLOCKWISE)
    elif transform == "mirror":
        img, m = img[:, ::-1].copy(), m[:, ::-1].copy()
    elif transform == "scale":
        img = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
    elif transform == "crop_rot":
        img, m = img[60:460, 80:480], m[60:460, 80:480]
        R = cv2.getRotationMatrix2D((200, 200), 6, 1.0)
        img, m = cv2.warpAffine(img, R, (400, 400)), cv2.warpAffine(m, R, (400, 400), flags=cv2.INTER_NEAREST)
    elif transform == "warm":
        img = np.clip(img * np.array([1.12, 1.0, 0.85]), 0, 255).astype(np.uint8)
    res = run(img, astronaut, q=70)
    assert res.extra["references"][0]["relation"] == "derived"
    assert res.findings[0].code == "derived_with_edits"
    # the small-angle rotation resamples the feathered rim twice; its IoU sits just under 0.5
    assert iou(res.map >= 0.5, m > 0) >= (0.45 if transform == "crop_rot" else 0.5)
    assert 0 < res.extra["references"][0]["edited_fraction"] < 0.2


def test_scaled_down_copy_has_no_edits(astronaut):
    small = cv2.resize(astronaut, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    res = run(small, astronaut, q=60)
    assert res.extra["references"][0]["relation"] == "derived"
    assert res.extra["edited_regions"] == []


def test_unrelated_photo(coffee, astronaut):
    res = run(coffee, astronaut)
    assert res.extra["references"][0]["relation"] == "unrelated"
    assert res.map is None and res.score == 0.0
    assert res.findings[0].code == "no_matching_reference"


def test_one_entry_per_reference_in_order(coffee, astronaut):
    refs = [evidence(astronaut, "a.png", fmt="PNG"), evidence(coffee, "b.png", fmt="PNG")]
    ev = evidence(coffee, "claim.jpg", refs, q=85)
    res = run_detector(ReferenceDetector(), ev)
    assert [r["path"] for r in res.extra["references"]] == ["a.png", "b.png"]
    assert [r["relation"] for r in res.extra["references"]] == ["unrelated", "derived"]


def test_independent_captures_are_never_derived(shared_data):
    pairs = shared_data / "multiview" / "pairs.csv"
    if not pairs.exists():
        pytest.skip("multiview pairs not available")
    rows = list(csv.DictReader(open(pairs)))
    det = ReferenceDetector()
    derived = []
    for row in rows:
        a = Evidence.from_path(shared_data / "multiview" / row["image_a"])
        b = Evidence.from_path(shared_data / "multiview" / row["image_b"], references=[a])
        rel = det.run(b).extra["references"][0]["relation"]
        if rel == "derived":
            derived.append(row["image_b"])
    assert derived == []
