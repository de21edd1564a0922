import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.copy_move import CopyMove
from claimlens.forensics.evidence import Evidence


def _jpeg(rgb, q=92):
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=q)
    return b.getvalue()


def _run(b):
    return run_detector(CopyMove(), Evidence.from_bytes(b))


def test_cloned_patch_source_and_target_are_marked():
    a = data.astronaut().copy()
    src, dst, s = (300, 330), (60, 20), 96  # (y, x) corners
    a[dst[0] : dst[0] + s, dst[1] : dst[1] + s] = a[src[0] : src[0] + s, src[1] : src[1] + s]
    r = _run(_jpeg(a))
    assert r.score >= 0.7
    gt = np.zeros(r.map.shape, bool)
    for y, x in (src, dst):
        gt[y : y + s, x : x + s] = True
    pr = r.map >= 0.5
    iou = (pr & gt).sum() / max(1, (pr | gt).sum())
    assert iou >= 0.5, iou
    assert any(f.code == "cloned_region" for f in r.findings)


def test_cloned_patch_in_a_flat_area_by_blocks():
    rng = np.random.default_rng(3)
    a = np.clip(128 + rng.normal(0, 6, (300, 400)), 0, 255).astype(np.uint8)  # textured but keypoint-poor
    a[200:250, 300:360] = a[40:90, 50:110]
    r = _run(_jpeg(np.dstack([a, a, a]), 95))
    assert r.score >= 0.5


def test_pristine_photos_are_clean(shared_data, coffee):
    assert _run(_jpeg(coffee)).score < 0.3
    for p in ["TruFor/test_docker/images/pristine1.jpg", "multiview/crackforest/image/005.jpg",
              "solidus_products/sample/db/samples/images/solidus_mug_set.png"]:
        r = run_detector(CopyMove(), Evidence.from_path(shared_data / p))
        assert not [f for f in r.findings if f.severity in ("high", "critical")], p


@pytest.mark.parametrize("shape", [(1, 1), (31, 31), (40, 2000), (2000, 40), (100, 100)])
def test_odd_and_flat_images(shape):
    for img in (np.full(shape + (3,), 200, np.uint8), np.random.default_rng(0).integers(0, 255, shape + (3,), dtype=np.uint8)):
        r = _run(_jpeg(img))
        assert not r.reason.startswith("internal error"), r.reason


def _paste_disc(rgb, centre, radius, to, angle=0.0, scale=1.0, mirrored=False):
    """Copy the disc at `centre` (x, y) to `to`, rotated (degrees, counter-clockwise) and scaled; returns
    the photo and the source and target masks."""
    h, w = rgb.shape[:2]
    a = np.deg2rad(angle)
    linear = scale * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    if mirrored:
        linear = linear @ np.diag([-1.0, 1.0])
    M = np.hstack([linear, (np.asarray(to, float) - linear @ np.asarray(centre, float))[:, None]])
    source = np.zeros((h, w), np.float32)
    cv2.circle(source, tuple(int(v) for v in centre), radius, 1.0, -1)
    moved = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.GaussianBlur(cv2.warpAffine(source, M, (w, h)), (0, 0), 0.8)[..., None]
    out = np.clip(rgb * (1 - alpha) + moved * alpha, 0, 255).astype(np.uint8)
    return out, source > 0.5, alpha[..., 0] > 0.5


def _marked(r, mask) -> float:
    return float((r.map >= 0.5)[mask].mean())


@pytest.mark.parametrize("angle", [10, 30])
def test_rotated_clone_in_a_real_photo_is_found_with_source_and_target(angle):
    a = data.astronaut()
    img, source, target = _paste_disc(a, centre=(169, 386), radius=36, to=(420, 110), angle=angle)
    r = _run(_jpeg(img, 85))
    assert r.score >= 0.5, r.extra
    assert _marked(r, source) >= 0.5 and _marked(r, target) >= 0.5
    assert any(f.code == "cloned_region" for f in r.findings)


