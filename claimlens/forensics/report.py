"""Outputs of an analysis: the edit mask, the heatmap overlay and a self-contained HTML report."""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from .analyze import Analysis, mask_image

REPORT_LONG_SIDE = 1200
SEVERITY_WORDS = {
    "critical": "Decisive",
    "high": "Strong",
    "medium": "Notable",
    "low": "Weak",
    "info": "Information",
}
VERDICT_WORDS = {
    "likely_forged": "Likely forged",
    "suspicious": "Suspicious",
    "no_evidence_of_forgery": "No evidence of forgery found",
}

_env = Environment(loader=PackageLoader("claimlens.forensics", "templates"), autoescape=select_autoescape(["html"]))


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def mask_png(analysis: Analysis) -> bytes:
    """PNG at the claim's size, white = edited."""
    return png_bytes(mask_image(analysis))


def heatmap_rgb(analysis: Analysis, alpha: float = 0.55) -> np.ndarray:
    """The claim photo with the fused edit probability overlaid (JET colours) and regions outlined."""
    rgb = analysis.claim.rgb
    fmap = analysis.fused.map
    if fmap is None:
        return rgb.copy()
    heat = cv2.applyColorMap(np.clip(fmap * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    weight = (np.clip(fmap, 0, 1) * alpha)[..., None]
    out = (rgb * (1 - weight) + heat * weight).astype(np.uint8)
    thickness = max(2, round(max(rgb.shape[:2]) / 400))
    for region in analysis.fused.regions:
        x, y, w, h = region["bbox"]
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 0, 0), thickness)
    return out


def heatmap_png(analysis: Analysis) -> bytes:
    return png_bytes(heatmap_rgb(analysis))


def _data_uri(rgb: np.ndarray, long_side: int = REPORT_LONG_SIDE) -> str:
    h, w = rgb.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def best_reference_index(analysis: Analysis) -> int | None:
    """The reference the claim was derived from (highest confidence), else the first one."""
    refs = analysis.references
    if not refs:
        return None
    derived = [i for i, r in enumerate(refs) if r.get("relation") == "derived"]
    pool = derived or range(len(refs))
    return max(pool, key=lambda i: refs[i].get("confidence", 0.0))


def render_html(analysis: Analysis) -> str:
    """A self-contained report a merchant can hand to a platform: images embedded, hashes listed."""
    doc = analysis.to_dict()
    ref_i = best_reference_index(analysis)
    reference = None
    if ref_i is not None:
        ref = analysis.claim.references[ref_i]
        reference = {"name": ref.name, "uri": _data_uri(ref.rgb), **doc["references"][ref_i]}
    findings = sorted(
        doc["findings"], key=lambda f: -["info", "low", "medium", "high", "critical"].index(f["severity"])
    )
    return _env.get_template("report.html").render(
        doc=doc,
        verdict_words=VERDICT_WORDS[doc["verdict"]],
        severity_words=SEVERITY_WORDS,
        claim_uri=_data_uri(analysis.claim.rgb),
        heatmap_uri=_data_uri(heatmap_rgb(analysis)) if analysis.fused.map is not None else None,
        reference=reference,
        findings=findings,
    )
