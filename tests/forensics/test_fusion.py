import numpy as np

from claimlens.forensics.base import DetectorResult, Finding
from claimlens.forensics.fusion import CALIBRATION, fuse, regions_of, trace_probability, verdict_for

SHAPE = (60, 80)


def _box(y0, y1, x0, x1, v=1.0):
    m = np.zeros(SHAPE, np.float32)
    m[y0:y1, x0:x1] = v
    return m


def test_no_evidence_gives_zero_risk():
    rs = [DetectorResult(n, score=0.0, map=np.zeros(SHAPE, np.float32)) for n in CALIBRATION["weights"]]
    f = fuse(rs, {}, SHAPE)
    assert f.risk == 0.0 and f.verdict == "no_evidence_of_forgery"
    assert not f.regions


def test_trace_probability_is_monotone_and_bounded():
    lo = trace_probability({"jpeg_traces": 0.2})
    hi = trace_probability({"jpeg_traces": 0.9, "copy_move": 0.9})
    assert 0.0 <= lo < hi <= 1.0
    assert trace_probability({}) == 0.0


def test_severity_floor_and_reasons_are_ranked():
    rs = [
        DetectorResult("exif", findings=[Finding("exif", "software", "low", "edited in an app")], score=None),
        DetectorResult("c2pa", findings=[Finding("c2pa", "ai", "critical", "C2PA says AI-generated")], score=None),
        DetectorResult("jpeg_traces", findings=[Finding("jpeg_traces", "q", "info", "quality 90")], score=0.0),
    ]
    f = fuse(rs, {}, SHAPE)
    assert f.risk >= 0.92 and f.verdict == "likely_forged"
    assert [r.severity for r in f.reasons] == ["critical", "low"]  # info findings are not reasons


def test_photo_only_maps_are_scaled_by_confidence():
    rs = [
        DetectorResult("copy_move", score=0.9, map=_box(10, 30, 10, 30)),
        DetectorResult("noise_residual", score=0.05, map=_box(40, 60, 40, 80)),  # barely fires: faint
    ]
    f = fuse(rs, {}, SHAPE)
    assert f.mask[20, 20] and not f.mask[50, 60]
    assert len(f.regions) == 1 and f.contributions["map_from"] == "copy_move+noise_residual"


def test_decisive_reference_map_dominates():
    rs = [
        DetectorResult("reference", score=0.95, map=_box(0, 10, 0, 10)),
        DetectorResult("copy_move", score=0.9, map=_box(30, 50, 30, 50)),
    ]
    f = fuse(rs, {"reference": 1.0}, SHAPE)
    assert f.contributions["map_from"] == "reference"
    assert f.mask[5, 5] and not f.mask[40, 40]
    assert f.risk >= 0.9


def test_not_applicable_results_are_ignored():
    rs = [DetectorResult("jpeg_traces", applicable=False, reason="PNG"), DetectorResult("x", score=None)]
    f = fuse(rs, {}, SHAPE)
    assert f.risk == 0.0 and f.map is None and f.mask is None


def test_verdict_names_and_regions():
    assert {verdict_for(0.1), verdict_for(0.5), verdict_for(0.8)} == {
        "no_evidence_of_forgery", "suspicious", "likely_forged"}
    m = _box(5, 25, 5, 25) > 0
    r = regions_of(m, m.astype(np.float32))
    assert r[0]["bbox"] == [5, 5, 20, 20]
