import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.jpeg_traces import JpegTraces
from claimlens.forensics.evidence import Evidence


def _jpeg(rgb, q):
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=q)
    return b.getvalue()


def _png(rgb):
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "PNG")
    return b.getvalue()


def _decode(b):
    return np.array(Image.open(io.BytesIO(b)).convert("RGB"))


def _run(data_bytes):
    return run_detector(JpegTraces(), Evidence.from_bytes(data_bytes))


def _iou(m, box):
    y0, y1, x0, x1 = box
    gt = np.zeros(m.shape, bool)
    gt[y0:y1, x0:x1] = True
    pr = m >= 0.5
    return (pr & gt).sum() / max(1, (pr | gt).sum())


BOX = (96, 224, 160, 288)


def test_double_jpeg_splice_is_found():
    a = data.astronaut()
    base = _decode(_jpeg(a, 60))
    y0, y1, x0, x1 = BOX
    base[y0:y1, x0:x1] = a[y0:y1, x0:x1]  # never compressed at quality 60
    r = _run(_jpeg(base, 85))
    assert r.applicable and r.score >= 0.7
    assert r.extra["components"]["double_jpeg"] >= 0.7
    assert _iou(r.map, BOX) >= 0.4
    assert any(f.code == "compression_inconsistency" and f.severity in ("medium", "high") for f in r.findings)
    assert any(f.code == "jpeg_quality" and f.details["quality"] == 85 for f in r.findings)


def test_png_with_region_off_the_jpeg_lattice():
    a = data.coffee()
    base = _decode(_jpeg(a, 75))
    y0, y1, x0, x1 = BOX
    base[y0:y1, x0:x1] = _decode(_jpeg(a, 75))[y0 + 3 : y1 + 3, x0 + 5 : x1 + 5]  # shifted copy: off-grid
    r = _run(_png(base))
    assert r.score >= 0.7
    assert _iou(r.map, BOX) >= 0.4
    assert "double_jpeg" in r.extra["not_applicable"]
    assert "PNG" in r.extra["not_applicable"]["double_jpeg"]


def test_pristine_photos_have_no_high_findings(shared_data):
    paths = [
        "TruFor/test_docker/images/pristine1.jpg",
        "c2pa-rs/sdk/tests/fixtures/IMG_0003.jpg",
        "c2pa-rs/sdk/tests/fixtures/earth_apollo17.jpg",
        "multiview/crackforest/image/001.jpg",
    ]
    for p in paths:
        r = run_detector(JpegTraces(), Evidence.from_path(shared_data / p))
        assert r.score < 0.5, p
        assert not [f for f in r.findings if f.severity in ("high", "critical")], p


def test_single_jpeg_and_png_are_clean():
    a = data.chelsea()
    assert _run(_jpeg(a, 80)).score < 0.3
    assert _run(_png(a)).score < 0.3


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (20, 300), (16, 2000), (300, 40), (64, 64)])
def test_odd_sizes_never_crash(shape):
    rng = np.random.default_rng(0)
    for img in (np.full(shape + (3,), 255, np.uint8), rng.integers(0, 255, shape + (3,), dtype=np.uint8)):
        for b in (_jpeg(img, 90), _png(img)):
            r = _run(b)
            assert not r.reason.startswith("internal error"), r.reason


def _ghost_splice(rgb, q1, q2, shift=(0, 0)):
    """Paste BOX from a copy compressed at q1 (its grid shifted by `shift`), then save everything at q2."""
    sy, sx = shift
    src = _decode(_jpeg(np.ascontiguousarray(rgb[sy:, sx:]), q1))
    out = _decode(_jpeg(rgb, q2))
    y0, y1, x0, x1 = BOX
    out[y0:y1, x0:x1] = src[y0 - sy : y1 - sy, x0 - sx : x1 - sx]
    return out


@pytest.mark.parametrize("img,q1,q2", [("astronaut", 70, 95), ("chelsea", 60, 90), ("coffee", 50, 75)])
def test_jpeg_ghost_localises_a_region_compressed_at_another_quality(img, q1, q2):
    a = getattr(data, img)()
    r = _run(_jpeg(_ghost_splice(a, q1, q2), q2))
    assert r.extra["components"]["ghost"] >= 0.7
    assert abs(r.extra["ghost_quality"] - q1) <= 10
    assert _iou(r.map, BOX) >= 0.4
    assert any(f.code == "compression_inconsistency" for f in r.findings)


def test_jpeg_ghost_on_a_png():
    a = data.astronaut()
    # the region carries a quality-60 history the rest does not
    r = _run(_png(_ghost_splice(a, 60, 100)))
    assert r.extra["components"]["ghost"] >= 0.7 and _iou(r.map, BOX) >= 0.4
    assert "PNG" in r.extra["not_applicable"]["double_jpeg"]



@pytest.mark.parametrize("img", ["astronaut", "coffee"])
def test_non_aligned_double_jpeg_localises_the_region_off_the_earlier_grid(img):
    # compressed at quality 60, cropped by (3, 5) px, a never-compressed region pasted, saved at 92
    a = getattr(data, img)()
    base = _decode(_jpeg(a, 60))[3:, 5:].copy()
    y0, y1, x0, x1 = BOX
    base[y0:y1, x0:x1] = a[3:, 5:][y0:y1, x0:x1]
    r = _run(_jpeg(base, 92))
    assert r.extra["grid_offset"] == [5, 3]
    assert r.extra["components"]["nonaligned_jpeg"] >= 0.7
    assert _iou(r.map, BOX) >= 0.4
    # the same photo without the paste: the earlier lattice holds everywhere
    clean = _run(_jpeg(_decode(_jpeg(a, 60))[3:, 5:].copy(), 92))
    assert clean.extra["components"].get("nonaligned_jpeg", 0.0) < 0.3


def test_jpeg_ghost_quiet_on_single_compression():
    for img in (data.chelsea(), data.coffee()):
        for q in (75, 90):
            assert _run(_jpeg(img, q)).extra["components"]["ghost"] < 0.3
        assert _run(_png(img)).extra["components"]["ghost"] < 0.3
