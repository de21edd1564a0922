"""China's mandatory implicit AIGC label (GB 45438-2025) in XMP, PNG text chunks and EXIF UserComment."""

from __future__ import annotations

import json

from ..base import Detector, DetectorResult, register
from ..metadata import NS, AigcLabel, looks_like_aigc, parse_aigc, parse_xmp, score_of, text_value, user_comment

# Label value -> (severity, plain words)
LABELS = {
    "1": ("critical", "AI-generated"),
    "2": ("high", "possibly AI-generated"),
    "3": ("medium", "suspected to be AI-generated"),
}


def find_labels(evidence) -> list[AigcLabel]:
    """Every AIGC label the photo carries, with the place it was found."""
    found: list[AigcLabel] = []
    xmp = parse_xmp(evidence.xmp)
    if xmp is not None and xmp.root is not None:
        tag = f"{{{NS['TC260']}}}AIGC"
        for el in xmp.root.iter():
            v = el.attrib.get(tag)
            if v is not None:
                found.append(parse_aigc(v, "XMP TC260:AIGC (attribute)"))
            if el.tag == tag:
                children = {c.tag.split("}")[-1]: (c.text or "").strip() for c in el if c.tag.split("}")[-1] != "li"}
                text = (el.text or "").strip()
                if text:
                    found.append(parse_aigc(text, "XMP TC260:AIGC (element)"))
                elif children:
                    found.append(parse_aigc(json.dumps(children), "XMP TC260:AIGC (element)"))
                else:
                    lis = [li.text or "" for li in el.iter(f"{{{NS['rdf']}}}li")]
                    found.append(parse_aigc(" ".join(lis), "XMP TC260:AIGC (element)"))
    for key, value in evidence.text_chunks.items():
        if key.lower() == "aigc":
            found.append(parse_aigc(value, f"PNG text chunk '{key}'"))
        elif key not in ("XML:com.adobe.xmp", "prompt", "workflow", "parameters") and looks_like_aigc(value):
            found.append(parse_aigc(value, f"text chunk '{key}'"))
    ex = evidence.exif or {}
    uc = user_comment(ex.get("UserComment"))
    if uc and (looks_like_aigc(uc) or uc.lstrip().startswith('{"Label"')):
        found.append(parse_aigc(uc, "EXIF UserComment"))
    for tag in ("ImageDescription", "XPComment"):
        v = text_value(ex.get(tag))
        if v and looks_like_aigc(v):
            found.append(parse_aigc(v, f"EXIF {tag}"))
    return found


@register
class AigcLabelDetector(Detector):
    name = "aigc_label"
    weight = 0.0  # findings set the risk through their severity floors

    def run(self, evidence) -> DetectorResult:
        findings = []
        seen = set()
        for lab in find_labels(evidence):
            key = (lab.raw, lab.malformed)
            if key in seen:
                continue
            seen.add(key)
            if lab.malformed:
                findings.append(self.finding(
                    "aigc_label_malformed", "medium",
                    "The photo carries an AI-content label (GB 45438-2025) that cannot be read: it is damaged "
                    "or was tampered with.",
                    carrier=lab.carrier, raw=lab.raw))
                continue
            value = (lab.fields.get("Label") or "").strip()
            sev, words = LABELS.get(value, ("medium", "labelled as AI content with an unknown label value"))
            producer = lab.fields.get("ContentProducer")
            msg = f"The photo carries China's mandatory AI-content label (GB 45438-2025) marking it {words}"
            msg += f", written by {producer}." if producer else "."
            findings.append(self.finding(
                "aigc_label", sev, msg,
                carrier=lab.carrier, label=value or None,
                producer=producer, produce_id=lab.fields.get("ProduceID"),
                propagator=lab.fields.get("ContentPropagator"), propagate_id=lab.fields.get("PropagateID"),
                reserved_code1=lab.fields.get("ReservedCode1"), reserved_code2=lab.fields.get("ReservedCode2")))
        return DetectorResult(self.name, findings=findings, score=score_of(findings))
