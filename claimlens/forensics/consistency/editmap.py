"""Where a derived claim photo departs from its reference: edit probability map, mask, regions."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .align import Aligned
from .relation import residual

EDIT_TOL = 0.045  # residual at which a pixel is an edit with probability 0.5
MIN_REGION = 0.001  # regions below this share of the overlap are dropped
GROW_FRAC = 0.4  # a region grows into connected pixels whose residual reaches this share of the edit level
HALO_FRAC = 0.15  # ... and a share of the region's own strength
GROW_PX = 0.0  # and is widened by this share of the map's short side


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Background pixels not reachable from the border become foreground."""
    inv = (mask == 0).astype(np.uint8)
    n, lab = cv2.connectedComponents(inv, connectivity=4)
    edge = np.unique(np.r_[lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    outside = np.isin(lab, edge[edge > 0])
    return ((mask > 0) | ~outside).astype(np.uint8)


@dataclass
class EditMap:
    prob: np.ndarray  # float32 at the claim's full size
    mask: np.ndarray  # uint8 at the claim's full size, 255 = edited
    regions: list[dict] = field(default_factory=list)
    edited_fraction: float = 0.0
    item_area: float = 0.0


def item_mask(al: Aligned) -> np.ndarray:
    """The item inside the overlap: the reference without a flat background touching its border."""
    g = cv2.cvtColor((al.ref_raw * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    v = al.valid
    ys, xs = np.nonzero(v)
    if len(xs) == 0:
        return v
    edge = cv2.morphologyEx(v.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    border_vals = g[edge & (cv2.dilate(v.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)]
    if border_vals.size < 20:
        return v
    bg = float(np.median(border_vals))
    if np.mean(np.abs(border_vals.astype(np.float32) - bg) < 8) < 0.6:
        return v  # busy border: no plain background
    near = (np.abs(g.astype(np.float32) - bg) < 10).astype(np.uint8)
    n, lab = cv2.connectedComponents(near)
    touching = np.unique(lab[edge & (near > 0)])
    background = np.isin(lab, touching[touching > 0])
    item = v & ~background
    share = item.sum() / max(1, v.sum())
    return item if 0.05 < share < 0.95 else v


def padding_mask(img: np.ndarray) -> np.ndarray:
    """Flat fill touching the photo's edge (rotation corners, screenshot bars, letterboxing)."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    m = cv2.GaussianBlur(g, (0, 0), 1.5)
    lstd = np.sqrt(np.maximum(cv2.GaussianBlur(g * g, (0, 0), 1.5) - m * m, 0))
    flat = (lstd < 0.006).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    h, w = g.shape
    edge = np.unique(np.r_[lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    pad = np.isin(lab, edge[edge > 0])
    return cv2.dilate(pad.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def edit_map(al: Aligned, full_shape: tuple[int, int]) -> EditMap:
    al.valid = al.valid & ~padding_mask(al.claim)
    d1 = cv2.medianBlur(residual(al, 0.0), 3)
    # coarser scale for faint, wide edits (stains)
    d2 = cv2.GaussianBlur(residual(al, 2.5), (0, 0), 2.0)
    d = np.maximum(d1, d2 * 0.6)
    d[~al.valid] = 0
    noise = float(np.quantile(d[al.valid], 0.9)) if al.valid.any() else 0.0
    tol = max(EDIT_TOL, 2.5 * noise)
    prob = 1.0 / (1.0 + np.exp(-(d - tol) / (0.25 * tol)))
    prob = prob.astype(np.float32)
    prob[~al.valid] = 0
    mask_small = (prob >= 0.5).astype(np.uint8)
    mask_small = cv2.morphologyEx(mask_small, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    item = item_mask(al)
    h, w = full_shape
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask_small, connectivity=8)
    min_area = MIN_REGION * al.valid.sum()
    keep = np.zeros(n, bool)
    keep[np.unique(lab[prob > 0.8])] = True  # regions that reach a confident level somewhere
    keep &= stats[:, cv2.CC_STAT_AREA] >= max(min_area, 20)
    keep[0] = False
    mask_small = keep[lab].astype(np.uint8)
    # an edit fades out at its rim (feathering, blending, compression): grow each region into the
    # connected pixels that still depart from the reference, fill its holes, widen it a little
    grown = mask_small.copy()
    for i in np.flatnonzero(keep):
        # the rim counts while it departs clearly from the reference; around a strong edit (a dark
        # crack) the faint ring of compression ringing does not
        sel = lab == i
        thr = max(GROW_FRAC * tol, HALO_FRAC * float(np.quantile(d[sel], 0.95)))
        low = ((d >= thr) & al.valid).astype(np.uint8) | sel.astype(np.uint8)
        _, lab2 = cv2.connectedComponents(low, connectivity=8)
        grown |= np.isin(lab2, np.unique(lab2[sel])).astype(np.uint8)
    mask_small = grown
    mask_small = fill_holes(mask_small)
    r = round(GROW_PX * min(mask_small.shape))
    if r > 0:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        mask_small = ((cv2.dilate(mask_small, disk) > 0) & al.valid).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask_small, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area * 0.5
    mask_small = keep[lab].astype(np.uint8)
    prob = np.where(mask_small > 0, np.maximum(prob, 0.55), np.minimum(prob, 0.45)).astype(np.float32)
    prob_full = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    mask_full = ((prob_full >= 0.5) * 255).astype(np.uint8)
    inv = 1.0 / al.scale
    item_area = float(item.sum())
    regions = []
    sums = np.bincount(lab.ravel(), weights=prob.ravel(), minlength=n)
    for i in np.flatnonzero(keep):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        regions.append(
            {
                "bbox": [int(x * inv), int(y * inv), max(1, int(round(bw * inv))), max(1, int(round(bh * inv)))],
                "area_fraction": round(area / max(1.0, item_area), 5),
                "score": round(float(sums[i] / max(1, area)), 4),
            }
        )
    regions.sort(key=lambda r: -r["area_fraction"])
    edited = float(mask_small.astype(bool).sum() / max(1.0, item_area))
    return EditMap(prob_full, mask_full, regions, min(1.0, edited), item_area * inv * inv)
