"""Decide how a claim photo relates to one reference: derived, same_item or unrelated."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .align import Aligned, align, align_patch
from .registration import Registration, register, similarity_deviation

RELATION_SIDE = 640  # long side of the claim copy the relation is judged on
AGREE_TOL = 0.035  # residual (0..1 intensity) under which a pixel counts as agreeing


@dataclass
class Relation:
    relation: str  # derived | same_item | unrelated
    confidence: float
    registration: Registration | None = None
    aligned: Aligned | None = None
    features: dict = field(default_factory=dict)


def residual(al: Aligned, sigma: float = 1.0) -> np.ndarray:
    """Per-pixel colour residual, tolerant to one-pixel misalignment and resampling blur.

    Both images are blurred; the claim is compared with the 3x3 min/max envelope of the fitted
    reference, so a pixel only counts where it leaves the range of its reference neighbourhood.
    """
    c = cv2.GaussianBlur(al.claim, (0, 0), sigma) if sigma > 0 else al.claim
    r = cv2.GaussianBlur(al.ref, (0, 0), sigma) if sigma > 0 else al.ref
    k = np.ones((3, 3), np.uint8)
    hi, lo = cv2.dilate(r, k), cv2.erode(r, k)
    d = np.maximum(c - hi, 0) + np.maximum(lo - c, 0)
    return d.max(2)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def _fine(g: np.ndarray) -> np.ndarray:
    """Finest-scale structure: a difference of Gaussians."""
    return cv2.GaussianBlur(g, (0, 0), 0.7) - cv2.GaussianBlur(g, (0, 0), 2.0)


def agreement(al: Aligned) -> dict:
    """Photometric agreement features of an aligned pair, measured over the valid overlap."""
    v = al.valid
    d = residual(al)[v]
    cg = cv2.cvtColor(al.claim, cv2.COLOR_RGB2GRAY)
    rg = cv2.cvtColor(al.ref, cv2.COLOR_RGB2GRAY)
    c2, r2 = cv2.GaussianBlur(cg, (0, 0), 2.0), cv2.GaussianBlur(rg, (0, 0), 2.0)
    cf = cv2.GaussianBlur(cg, (0, 0), 0.7) - c2  # fine structure
    rf = cv2.GaussianBlur(rg, (0, 0), 0.7) - r2
    cm = c2 - cv2.GaussianBlur(c2, (0, 0), 5.66)  # mid structure (sigma 6 overall)
    rm = r2 - cv2.GaussianBlur(r2, (0, 0), 5.66)
    # clipped highlights / crushed shadows of the reference: a copy cannot show detail there
    k = np.ones((5, 5), np.uint8)
    clipped = (cv2.erode((al.ref_raw.max(2) >= 0.985).astype(np.uint8), k) > 0) | (
        cv2.erode((al.ref_raw.min(2) <= 0.015).astype(np.uint8), k) > 0
    )
    clipped &= v
    clip_detail = 0.0
    if clipped.sum() > 0.005 * v.sum():
        m = cv2.GaussianBlur(cg, (0, 0), 1.5)
        lstd = np.sqrt(np.maximum(cv2.GaussianBlur(cg * cg, (0, 0), 1.5) - m * m, 0))
        clip_detail = float((lstd[clipped] > 0.02).mean())
    # the same, away from where the two depart (a painted edit, or another product's print)
    res_full = residual(al)
    away = v & ~(cv2.dilate((res_full >= 2 * AGREE_TOL).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    if away.sum() < 0.3 * v.sum():
        away = v
    return {
        "fine_ncc_clean": _ncc(cf[away], rf[away]),
        "mid_ncc_clean": _ncc(cm[away], rm[away]),
        "color_shift": color_shift(al, v & (res_full < AGREE_TOL)),
        "clip_share": float(clipped.sum() / max(1, v.sum())),
        "clip_detail": clip_detail,
        "agree": float((d < AGREE_TOL).mean()),
        "res_med": float(np.median(d)),
        "fine_ncc": _ncc(cf[v], rf[v]),
        "mid_ncc": _ncc(cm[v], rm[v]),
        "fit_rmse": al.fit_rmse,
        "overlap": float(v.mean()),
        "eratio": float(np.sqrt((cf[v] ** 2).mean() / max(1e-12, (rf[v] ** 2).mean()))),
    }


def color_shift(al: Aligned, sel: np.ndarray) -> float:
    """How far the colour fit moves hues, beyond scaling their saturation (p95 over `sel`).

    Phone filters tint, brighten, add contrast, saturate or drain colour; they do not turn a black
    mug red or a red cap blue. Chroma is the colour minus its grey level; the fitted chroma is
    compared with the raw chroma scaled by the best non-negative factor.
    """
    if sel.sum() < 50:
        return 0.0
    raw, fit = al.ref_raw[sel], al.ref[sel]
    cr = raw - raw.mean(1, keepdims=True)
    cf = fit - fit.mean(1, keepdims=True)
    k = np.clip((cf * cr).sum(1) / np.maximum((cr * cr).sum(1), 1e-4), 0.0, 2.0)
    off = np.linalg.norm(cf - k[:, None] * cr, axis=1)
    return float(np.quantile(off, 0.95))


def patch_agreement(al: Aligned) -> dict:
    """Fine-texture energy ratio on a full-detail window, over the pixels that agree.

    Local edits (a painted crack) add fine energy of their own; they are left out, so that only
    a difference in focus, noise or resolution between the two photos moves the ratio.
    """
    cg = cv2.cvtColor(al.claim, cv2.COLOR_RGB2GRAY)
    rg = cv2.cvtColor(al.ref, cv2.COLOR_RGB2GRAY)
    cf, rf = _fine(cg), _fine(rg)
    d = residual(al)
    edited = cv2.dilate((d >= 2 * AGREE_TOL).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    v = al.valid & ~edited
    if v.sum() < 0.3 * al.valid.sum():
        v = al.valid
    return {
        "patch_eratio": float(np.sqrt((cf[v] ** 2).mean() / max(1e-12, (rf[v] ** 2).mean()))),
        "patch_fine_ncc": _ncc(cf[v], rf[v]),
    }


# Thresholds, set on synthetic derived copies of scikit-image photos and on the calibration half
# of the multiview pairs (bench/eval_reference.py --split calib); the other half stays held out.
DERIVED_RULES = {
    "inliers": 12,  # at least this many homography inliers
    "inlier_ratio": 0.3,  # copies match cleanly; other captures of a scene do not
    "similar": 0.35,  # a similarity explains the matches (no perspective from a second viewpoint)
    "agree": 0.6,  # most of the overlap agrees pixel for pixel after the colour fit
    "mid_ncc": 0.6,  # structure agrees at a mid scale
    "eratio_low": 0.8,  # claim not blurrier than the reference at full detail (refocus)
    "eratio_high": 1.6,
}
MAX_SIM_DEV = 0.35  # far from any similarity over the overlap: a degenerate homography
MIN_SPREAD = 0.003  # inliers' hull, share of the claim
MIN_ITEM_COVERAGE = 0.25
CLEAN_AGREE = 0.97
EXPOSURE_CLIP_DETAIL = 0.15  # claim shows detail where the reference is clipped ...
EXPOSURE_ERATIO = 1.05  # ... and carries more fine texture: another exposure of the scene


def _margin(value: float, threshold: float, span: float) -> float:
    """0 at the threshold, 1 once `span` beyond it."""
    return float(np.clip((value - threshold) / span, 0.0, 1.0))


def mid_structure(f: dict) -> float:
    """Mid-scale structure agreement; where nearly all the overlap agrees pixel for pixel, measured
    away from the few places that depart (a large painted edit pulls the overall figure down)."""
    if f.get("agree", 0.0) >= CLEAN_AGREE:
        return max(f["mid_ncc"], f.get("mid_ncc_clean", f["mid_ncc"]))
    return f["mid_ncc"]


def classify(f: dict) -> tuple[str, float]:
    """Relation and confidence from registration and agreement features."""
    n, ratio = f.get("inliers", 0), f.get("inlier_ratio", 0.0)
    matched = (n >= 15 and ratio >= 0.12) or (n >= 10 and ratio >= 0.3)
    # a homography that folds the photo over itself, or inliers bunched on one spot, is chance
    matched = matched and f.get("sim_dev", 0.0) <= MAX_SIM_DEV and f.get("spread", 1.0) >= MIN_SPREAD
    # on a product shot the matches must span the item, not only a logo both products carry
    matched = matched and f.get("coverage", 1.0) >= MIN_ITEM_COVERAGE
    if not matched:
        return "unrelated", 0.6 + 0.4 * (1.0 - min(1.0, n / 15.0))
    r = DERIVED_RULES
    if "agree" in f:
        exposure = f["clip_detail"] >= EXPOSURE_CLIP_DETAIL and f["eratio"] >= EXPOSURE_ERATIO
        ok = (
            n >= r["inliers"]
            and ratio >= r["inlier_ratio"]
            and f["similar"] >= r["similar"]
            and f["agree"] >= r["agree"]
            and mid_structure(f) >= r["mid_ncc"]
            and r["eratio_low"] <= f.get("patch_eratio", f["eratio"]) <= r["eratio_high"]
            and not exposure
        )
        if ok:
            m = min(
                _margin(ratio, r["inlier_ratio"], 0.3),
                _margin(f["similar"], r["similar"], 0.3),
                _margin(f["agree"], r["agree"], 0.2),
                _margin(mid_structure(f), r["mid_ncc"], 0.2),
            )
            return "derived", 0.6 + 0.4 * m
    conf = 0.5 + 0.4 * min(_margin(n, 15, 60), _margin(ratio, 0.12, 0.3))
    return "same_item", conf


def relate(claim, ref) -> Relation:
    reg = register(claim, ref)
    if reg is None:
        return Relation("unrelated", 0.9, features={"inliers": 0})
    f = {
        "inliers": reg.inliers,
        "inlier_ratio": reg.inlier_ratio,
        "reproj": reg.reproj_error,
        "spread": reg.inlier_spread,
        "mirrored": float(reg.mirrored),
        "method": reg.method,
        "similar": reg.similar_share,
        "sim_dev": similarity_deviation(reg, (claim.width, claim.height), (ref.width, ref.height)),
        "coverage": reg.item_coverage,
        "plain": float(reg.plain_background),
    }
    al = None
    r = DERIVED_RULES
    copy_like = reg.inliers >= r["inliers"] and reg.inlier_ratio >= r["inlier_ratio"] and reg.similar_share >= r["similar"]
    if copy_like:  # only a registration that could be a copy needs the pixel comparison
        al = align(claim, ref, reg, side=RELATION_SIDE)
        if al is not None:
            f.update(agreement(al))
            # blur, noise and exposure differences: judged on a full-detail window
            patch = align_patch(claim, ref, reg, al)
            if patch is not None:
                f.update(patch_agreement(patch))
    rel, conf = classify(f)
    if rel == "derived" and max(claim.width, claim.height) > RELATION_SIDE:
        al = align(claim, ref, reg) or al  # finer copy for the edit map
    return Relation(rel, conf, reg, al, f)
