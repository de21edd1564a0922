"""The detector interface: findings, results and the registry every detector adds itself to."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass
class Finding:
    detector: str
    code: str
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_dict(self) -> dict:
        return {
            "detector": self.detector,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "details": self.details,
        }


@dataclass
class DetectorResult:
    """What one detector says about one photo.

    score: evidence of manipulation or AI generation in [0, 1]; None when the detector has no opinion.
    map: per-pixel edit probability in [0, 1] at the photo's size (float32 HxW), or None.
    applicable: False when the detector cannot run on this photo; `reason` says why.
    extra: detector-specific structured output (e.g. reference relations).
    """

    detector: str
    findings: list[Finding] = field(default_factory=list)
    score: float | None = None
    map: np.ndarray | None = None
    applicable: bool = True
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class Detector(ABC):
    """One forensic check. Subclasses set `name` and implement `run`."""

    name: str = ""
    # Fusion weight of this detector's score; 0 keeps it out of the risk score.
    weight: float = 1.0
    # Detectors that only make sense with reference photos.
    needs_references: bool = False

    @abstractmethod
    def run(self, evidence) -> DetectorResult: ...

    def finding(self, code: str, severity: str, message: str, **details) -> Finding:
        return Finding(self.name, code, severity, message, details)

    def not_applicable(self, reason: str) -> DetectorResult:
        return DetectorResult(self.name, applicable=False, reason=reason)


REGISTRY: dict[str, type[Detector]] = {}
LOAD_ERRORS: dict[str, str] = {}  # detector module -> why it failed to import


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available to `analyze` under its name."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector name {cls.name!r} is taken")
    REGISTRY[cls.name] = cls
    return cls


def load_detectors() -> dict[str, type[Detector]]:
    """Import every module in claimlens.forensics.detectors so that each registers itself."""
    import importlib
    import pkgutil

    from . import detectors

    for mod in pkgutil.iter_modules(detectors.__path__):
        name = f"{detectors.__name__}.{mod.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:  # one broken detector must not stop the others
            if name not in LOAD_ERRORS:
                LOAD_ERRORS[name] = f"{type(exc).__name__}: {exc}"
                import logging

                logging.getLogger(__name__).error("detector module %s failed to load: %s", name, exc)
    return REGISTRY


def run_detector(detector: Detector, evidence) -> DetectorResult:
    """Run one detector; an internal failure becomes a not-applicable result, never a crash."""
    t0 = time.perf_counter()
    try:
        result = detector.run(evidence)
    except Exception as exc:  # a detector bug must not lose the rest of the analysis
        result = DetectorResult(detector.name, applicable=False, reason=f"internal error: {type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - t0
    if result.map is not None:
        m = np.asarray(result.map, dtype=np.float32)
        if m.shape != (evidence.height, evidence.width):
            import cv2

            m = cv2.resize(m, (evidence.width, evidence.height), interpolation=cv2.INTER_LINEAR)
        result.map = np.clip(m, 0.0, 1.0)
    if result.score is not None:
        result.score = float(min(1.0, max(0.0, result.score)))
    return result
