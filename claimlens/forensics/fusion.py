"""Fusion: detector results -> one risk score, a verdict, ranked reasons and one edit map.

Score. Three parts, the largest wins:
  * severity floor: a finding of a given severity sets at least SEVERITY_FLOOR[severity] on its own
    (metadata proof such as a generator tag or a broken C2PA signature needs no pixel evidence);
  * trace evidence: the photo-only manipulation-trace detectors (TRACE_DETECTORS) are combined by a
    logistic model fitted on a calibration pool, measured from the typical clean photo so that ordinary
    evidence gives 0; evidence carried by one detector alone is capped below "likely forged" (LONE_CAP);
  * every other detector's score enters a noisy-OR, scaled by its weight (the reference detector, the AI
    detectors, provenance).
Map. When the reference detector found the claim derived from a merchant photo (it returns a map), that
map is the localisation: it is a pixel-exact comparison and dominates. Otherwise the photo-only maps are
combined: the trace detectors' maps by a per-pixel logistic model (MAP_RULE "learned", MAP_MODEL) in which each
map counts by its detector's score, its share of the trace evidence and whether it carries the most; the other
maps (a visible label) by a pixel-wise noisy-OR, each scaled by its detector's confidence.

Calibration procedure (python -m bench.forensics --calibrate, numbers below): the pool is the scikit-image
photos and the odd-indexed half of the multiview real photos (the evaluation uses the even half), each as
one clean re-save and three forgeries made here (painted damage, an object-shaped splice from another
photo, a textured region cloned elsewhere; JPEG 70-95 or PNG), plus the no-reference cases of bench.corpus
seeds 2 and 3 (the benchmarks report seeds 0 and 1). L2-regularised, class-balanced logistic regression with non-negative
weights; the regularisation is chosen by grouped 5-fold held-out log-loss within the pool (a photo's
versions in one fold). The real tampered sets (CASIA, IML-ViT, TruFor), the AI set and corpus seed 0 are
never used to fit anything, so the benchmark's fusion numbers are held out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .base import DetectorResult, Finding

# A finding of this severity sets at least this risk on its own.
SEVERITY_FLOOR = {"info": 0.0, "low": 0.15, "medium": 0.45, "high": 0.75, "critical": 0.92}
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
LIKELY_FORGED = 0.7
SUSPICIOUS = 0.4
MASK_THRESHOLD = 0.5
MIN_REGION_FRACTION = 0.0005  # regions smaller than this share of the photo are dropped as noise

# Logistic model over the photo-only trace detectors (fitted by bench.forensics --calibrate, see above):
# features are each detector's score and optionally continuous statistics it reports in extra["evidence"]
# ("detector.key"), each divided by its scale and capped at FEATURE_CAP. The probability is measured from
# the typical clean photo of the pool ("reference"), so an ordinary photo gives 0.
# Fitted 2026-11 on 192 photos (124 forged, 68 clean; classes balanced): the synthetic calibration split
# (clones of a textured region, object-shaped splices from another photo, painted damage) and corpus seeds 2-3
# (seed 0 is reported by bench.forensics, seed 1 by bench.quality); lambda 0.0001 by grouped 5-fold held-out
# log-loss. Per-detector AUC in the pool (forged vs clean): jpeg_traces 0.63, copy_move 0.61 (0.96 on the
# clones), noise_residual 0.61 (0.68 on the splices), local_edit 0.62.
CALIBRATION = {
    "bias": -0.988,
    "weights": {"jpeg_traces": 2.539, "copy_move": 5.838, "noise_residual": 0.74, "local_edit": 2.635},
    "scale": {},
    "reference": {"noise_residual": 0.0657},
    "suspicious_at": 0.5953,  # held-out evidence that 5 % of the clean calibration photos exceed
}
TRACE_DETECTORS = ("jpeg_traces", "copy_move", "noise_residual", "local_edit")
# The features bench.forensics --calibrate fits weights for: the detector scores. The detectors' continuous
# evidence statistics (top-block contrast of each map, "detector.key") were tried as features too and
# lowered the held-out AUC on the real tampered sets (0.80 vs 0.83 like for like), so they are not used.
FEATURES = ["jpeg_traces", "copy_move", "noise_residual", "local_edit"]
FEATURE_CAP = 3.0
# Trace evidence carried by one detector alone stays below "likely forged": agreement of a second detector
# (each at least LONE_SHARE of the evidence, each with a finding of its own) or a high-severity finding is
# needed for that verdict.
# Share of the clean calibration photos whose trace evidence alone may reach "suspicious" (on_verdict_scale).
CLEAN_SUSPICIOUS = 0.05
LONE_CAP = 0.6
LONE_SHARE = 0.25
LONE_RULE = "scale"  # or "clip"; chosen by bench.forensics --calibrate on the calibration pool
# How the photo-only maps are combined (fuse_maps): each scaled by its detector's confidence ("score"), also by
# the detector's share of the trace evidence ("evidence"), only the trace map of the detector with the largest
# share, scaled by its confidence ("top") or as it is ("top_raw"), or a per-pixel logistic model over the trace
# maps ("learned", MAP_MODEL). Chosen by bench.forensics --calibrate: the best held-out IoU on the pool's forgeries
# among the rules that mark a region on no more clean photos than "score" (22.1 %): learned 0.324 (20.6 % of
# clean photos marked), top 0.306, evidence 0.297, score 0.254; top_raw 0.320 but 50.0 % marked.
MAP_RULES = ("score", "evidence", "top", "top_raw", "learned")
MAP_RULE = "learned"
# The "learned" map: per pixel, a logistic model over each trace detector's map value m, alone and times the
# detector's score, its share of the evidence (relative to the largest share) and whether it carries the most
# ("<detector>", "<detector>*score", "*share", "*top"). Fitted by bench.forensics --calibrate on the pool
# (the forged photos' masks; every pixel of a clean photo unmarked; lambda 1e-4 of 1e-5..1e-3), the bias moved
# down by the threshold offset (+1.5 log-odds) with the best held-out IoU among those that mark a region on no
# more clean photos than "score".
MAP_TERMS = ("", "*score", "*share", "*top")
MAP_MODEL = {
    "bias": -3.334,
    "weights": {"jpeg_traces": 0.255, "jpeg_traces*score": 1.126, "jpeg_traces*share": 1.11, "jpeg_traces*top": 1.866,
                "copy_move": 2.011, "copy_move*score": 1.584, "copy_move*share": 1.927, "copy_move*top": 0.729,
                "noise_residual*share": 0.435, "local_edit": 2.125, "local_edit*share": 0.019, "local_edit*top": 1.563},
}
# Detectors whose map, when present, is the localisation (pixel-exact comparison with a reference).
DECISIVE_MAP_DETECTORS = ("reference",)


@dataclass
class Fused:
    risk: float
    verdict: str
    reasons: list[Finding]
    map: np.ndarray | None
    mask: np.ndarray | None
    regions: list[dict] = field(default_factory=list)
    # how each part contributed: {"floor": .., "traces": .., "detectors": {name: contribution}, "map_from": ..}
    contributions: dict = field(default_factory=dict)


def verdict_for(risk: float) -> str:
    if risk >= LIKELY_FORGED:
        return "likely_forged"
    if risk >= SUSPICIOUS:
        return "suspicious"
    return "no_evidence_of_forgery"


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def trace_features(results: list[DetectorResult]) -> dict[str, float]:
    """The fusion's inputs from the trace detectors: score and extra["evidence"] statistics of each."""
    out: dict[str, float] = {}
    for r in results:
        if r.detector not in TRACE_DETECTORS or not r.applicable or r.score is None:
            continue
        out[r.detector] = float(r.score)
        for k, v in (r.extra.get("evidence") or {}).items():
            if isinstance(v, (int, float)) and np.isfinite(v):
                out[f"{r.detector}.{k}"] = float(v)
    return out


