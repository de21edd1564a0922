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
