"""Stable Diffusion invisible watermark (dwtDct): embed, re-encode, read back; photos never match."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors import sd_watermark as W
from claimlens.forensics.evidence import Evidence


@pytest.fixture(scope="module")
def astronaut_bgr():
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # 512x512, colourful like SD output


def save(bgr, fmt, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(b, fmt, **kw)
    return b.getvalue()


def detect(data_bytes):
    return run_detector(W.SdWatermarkDetector(), Evidence.from_bytes(data_bytes, "t"))


@pytest.mark.parametrize("model", list(W.MARKS))
def test_embed_and_read_back_lossless(astronaut_bgr, model):
    mark = W.MARKS[model]
    enc = W.encode(astronaut_bgr, mark)
    assert np.abs(enc.astype(int) - astronaut_bgr).mean() < 5  # invisible: small change
    assert (W.decode_bits(enc, len(mark)) == mark).all()
    r = detect(save(enc, "PNG"))
    assert [f.details["model"] for f in r.findings] == [model]
    assert r.findings[0].severity == "critical"


@pytest.mark.parametrize("model", list(W.MARKS))
def test_survives_jpeg_q90(astronaut_bgr, model):
    mark = W.MARKS[model]
    jpg = save(W.encode(astronaut_bgr, mark), "JPEG", quality=90, subsampling=0)
    r = detect(jpg)
    assert [f.details["model"] for f in r.findings] == [model]
    assert r.findings[0].details["bit_errors"] <= W.MAX_ERRORS[model]


def test_sd1_text_decodes():
    # The SD 1/2 mark is the ASCII text "StableDiffusionV1" (136 bits), read back as bytes.
    assert np.packbits(W.SD1_BITS).tobytes() == b"StableDiffusionV1"
    assert len(W.SDXL_BITS) == 48 and np.packbits(W.SDXL_BITS).tobytes().hex() == "b3ec907bb19e"


def test_plain_images_do_not_match():
    for rgb in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket()):
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        res = W.check(bgr)
        for model, r in res.items():
            assert r["errors"] > W.MAX_ERRORS[model], (model, r)
        assert detect(save(bgr, "PNG")).findings == []


def test_real_photos_do_not_match(shared_data):
    files = sorted((shared_data / "multiview/superglue/assets/phototourism_sample_images").glob("*.jpg"))[:6]
    files += [shared_data / "TruFor/test_docker/images/pristine2.jpg", shared_data / "c2pa-rs/sdk/tests/fixtures/IMG_0003.jpg"]
    for p in files:
        r = run_detector(W.SdWatermarkDetector(), Evidence.from_path(p))
        assert r.applicable and r.findings == [], p.name
        errs = r.extra["bit_errors"]
        assert errs["Stable Diffusion 1/2"] > W.MAX_ERRORS["Stable Diffusion 1/2"]
        assert errs["Stable Diffusion XL"] > W.MAX_ERRORS["Stable Diffusion XL"]


def test_small_image_not_applicable():
    r = detect(save(np.zeros((100, 100, 3), np.uint8), "PNG"))
    assert not r.applicable and "256" in r.reason


def test_photos_larger_than_a_generator_output_are_not_read():
    import io

    import numpy as np
    from PIL import Image

    from claimlens.forensics import Evidence
    from claimlens.forensics.base import run_detector
    from claimlens.forensics.detectors.sd_watermark import MAX_PIXELS, SdWatermarkDetector

    big = np.random.default_rng(1).integers(0, 255, (2100, 2100, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="JPEG", quality=80)
    r = run_detector(SdWatermarkDetector(), Evidence.from_bytes(buf.getvalue(), "big.jpg"))
    assert 2100 * 2100 > MAX_PIXELS
    assert not r.applicable and "larger" in r.reason
