"""analyze(): run every registered detector on one claim photo and fuse the results."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from .base import DetectorResult, Finding, load_detectors, run_detector
from .evidence import Evidence
from .fusion import Fused, fuse


@dataclass
class Analysis:
    claim: Evidence
    results: list[DetectorResult]
    fused: Fused
    created_at: str
    seconds: float
    version: str = __version__
    weights: dict[str, float] = field(default_factory=dict)

    def add_result(self, result: DetectorResult, weight: float = 1.0) -> None:
        """Fold in a result made outside the detectors (e.g. the reused-photo search) and fuse again."""
        self.results.append(result)
        self.weights[result.detector] = weight
        self.fused = fuse(self.results, self.weights, (self.claim.height, self.claim.width))

    @property
    def risk(self) -> float:
        return self.fused.risk

    @property
    def verdict(self) -> str:
        return self.fused.verdict

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def result(self, detector: str) -> DetectorResult | None:
        return next((r for r in self.results if r.detector == detector), None)

    @property
    def references(self) -> list[dict]:
        """Relation of the claim to each reference, as the reference detector reported it."""
        r = self.result("reference")
        if r is not None and r.extra.get("references"):
            return r.extra["references"]
        return [
            {"path": ref.name, "relation": "unknown", "confidence": 0.0, "edited_fraction": 0.0}
            for ref in self.claim.references
        ]

    def to_dict(self, mask_path=None, heatmap_path=None, report_path=None) -> dict:
        """The stable JSON document (schema in the README)."""
        inputs = [{"path": self.claim.name, "sha256": self.claim.sha256, "role": "claim"}]
        inputs += [{"path": r.name, "sha256": r.sha256, "role": "reference"} for r in self.claim.references]
        return {
            "schema": "claimlens.analysis/1",
            "version": self.version,
            "created_at": self.created_at,
            "risk": self.risk,
            "verdict": self.verdict,
            "reasons": [f.message for f in self.fused.reasons],
            "references": self.references,
            "edited_regions": self.fused.regions,
            "findings": [f.to_dict() for f in self.findings],
            "detectors": [
                {
                    "name": r.detector,
                    "applicable": r.applicable,
                    "reason": r.reason,
                    "score": None if r.score is None else round(r.score, 4),
                    "seconds": round(r.seconds, 4),
                }
                for r in self.results
            ],
            "image": {"width": self.claim.width, "height": self.claim.height, "format": self.claim.format},
            "mask_path": None if mask_path is None else str(mask_path),
            "heatmap_path": None if heatmap_path is None else str(heatmap_path),
            "report_path": None if report_path is None else str(report_path),
            "inputs": inputs,
            "seconds": round(self.seconds, 3),
        }


def analyze(claim: Evidence, only: list[str] | None = None, exclude: list[str] | None = None) -> Analysis:
    """Run the registered detectors (or a subset) on `claim` and its references."""
    t0 = time.perf_counter()
    registry = load_detectors()
    names = [n for n in sorted(registry) if (only is None or n in only) and n not in (exclude or [])]
    detectors = [registry[n]() for n in names]
    results = []
    for det in detectors:
        if det.needs_references and not claim.references:
            results.append(DetectorResult(det.name, applicable=False, reason="no reference photos given"))
            continue
        results.append(run_detector(det, claim))
    weights = {d.name: d.weight for d in detectors}
    fused = fuse(results, weights, (claim.height, claim.width))
    return Analysis(
        claim=claim,
        results=results,
        fused=fused,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t0,
        weights=weights,
    )


def analyze_paths(claim_path, reference_paths=(), max_pixels: int | None = None, **kw) -> Analysis:
    refs = [Evidence.from_path(p, max_pixels=max_pixels) for p in reference_paths]
    claim = Evidence.from_path(claim_path, references=refs, max_pixels=max_pixels)
    return analyze(claim, **kw)


def mask_image(analysis: Analysis) -> np.ndarray:
    """Binary mask at the claim's size, 255 = edited."""
    if analysis.fused.mask is None:
        return np.zeros((analysis.claim.height, analysis.claim.width), np.uint8)
    return analysis.fused.mask.astype(np.uint8) * 255
