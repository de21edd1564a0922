"""Fusion: detector results -> one risk score, a verdict, ranked reasons and one edit map.

Score. Three parts, the largest wins:
  * severity floor: a finding of a given severity sets at least SEVERITY_FLOOR[severity] on its own
    (metadata proof such as a generator tag or a broken C2PA signature needs no pixel evidence);
  * trace evidence: the photo-only manipulation-trace detectors (CALIBRATION) are combined by a logistic
    model fitted on a calibration split, then rescaled so that no evidence at all gives 0;
  * every other detector's score enters a noisy-OR, scaled by its weight (the reference detector, the AI
    detectors, provenance).
Map. When the reference detector found the claim derived from a merchant photo (it returns a map), that
map is the localisation: it is a pixel-exact comparison and dominates. Otherwise the photo-only maps are
combined by a pixel-wise noisy-OR, each scaled by how confident its detector is about the photo, so a
detector that does not fire does not paint the map.

Calibration procedure (python -m bench.forensics --calibrate, numbers below): the scikit-image photos and
the odd-indexed half of the multiview real photos (the evaluation uses the even half), each as one clean
re-save and three forgeries made here (painted damage from bench.damage, a splice from another photo, a
copy-moved patch; JPEG 70-95 or PNG). Trace detector scores -> L2-regularised, class-balanced logistic
regression with non-negative weights. The real tampered sets (CASIA, IML-ViT, TruFor) and the evaluation
corpus are never used to fit anything.
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

# Logistic model over the photo-only trace detectors' scores (fitted by bench.forensics --calibrate).
# Fitted 2026-11 on 112 calibration photos (84 forged, 28 clean, classes balanced); per-detector AUC there:
# jpeg_traces 0.74, copy_move 0.62, noise_residual 0.48 (weight 0: it did not help; its map is still used),
# local_edit 0.46 (near-zero weight).
CALIBRATION = {
    "bias": -0.619,
    "weights": {"jpeg_traces": 1.655, "copy_move": 1.134, "noise_residual": 0.0, "local_edit": 0.053},
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


def trace_probability(scores: dict[str, float], calibration: dict = CALIBRATION) -> float:
    """Calibrated evidence from the trace detectors, rescaled so that all-zero scores give 0."""
    w = calibration["weights"]
    present = {k: v for k, v in scores.items() if k in w}
    if not present:
        return 0.0
    p0 = _sigmoid(calibration["bias"])
    p = _sigmoid(calibration["bias"] + sum(w[k] * v for k, v in present.items()))
    return float(max(0.0, (p - p0) / (1.0 - p0)))


def fuse(results: list[DetectorResult], weights: dict[str, float], shape: tuple[int, int]) -> Fused:
    """One risk score (severity floor, calibrated traces, noisy-OR of the rest) and one edit map."""
    findings = [f for r in results for f in r.findings]
    floor = max((SEVERITY_FLOOR[f.severity] for f in findings), default=0.0)
    scored = {r.detector: float(r.score) for r in results if r.applicable and r.score is not None}
    traces = trace_probability(scored)
    keep = 1.0 - traces
    per = {}
    for name, s in scored.items():
        if name in CALIBRATION["weights"]:
            continue
        c = min(1.0, max(0.0, weights.get(name, 1.0))) * s
        per[name] = round(c, 4)
        keep *= 1.0 - c
    risk = float(max(floor, 1.0 - keep))
    reasons = sorted(
        (f for f in findings if f.severity != "info"),
        key=lambda f: (-SEVERITY_RANK[f.severity], f.detector, f.code),
    )
    fmap, source = fuse_maps(results, weights, shape)
    mask = None
    regions: list[dict] = []
    if fmap is not None:
        mask = fmap >= MASK_THRESHOLD
        regions = regions_of(mask, fmap)
    contributions = {"floor": round(floor, 4), "traces": round(traces, 4), "detectors": per, "map_from": source}
    return Fused(risk=round(risk, 4), verdict=verdict_for(risk), reasons=reasons, map=fmap, mask=mask,
                 regions=regions, contributions=contributions)


def _map_confidence(r: DetectorResult) -> float:
    """How much of a detector's map to trust on this photo: its score, saturating at 0.5."""
    if r.score is None:
        return 0.5
    return float(np.clip(2.0 * r.score, 0.0, 1.0))


def fuse_maps(results: list[DetectorResult], weights: dict[str, float], shape) -> tuple[np.ndarray | None, str]:
    """The decisive reference map when there is one; else a pixel-wise noisy-OR of confidence-scaled maps."""
    usable = [r for r in results if r.applicable and r.map is not None]
    if not usable:
        return None, "none"
    decisive = [r for r in usable if r.detector in DECISIVE_MAP_DETECTORS or r.extra.get("decisive")]
    if decisive:
        m = np.zeros(shape, np.float32)
        for r in decisive:
            m = np.maximum(m, _fit(r.map, shape))
        return m, "+".join(r.detector for r in decisive)
    keep = np.ones(shape, dtype=np.float32)
    used = []
    for r in usable:
        c = min(1.0, max(0.0, weights.get(r.detector, 1.0))) * _map_confidence(r)
        if c <= 0:
            continue
        keep *= 1.0 - np.clip(_fit(r.map, shape) * c, 0, 1)
        used.append(r.detector)
    return 1.0 - keep, "+".join(used) or "none"


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