def reporting(results: list[DetectorResult]) -> set[str]:
    """Detectors that reported a finding of their own (low severity or above): a detector's evidence below
    its own reporting threshold does not count as a second opinion."""
    return {r.detector for r in results if any(f.severity != "info" for f in r.findings)}


def scaled(name: str, value: float, calibration: dict = CALIBRATION) -> float:
    s = calibration.get("scale", {}).get(name, 1.0)
    return float(min(max(value, 0.0) / max(s, 1e-9), FEATURE_CAP))


def measured_evidence(features: dict[str, float], calibration: dict = CALIBRATION) -> tuple[float, dict[str, float]]:
    """The fitted model's probability measured from the typical clean photo (0 for ordinary evidence), and
    each detector's share of the log-odds."""
    w = calibration["weights"]
    ref = calibration.get("reference", {})
    present = [k for k in w if k in features or k.split(".")[0] in features]
    if not present:
        return 0.0, {}
    per: dict[str, float] = {}
    z = z0 = calibration["bias"]
    for k in present:
        x, x0 = scaled(k, features.get(k, 0.0), calibration), float(ref.get(k, 0.0))
        z += w[k] * x
        z0 += w[k] * x0
        det = k.split(".")[0]
        per[det] = per.get(det, 0.0) + w[k] * (x - x0)
    p, p0 = _sigmoid(z), _sigmoid(z0)
    return float(max(0.0, (p - p0) / (1.0 - p0))), per


