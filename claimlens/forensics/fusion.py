"""Fusion: detector results -> one risk score, a verdict, ranked reasons and one edit map."""

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


@dataclass
class Fused:
    risk: float
    verdict: str
    reasons: list[Finding]
    map: np.ndarray | None
    mask: np.ndarray | None
    regions: list[dict] = field(default_factory=list)


def verdict_for(risk: float) -> str:
    if risk >= LIKELY_FORGED:
        return "likely_forged"
    if risk >= SUSPICIOUS:
        return "suspicious"
    return "no_evidence_of_forgery"


def fuse(results: list[DetectorResult], weights: dict[str, float], shape: tuple[int, int]) -> Fused:
    """Noisy-OR of weighted detector scores, floored by the strongest finding's severity."""
    findings = [f for r in results for f in r.findings]
    floor = max((SEVERITY_FLOOR[f.severity] for f in findings), default=0.0)
    keep = 1.0
    for r in results:
        if r.applicable and r.score is not None:
            keep *= 1.0 - min(1.0, weights.get(r.detector, 1.0)) * r.score
    risk = float(max(floor, 1.0 - keep))
    reasons = sorted(
        (f for f in findings if f.severity != "info"),
        key=lambda f: (-SEVERITY_RANK[f.severity], f.detector, f.code),
    )
    fmap = fuse_maps(results, weights, shape)
    mask = None
    regions: list[dict] = []
    if fmap is not None:
        mask = fmap >= MASK_THRESHOLD
        regions = regions_of(mask, fmap)
    return Fused(risk=round(risk, 4), verdict=verdict_for(risk), reasons=reasons, map=fmap, mask=mask, regions=regions)


def fuse_maps(results: list[DetectorResult], weights: dict[str, float], shape) -> np.ndarray | None:
    """Pixel-wise noisy-OR of the detectors' maps, each scaled by its weight."""
    maps = [(r.map, weights.get(r.detector, 1.0)) for r in results if r.applicable and r.map is not None]
    if not maps:
        return None
    keep = np.ones(shape, dtype=np.float32)
    for m, w in maps:
        keep *= 1.0 - np.clip(m * min(1.0, w), 0, 1)
    return 1.0 - keep


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
