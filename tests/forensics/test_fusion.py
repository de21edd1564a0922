import numpy as np

from claimlens.forensics.base import DetectorResult, Finding
from claimlens.forensics.fusion import (
    CALIBRATION, FEATURE_CAP, LIKELY_FORGED, LONE_CAP, TRACE_DETECTORS, fuse, fuse_maps, regions_of, scaled,
    trace_evidence, trace_features, trace_probability, verdict_for,
)

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
    # no share of the evidence (below the typical clean photo's noise score): its map is left out
    assert len(f.regions) == 1 and f.contributions["map_from"] == "copy_move"
    m, used = fuse_maps(rs, {}, SHAPE, rule="score")  # confidence alone: faint, but there
    assert used == "copy_move+noise_residual" and 0 < m[50, 60] < 0.5


def test_the_map_follows_the_detectors_that_carry_the_evidence():
    rs = [
        DetectorResult("copy_move", score=0.9, map=_box(10, 30, 10, 30)),
        DetectorResult("local_edit", score=0.9, map=_box(40, 60, 40, 80)),
    ]
    shares = {"copy_move": 4.0, "local_edit": 1.0}
    m, _ = fuse_maps(rs, {}, SHAPE, shares=shares, rule="evidence")
    assert m[20, 20] > 0.5 > m[50, 60] > 0
    m, _ = fuse_maps(rs, {}, SHAPE, shares=shares, rule="score")
    assert m[20, 20] > 0.5 and m[50, 60] > 0.5
    m, used = fuse_maps(rs, {}, SHAPE, shares=shares, rule="top")
    assert m[20, 20] > 0.5 and m[50, 60] == 0 and used == "copy_move"
    faint = [DetectorResult("copy_move", score=0.2, map=_box(10, 30, 10, 30))]  # confidence 0.4
    assert fuse_maps(faint, {}, SHAPE, shares={"copy_move": 1.0}, rule="top")[0][20, 20] < 0.5
    assert fuse_maps(faint, {}, SHAPE, shares={"copy_move": 1.0}, rule="top_raw")[0][20, 20] == 1.0
    for rule in ("evidence", "top", "top_raw"):
        m, used = fuse_maps(rs, {}, SHAPE, shares={"copy_move": -1.0, "local_edit": 0.0}, rule=rule)
        assert used == "none" and not m.any()  # no evidence, no marked region


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


def test_lone_trace_is_never_likely_forged():
    # any one trace detector at full strength, without a high finding, sends the claim to a person at most
    for name in TRACE_DETECTORS:
        f = fuse([DetectorResult(name, score=1.0, map=_box(10, 30, 10, 30))], {}, SHAPE)
        assert f.contributions["traces"] <= LONE_CAP < LIKELY_FORGED
        assert f.verdict != "likely_forged", name


def test_agreement_of_two_detectors_counts_more_than_either():
    cal = {"bias": -2.0, "weights": {"jpeg_traces": 3.0, "copy_move": 3.0}, "scale": {}, "reference": {}}
    one = trace_evidence({"jpeg_traces": 1.0, "copy_move": 0.0}, cal)[0]
    two, parts = trace_evidence({"jpeg_traces": 1.0, "copy_move": 1.0}, cal)
    assert 0 < one <= LONE_CAP
    assert two > LIKELY_FORGED > one
    assert parts["jpeg_traces"] > 0 and parts["copy_move"] > 0
    # a lone detector: clipped at LONE_CAP, or scaled into [0, LONE_CAP] so that stronger evidence ranks higher
    strong, weak = {"jpeg_traces": 1.0}, {"jpeg_traces": 0.8}
    assert trace_evidence(strong, cal, lone="clip")[0] == LONE_CAP
    assert LONE_CAP > trace_evidence(strong, cal, lone="scale")[0] > trace_evidence(weak, cal, lone="scale")[0] > 0
    # a second detector's evidence below its own reporting threshold is no second opinion
    assert trace_evidence({"jpeg_traces": 1.0, "copy_move": 1.0}, cal, found={"jpeg_traces"})[0] <= LONE_CAP
    assert trace_evidence({"jpeg_traces": 1.0, "copy_move": 1.0}, cal, found={"jpeg_traces", "copy_move"})[0] == two


