"""Image in, findings out: no database, no web."""

from .analyze import Analysis, analyze, analyze_paths
from .base import REGISTRY, Detector, DetectorResult, Finding, register
from .errors import ClaimlensError, ImageTooLarge, InputError
from .evidence import Evidence

__all__ = [
    "Analysis",
    "analyze",
    "analyze_paths",
    "Detector",
    "DetectorResult",
    "Finding",
    "REGISTRY",
    "register",
    "Evidence",
    "ClaimlensError",
    "InputError",
    "ImageTooLarge",
]
