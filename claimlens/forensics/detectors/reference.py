"""Reference consistency: is the claim photo one of the merchant's own photos, edited?"""

from __future__ import annotations

from pathlib import Path

from ..base import Detector, DetectorResult, register
from ..consistency.editmap import edit_map
from ..consistency.relation import relate


def _short(name: str) -> str:
    return Path(name).name or name


@register
class ReferenceDetector(Detector):
    name = "reference"
    needs_references = True

    def run(self, evidence) -> DetectorResult:
        if not evidence.references:
            return self.not_applicable("no reference photos given")
        refs, feats, best = [], [], None
        for ref in evidence.references:
            rel = relate(evidence, ref)
            em = None
            if rel.relation == "derived" and rel.aligned is not None:
                em = edit_map(rel.aligned, (evidence.height, evidence.width))
            refs.append(
                {
                    "path": ref.name,
                    "relation": rel.relation,
                    "confidence": round(float(rel.confidence), 4),
                    "edited_fraction": round(em.edited_fraction, 5) if em else 0.0,
                }
            )
            feats.append({k: (round(v, 5) if isinstance(v, float) else v) for k, v in rel.features.items()})
            if em is not None:
                rank = (len(em.regions) > 0, rel.confidence, em.edited_fraction)
                if best is None or rank > best[0]:
                    best = (rank, ref, rel, em)

        result = DetectorResult(self.name, extra={"references": refs, "edited_regions": [], "features": feats})
        if best is not None:
            _, ref, rel, em = best
            result.map = em.prob
            result.extra["edited_regions"] = em.regions
            n = len(em.regions)
            if n:
                top = max(r["score"] for r in em.regions)
                result.score = rel.confidence * (0.75 + 0.25 * top)
                result.findings.append(
                    self.finding(
                        "derived_with_edits",
                        "critical",
                        f"The claim photo is the merchant's listing photo {_short(ref.name)} with {n} edited "
                        f"region{'s' if n != 1 else ''} covering {100 * em.edited_fraction:.1f}% of the item",
                        reference=ref.name,
                        regions=em.regions,
                        edited_fraction=round(em.edited_fraction, 5),
                        confidence=round(rel.confidence, 4),
                    )
                )
            else:
                result.score = 0.0
                result.findings.append(
                    self.finding(
                        "derived_unedited",
                        "medium",
                        f"The claim photo is the merchant's listing photo {_short(ref.name)}, re-used without "
                        "local edits: the buyer did not photograph their own item",
                        reference=ref.name,
                        confidence=round(rel.confidence, 4),
                    )
                )
            return result
        result.score = 0.0
        same = [r for r in refs if r["relation"] == "same_item"]
        if same:
            result.findings.append(
                self.finding(
                    "same_item",
                    "info",
                    f"The claim photo shows the same item as reference {_short(same[0]['path'])}, photographed independently",
                    references=[r["path"] for r in same],
                )
            )
        else:
            result.findings.append(
                self.finding("no_matching_reference", "low", "The claim photo matches none of the reference photos")
            )
        return result