def test_agreement_needs_a_finding_from_each_detector():
    box = _box(10, 30, 10, 30)
    strong = DetectorResult("jpeg_traces", score=1.0, map=box,
                            findings=[Finding("jpeg_traces", "compression_inconsistency", "medium", "x")])
    quiet = DetectorResult("copy_move", score=0.29, map=box)  # below its own reporting threshold
    loud = DetectorResult("copy_move", score=0.29, map=box, findings=[Finding("copy_move", "cloned_region", "low", "x")])
    assert fuse([strong, quiet], {}, SHAPE).contributions["traces"] <= LONE_CAP
    assert fuse([strong, loud], {}, SHAPE).contributions["traces"] > fuse([strong, quiet], {}, SHAPE).contributions["traces"]


def test_evidence_is_measured_from_the_typical_clean_photo():
    cal = {"bias": -1.0, "weights": {"noise_residual": 0.0, "noise_residual.top_z": 2.0},
           "scale": {"noise_residual.top_z": 2.0}, "reference": {"noise_residual.top_z": 0.5}}
    typical = trace_features([DetectorResult("noise_residual", score=0.0, extra={"evidence": {"top_z": 1.0}})])
    assert typical == {"noise_residual": 0.0, "noise_residual.top_z": 1.0}
    assert trace_evidence(typical, cal)[0] == 0.0
    assert trace_evidence({"noise_residual": 0.0, "noise_residual.top_z": 4.0}, cal)[0] > 0.2
    # scaled features are capped: an extreme statistic cannot dominate
    assert scaled("noise_residual.top_z", 1e6, cal) == FEATURE_CAP


def test_trace_features_skip_other_and_inapplicable_detectors():
    rs = [
        DetectorResult("jpeg_traces", score=0.4, extra={"evidence": {"ghost": 2.5, "note": "text"}}),
        DetectorResult("copy_move", applicable=False, reason="too small"),
        DetectorResult("ai_spectral", score=0.9, extra={"evidence": {"x": 1.0}}),
    ]
    assert trace_features(rs) == {"jpeg_traces": 0.4, "jpeg_traces.ghost": 2.5}


def test_learned_map_weighs_each_map_by_its_detectors_standing_on_the_photo():
    from claimlens.forensics.fusion import learned_map

    model = {"bias": -4.0, "weights": {"copy_move*top": 6.0, "local_edit*score": 6.0}}
    rs = [
        DetectorResult("copy_move", score=0.9, map=_box(10, 30, 10, 30)),
        DetectorResult("local_edit", score=0.3, map=_box(40, 60, 40, 80)),
    ]
    m, used = learned_map(rs, SHAPE, {"copy_move": 2.0, "local_edit": 1.0}, model)
    assert m[20, 20] > 0.5 and m[50, 60] < 0.5 and m[0, 0] < 0.05  # the carrier marks; 6 * 0.3 - 4 < 0 does not
    assert used == ["copy_move", "local_edit"]
    m, used = learned_map(rs, SHAPE, {"copy_move": 1.0, "local_edit": 2.0}, model)
    assert m[20, 20] < 0.5 and used == ["local_edit"]  # copy_move no longer carries the evidence
    m, used = learned_map(rs, SHAPE, {}, {"bias": -4.0, "weights": {"copy_move*top": 6.0}})
    assert used == [] and not m.any()  # nothing enters: no map at all, not a uniform haze


def test_learned_rule_in_fuse_maps_keeps_the_other_maps():
    import claimlens.forensics.fusion as fusion

    rs = [
        DetectorResult("copy_move", score=0.9, map=_box(10, 30, 10, 30)),
        DetectorResult("visible_label", score=1.0, map=_box(0, 8, 60, 80)),  # not a trace detector: noisy-OR as before
    ]
    saved = fusion.MAP_MODEL
    try:
        fusion.MAP_MODEL = {"bias": -4.0, "weights": {"copy_move": 8.0}}
        m, used = fuse_maps(rs, {}, SHAPE, shares={"copy_move": 1.0}, rule="learned")
    finally:
        fusion.MAP_MODEL = saved
    assert m[20, 20] > 0.5 and m[4, 70] > 0.5 and m[50, 40] < 0.05
    assert set(used.split("+")) == {"copy_move", "visible_label"}


def test_regions_are_reported_only_with_a_verdict_that_claims_an_edit():
    weak = fuse([DetectorResult("reference", score=0.1, map=_box(10, 30, 10, 30))], {"reference": 1.0}, SHAPE)
    assert weak.verdict == "no_evidence_of_forgery"
    assert weak.mask[20, 20] and weak.map[20, 20] == 1.0  # the map still shows where
    assert weak.regions == []  # but the report names no edited region
    strong = fuse([DetectorResult("reference", score=0.9, map=_box(10, 30, 10, 30))], {"reference": 1.0}, SHAPE)
    assert strong.verdict == "likely_forged" and strong.regions[0]["bbox"] == [10, 10, 20, 20]
