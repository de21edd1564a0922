"""Findings for the claim report: this photo was already used in earlier claims."""

from __future__ import annotations

from claimlens.forensics.base import Finding

from .photo_index import Match, PhotoIndex

DETECTOR = "reuse"


def _label(m: Match) -> str:
    parts = []
    for key in ("claim", "claim_id", "buyer", "account", "source"):
        if key in m.meta and m.meta[key] not in (None, ""):
            parts.append(f"{key.replace('_id', '')} {m.meta[key]}")
    return ", ".join(parts) if parts else f"photo {m.photo_id}"


def _how(m: Match) -> str:
    t = m.transform
    bits = []
    if t.mirrored:
        bits.append("mirrored")
    if t.crop < 0.9:
        bits.append(f"cropped to {t.crop:.0%} of the area")
    if abs(t.scale - 1) > 0.05:
        bits.append(f"scaled x{t.scale:.2f}")
    if abs(t.rotation) > 1.0:
        bits.append(f"rotated {t.rotation:.0f} deg")
    return ", ".join(bits) if bits else "same framing"


def reuse_findings(evidence, index: PhotoIndex, exclude_ids=(), k: int = 5) -> list[Finding]:
    """One high-severity finding when the photo matches photos of earlier claims (verified matches only)."""
    matches = index.search(evidence, k=k, exclude_ids=exclude_ids)
    if not matches:
        return []
    names = "; ".join(f"{_label(m)} ({_how(m)})" for m in matches)
    # a copy and another exposure from the same tripod spot cannot be told apart (bench/index.py): name both
    msg = f"This photo, or another shot of the same scene from the same spot, was already submitted: {names}."
    return [
        Finding(
            DETECTOR,
            "reused_photo",
            "high",
            msg,
            {"matches": [m.to_dict() for m in matches]},
        )
    ]