def trace_evidence(features: dict[str, float], calibration: dict = CALIBRATION,
                   lone: str | None = None, found: set[str] | None = None) -> tuple[float, dict[str, float]]:
    """Trace evidence on the verdict scale (measured_evidence, then on_verdict_scale) and each detector's share
    of the log-odds. Unless two detectors agree (each at least LONE_SHARE of the evidence and, when `found` is
    given, each among the detectors that reported a finding of their own), the evidence stays below LONE_CAP:
    scaled into [0, LONE_CAP] (lone="scale": stronger evidence still ranks higher) or clipped at it
    (lone="clip")."""
    prob, per = measured_evidence(features, calibration)
    if not per:
        return 0.0, {}
    prob = on_verdict_scale(prob, calibration)
    pos = {d: c for d, c in per.items() if c > 0}
    total = sum(pos.values())
    agreeing = sum(c >= LONE_SHARE * total and (found is None or d in found) for d, c in pos.items()) if total > 0 else 0
    if agreeing < 2:
        prob = LONE_CAP * prob if (lone or LONE_RULE) == "scale" else min(prob, LONE_CAP)
    return prob, {d: round(c, 4) for d, c in per.items()}


def on_verdict_scale(prob: float, calibration: dict = CALIBRATION) -> float:
    """The fitted probability (prior 1/2) placed on the verdict scale: the value that only CLEAN_SUSPICIOUS of
    the clean calibration photos exceed ("suspicious_at") becomes SUSPICIOUS, linear on either side, so the
    order of photos is kept and ordinary clean photos stay below "suspicious"."""
    s = calibration.get("suspicious_at")
    if not s or not 0.0 < s < 1.0:
        return prob
    if prob < s:
        return SUSPICIOUS * prob / s
    return SUSPICIOUS + (1.0 - SUSPICIOUS) * (prob - s) / (1.0 - s)


def trace_probability(scores: dict[str, float], calibration: dict = CALIBRATION) -> float:
    """Calibrated evidence from the trace features (see trace_evidence)."""
    return trace_evidence(scores, calibration)[0]


def fuse(results: list[DetectorResult], weights: dict[str, float], shape: tuple[int, int]) -> Fused:
    """One risk score (severity floor, calibrated traces, noisy-OR of the rest) and one edit map."""
    findings = [f for r in results for f in r.findings]
    floor = max((SEVERITY_FLOOR[f.severity] for f in findings), default=0.0)
    scored = {r.detector: float(r.score) for r in results if r.applicable and r.score is not None}
    traces, trace_parts = trace_evidence(trace_features(results), found=reporting(results))
    keep = 1.0 - traces
    per = {}
    for name, s in scored.items():
        if name in TRACE_DETECTORS:
            continue
        c = min(1.0, max(0.0, weights.get(name, 1.0))) * s
        per[name] = round(c, 4)
        keep *= 1.0 - c
    risk = float(max(floor, 1.0 - keep))
    reasons = sorted(
        (f for f in findings if f.severity != "info"),
        key=lambda f: (-SEVERITY_RANK[f.severity], f.detector, f.code),
    )
    fmap, source = fuse_maps(results, weights, shape, shares=trace_parts)
    mask = None
    regions: list[dict] = []
    verdict = verdict_for(risk)
    if fmap is not None:
        mask = fmap >= MASK_THRESHOLD
        # a region is a claim that the photo was edited there: made only when the verdict makes the claim
        # (the map stays, as where the photo would be edited if it were)
        if verdict != "no_evidence_of_forgery":
            regions = regions_of(mask, fmap)
    contributions = {"floor": round(floor, 4), "traces": round(traces, 4), "trace_log_odds": trace_parts,
                     "detectors": per, "map_from": source}
    return Fused(risk=round(risk, 4), verdict=verdict, reasons=reasons, map=fmap, mask=mask,
                 regions=regions, contributions=contributions)