def _small_astronaut():
    return cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)  # a disc of r=15 is 31 px across


@pytest.mark.parametrize("photo, centre, radius, to, angle, scale, mirrored, quality, min_score", [
    (data.coffee, (356, 296), 34, (120, 100), 0, 1.25, False, 85, 0.5),  # scaled up
    (data.astronaut, (169, 386), 36, (420, 110), 20, 1.0, True, 90, 0.5),  # mirrored
    (data.coffee, (356, 296), 34, (120, 100), 30, 0.8, False, 75, 0.5),  # scaled down, strong JPEG
    (_small_astronaut, (85, 193), 15, (171, 63), 30, 1.0, False, 90, 0.3),  # turned, small photo
    (_small_astronaut, (85, 193), 15, (171, 63), 0, 0.8, False, 90, 0.3),  # scaled down, small photo
], ids=["scaled-up", "mirrored", "scaled-down-jpeg75", "small-turned", "small-scaled-down"])
def test_transformed_clone_is_found_with_source_and_target(photo, centre, radius, to, angle, scale, mirrored,
                                                           quality, min_score):
    img, source, target = _paste_disc(photo(), centre=centre, radius=radius, to=to, angle=angle, scale=scale,
                                      mirrored=mirrored)
    r = _run(_jpeg(img, quality))
    assert r.score >= min_score, r.extra
    assert _marked(r, source) >= 0.5 and _marked(r, target) >= 0.5


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "astronaut"])
def test_clean_photos_give_no_finding_after_recompression(name):
    for q in (75, 90):
        r = _run(_jpeg(getattr(data, name)(), q))
        assert r.score < 0.3 and not r.findings, (name, q, r.extra)


def test_genuinely_repeated_objects_are_not_clones():
    coins = data.coins()  # two dozen similar coins, each photographed, none copied
    r = _run(_jpeg(np.dstack([coins] * 3), 90))
    assert r.score < 0.3 and not r.findings, r.extra


@pytest.mark.parametrize("path", [
    "multiview/oxford_affine_mllab/data/leuven2.png",  # rows of alike windows
    "multiview/superglue/assets/phototourism_sample_images/st_pauls_cathedral_37347628_10902811376.jpg",
    "multiview/superglue/assets/phototourism_sample_images/london_bridge_19481797_2295892421.jpg",
])  # the facades are close to mirror-symmetric
def test_look_alikes_and_symmetric_buildings_are_not_clones(shared_data, path):
    rgb = np.asarray(Image.open(shared_data / path).convert("RGB"))
    for q in (75, 90):
        r = _run(_jpeg(rgb, q))
        assert r.score < 0.3 and not r.findings, (q, r.extra)


def test_verification_does_not_depend_on_the_model_direction():
    # the clone's source is not known: a model and its inverse must verify alike, the smaller copy as target
    from claimlens.forensics.detectors.copy_move import _residual, verify

    a = data.coffee()
    img, source, target = _paste_disc(a, centre=(356, 296), radius=34, to=(120, 100), angle=30, scale=0.8)
    gray = cv2.cvtColor(np.asarray(Image.open(io.BytesIO(_jpeg(img, 75)))), cv2.COLOR_RGB2GRAY)
    t = np.deg2rad(30)
    linear = 0.8 * np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    M = np.hstack([linear, (np.array([120.0, 100.0]) - linear @ np.array([356.0, 296.0]))[:, None]])
    r, valid = _residual(gray), np.ones(gray.shape, bool)
    down, up = verify(gray, r, M, valid), verify(gray, r, cv2.invertAffineTransform(M), valid)
    assert down[2] >= 0.8 and abs(down[2] - up[2]) < 0.02, (down[2], up[2])
    for tgt, src, _ in (down, up):
        assert tgt[target].mean() >= 0.8 and src[source].mean() >= 0.8
