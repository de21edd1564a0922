"""Every registered detector honours the interface on ordinary and awkward photos."""

import io

import numpy as np
import pytest
from PIL import Image

from claimlens.forensics import Evidence, analyze
from claimlens.forensics.base import LOAD_ERRORS, REGISTRY, DetectorResult, load_detectors, run_detector

load_detectors()
NAMES = sorted(REGISTRY)


def jpeg(arr, q=85) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=q)
    return buf.getvalue()


def png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_every_detector_module_loads():
    assert LOAD_ERRORS == {}
    for name, cls in REGISTRY.items():
        assert cls.name == name and cls.weight >= 0


AWKWARD = {
    "tiny": np.full((3, 5, 3), 200, np.uint8),
    "flat": np.full((120, 160, 3), 255, np.uint8),
    "thin": np.random.default_rng(0).integers(0, 255, (8, 900, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", NAMES)
def test_detector_contract(name, coffee):
    det = REGISTRY[name]()
    ref = Evidence.from_bytes(jpeg(coffee, 92), "ref.jpg")
    cases = [Evidence.from_bytes(jpeg(coffee), "c.jpg", [ref]), Evidence.from_bytes(png(coffee), "c.png", [ref])]
    cases += [Evidence.from_bytes(png(a), f"{k}.png", [ref]) for k, a in AWKWARD.items()]
    for ev in cases:
        r = run_detector(det, ev)
        assert isinstance(r, DetectorResult) and r.detector == name
        assert not r.reason.startswith("internal error"), f"{name} on {ev.name}: {r.reason}"
        if not r.applicable:
            assert r.reason, f"{name} gives no reason for not applying to {ev.name}"
        if r.score is not None:
            assert 0.0 <= r.score <= 1.0
        if r.map is not None:
            assert r.map.shape == (ev.height, ev.width)
        for f in r.findings:
            assert f.detector == name and f.message and f.code


def test_analyze_runs_all_detectors(coffee):
    a = analyze(Evidence.from_bytes(jpeg(coffee), "c.jpg"))
    assert {r.detector for r in a.results} == set(NAMES)
    assert a.verdict in ("likely_forged", "suspicious", "no_evidence_of_forgery")