def _map_confidence(r: DetectorResult) -> float:
    """How much of a detector's map to trust on this photo: its score, saturating at 0.5."""
    if r.score is None:
        return 0.5
    return float(np.clip(2.0 * r.score, 0.0, 1.0))


def fuse_maps(results: list[DetectorResult], weights: dict[str, float], shape, shares: dict[str, float] | None = None,
              rule: str | None = None) -> tuple[np.ndarray | None, str]:
    """The decisive reference map when there is one; else a pixel-wise noisy-OR of confidence-scaled maps.
    Given the trace detectors' shares of the log-odds (`shares`), a trace map is also weighed by the evidence
    its detector carries, as MAP_RULES describes (rule: one of them, MAP_RULE by default)."""
    usable = [r for r in results if r.applicable and r.map is not None]
    if not usable:
        return None, "none"
    decisive = [r for r in usable if r.detector in DECISIVE_MAP_DETECTORS or r.extra.get("decisive")]
    if decisive:
        m = np.zeros(shape, np.float32)
        for r in decisive:
            m = np.maximum(m, _fit(r.map, shape))
        return m, "+".join(r.detector for r in decisive)
    rule = rule or MAP_RULE
    keep = np.ones(shape, dtype=np.float32)
    used = []
    if rule == "learned":
        learned, used = learned_map([r for r in usable if r.detector in TRACE_DETECTORS], shape, shares or {})
        keep = 1.0 - learned
        usable = [r for r in usable if r.detector not in TRACE_DETECTORS]
    for r in usable:
        c = min(1.0, max(0.0, weights.get(r.detector, 1.0))) * _map_confidence(r)
        if shares is not None and r.detector in TRACE_DETECTORS:
            c = _evidence_weighed(c, r.detector, shares, rule)
        if c <= 0:
            continue
        keep *= 1.0 - np.clip(_fit(r.map, shape) * c, 0, 1)
        used.append(r.detector)
    return 1.0 - keep, "+".join(used) or "none"


def _standing(detector: str, shares: dict[str, float]) -> tuple[float, bool]:
    """A trace detector's share of the log-odds relative to the largest (0..1), and whether it is the largest;
    (0, False) for all when no detector carries positive evidence."""
    top = max(shares.values(), default=0.0)
    if top <= 0:
        return 0.0, False
    share = shares.get(detector, 0.0)
    return float(np.clip(share / top, 0.0, 1.0)), share == top


def map_terms(r: DetectorResult, shares: dict[str, float]) -> dict[str, float]:
    """What multiplies a trace detector's map value in the learned map's terms (MAP_TERMS) on this photo."""
    relative, carrier = _standing(r.detector, shares)
    return {"": 1.0, "*score": float(r.score or 0.0), "*share": relative, "*top": float(carrier)}


def learned_map(results: list[DetectorResult], shape, shares: dict[str, float],
                model: dict | None = None) -> tuple[np.ndarray, list[str]]:
    """The learned map of the trace detectors' maps (`model`, MAP_MODEL by default) and the detectors that
    entered it; all zero when none did."""
    model = model or MAP_MODEL
    z = np.full(shape, model["bias"], np.float32)
    used = []
    for r in results:
        c = sum(model["weights"].get(r.detector + t, 0.0) * v for t, v in map_terms(r, shares).items())
        if c > 0:
            z += c * _fit(r.map, shape)
            used.append(r.detector)
    if not used:
        return np.zeros(shape, np.float32), used
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32), used


def _evidence_weighed(confidence: float, detector: str, shares: dict[str, float], rule: str) -> float:
    """A trace map's weight under a map rule, from its detector's share of the log-odds (see MAP_RULES)."""
    if rule == "score":
        return confidence
    relative, carrier = _standing(detector, shares)
    if rule == "evidence":
        return confidence * relative
    return (confidence if rule == "top" else 1.0) if carrier else 0.0


def _fit(m: np.ndarray, shape) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.shape != tuple(shape):
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return m


def regions_of(mask: np.ndarray, prob: np.ndarray, item_area: float | None = None) -> list[dict]:
    """Connected regions of a boolean mask: bbox [x, y, w, h], area share, mean probability."""
    h, w = mask.shape
    total = float(item_area or h * w)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < MIN_REGION_FRACTION * h * w:
            continue
        score = float(prob[labels == i].mean())
        out.append({"bbox": [x, y, bw, bh], "area_fraction": round(area / total, 5), "score": round(score, 4)})
    out.sort(key=lambda r: -r["area_fraction"])
    return out
