"""Warp a reference into the claim's frame and match its colours to the claim's."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import isotonic_regression

from .registration import Registration, downscaled, rgb

MAP_SIDE = 768  # long side of the claim copy the comparison runs on
BORDER_PX = 3  # pixels dropped along the overlap's edge


@dataclass
class Aligned:
    claim: np.ndarray  # HxWx3 float32 in [0, 1], claim at map resolution
    ref: np.ndarray  # reference warped into the claim frame, colours fitted to the claim
    valid: np.ndarray  # bool HxW: inside the overlap, away from its edge
    scale: float  # map resolution / claim full resolution
    fit_rmse: float  # colour fit residual on the trimmed overlap
    ref_raw: np.ndarray  # warped reference before the colour fit


def _poly(x: np.ndarray) -> np.ndarray:
    """Colour polynomial terms of Nx3 RGB in [0, 1]: cubic per channel plus cross terms."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return np.stack([np.ones_like(r), r, g, b, r * r, g * g, b * b, r * g, r * b, g * b, r**3, g**3, b**3], 1)


def _poly_rows(img: np.ndarray) -> np.ndarray:
    """The terms of `_poly` for an HxWx3 float32 image, as 13xN rows (applying a fit is one matmul)."""
    r, g, b = (c.ravel() for c in cv2.split(img))
    t = np.empty((13, len(r)), np.float32)
    t[0], t[1], t[2], t[3] = 1.0, r, g, b
    np.multiply(r, r, out=t[4])
    np.multiply(g, g, out=t[5])
    np.multiply(b, b, out=t[6])
    np.multiply(r, g, out=t[7])
    np.multiply(r, b, out=t[8])
    np.multiply(g, b, out=t[9])
    np.multiply(t[4], r, out=t[10])
    np.multiply(t[5], g, out=t[11])
    np.multiply(t[6], b, out=t[12])
    return t


def fit_colors(src: np.ndarray, dst: np.ndarray, valid: np.ndarray, rng_seed: int = 0):
    """Fit dst ~ poly(src) on valid pixels, twice, the second time without the worst residuals; where the
    polynomial does not hold, a simpler filter model (_simple_filter) instead (_where_simple)."""
    idx = np.flatnonzero(valid.ravel())
    if idx.size < 50:
        return src, 1.0
    rng = np.random.default_rng(rng_seed)
    if idx.size > 20000:
        idx = idx[rng.integers(0, idx.size, 20000)]
    s = src.reshape(-1, 3)[idx].astype(np.float64)
    d = dst.reshape(-1, 3)[idx].astype(np.float64)
    A = _poly(s)
    keep = np.ones(len(idx), bool)
    for _ in range(2):
        Ak = A[keep]
        coef = np.linalg.solve(Ak.T @ Ak + 1e-6 * np.eye(A.shape[1]), Ak.T @ d[keep])
        res = np.abs(A @ coef - d).max(1)
        keep = res <= max(np.quantile(res, 0.8) * 2.0, 2.0 / 255)
    rmse = float(np.sqrt(np.mean((A[keep] @ coef - d[keep]) ** 2)))
    out = coef.T.astype(np.float32) @ _poly_rows(src)
    np.clip(out, 0, 1, out=out)
    fitted = cv2.merge([c.reshape(src.shape[:2]) for c in out])
    # a cubic with cross terms fitted on the common colours can send a rare one anywhere (a thin saturated
    # red ring on a white product went to black and read as an edit along the ring)
    simple = _simple_filter(s, d)
    use = _where_simple(s, np.abs(A @ coef - d).max(1), np.abs(simple(s) - d).max(1))
    swap = use[_cells(src)].reshape(src.shape[:2])
    if swap.any():
        fitted[swap] = simple(src[swap])
    return fitted, rmse


COLOR_CELLS = 8  # colour cells per channel in which the two filter models are compared
MIN_CELL_PIXELS = 20  # fewer sampled pixels in a cell: the polynomial is not trusted there
MODEL_MARGIN = 0.01  # ... elsewhere the simple model takes over where its median error is lower by this much
AFFINE_RIDGE = 0.01  # pull of the simple model's colour mixing towards none, per sampled pixel


def _cells(rgb: np.ndarray) -> np.ndarray:
    """Flat colour-cell index (COLOR_CELLS per channel) of Nx3 or HxWx3 colours in [0, 1]."""
    x = np.asarray(rgb, np.float32).reshape(-1, 1, 3)
    q = np.minimum(cv2.convertScaleAbs(x, alpha=COLOR_CELLS, beta=-0.5), COLOR_CELLS - 1).reshape(-1, 3)  # floor
    return (q[:, 0].astype(np.uint16) * COLOR_CELLS + q[:, 1]) * COLOR_CELLS + q[:, 2]


def _group_medians(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, lower median of `values`) per key 0..n-1, in one sort."""
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    counts = np.bincount(k, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    med = np.full(n, np.nan)
    has = counts > 0
    med[has] = v[starts[has] + (counts[has] - 1) // 2]
    return counts, med


def _where_simple(s: np.ndarray, poly_err: np.ndarray, simple_err: np.ndarray) -> np.ndarray:
    """Per colour cell of the reference (COLOR_CELLS cubed, flat): True where the simple filter model explains
    the sampled pixels clearly better than the polynomial (median error), or where too few pixels were
    sampled to tell. Both are global models of a filter; a local edit follows neither, so choosing the
    better one per cell of the reference's colours does not explain it away."""
    cell = _cells(s)
    n, poly = _group_medians(cell, poly_err, COLOR_CELLS**3)
    _, simple = _group_medians(cell, simple_err, COLOR_CELLS**3)
    judged = n >= MIN_CELL_PIXELS
    return ~judged | (judged & (simple < poly - MODEL_MARGIN))


def _simple_filter(src: np.ndarray, dst: np.ndarray, bins: int = 32):
    """A filter as an affine colour transform (saturation, tint, brightness: least squares) followed by one
    non-decreasing tone curve per channel (contrast, clipping: medians in equal-width bins, made monotone
    weighted by their pixels, interpolated). Both parts extrapolate tamely, so it is safe to apply to any
    colour. Returns the function that applies it to Nx3 colours."""
    X = np.c_[src, np.ones(len(src))]
    unclipped = ((dst > 0.01) & (dst < 0.99)).all(1)  # a clipped value says little about the mixing
    Xf, Df = (X[unclipped], dst[unclipped]) if unclipped.sum() >= 50 else (X, dst)
    # ridge towards "no mixing": a photo whose green and blue always move together (a red and grey product)
    # does not say how to mix them, and plain least squares answers with huge opposite weights
    lam = AFFINE_RIDGE * len(Xf)
    eye = np.r_[np.eye(3), np.zeros((1, 3))]
    M = np.linalg.solve(Xf.T @ Xf + lam * np.eye(4), Xf.T @ Df + lam * eye)
    mixed = X @ M
    knots = []
    for ch in range(3):
        x, y = mixed[:, ch], dst[:, ch]
        idx = np.clip((x * bins).astype(int), 0, bins - 1)  # mixed values outside [0, 1] share the end bins
        n, cx = _group_medians(idx, x, bins)
        _, cy = _group_medians(idx, y, bins)
        ok = n > 0
        cx, cy, n = cx[ok], cy[ok], n[ok]
        if len(cx) < 2:  # one tone only: the identity is the honest guess
            cx, cy, n = np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.ones(2)
        # the closest non-decreasing curve (weighted pool-adjacent-violators); a running maximum would carry
        # one stray bin's value over all the bins after it
        knots.append((cx, isotonic_regression(cy, weights=n.astype(float)).x))

    # the curves as 1024-entry tables over the mixed values' range (finer than the 8-bit photos); beyond
    # the end knots the curves are flat
    lo, hi = np.maximum(mixed.min(0), -0.5), np.minimum(mixed.max(0), 1.5)
    span = np.maximum(hi - lo, 1e-6)
    grid = lo + span * np.linspace(0, 1, 1024)[:, None]
    tables = np.stack([np.interp(grid[:, ch], *knots[ch]) for ch in range(3)], 1).astype(np.float32)

    # mixed value -> table index, folded into the affine transform: one cv2.transform per call
    k = 1023.0 / span
    to_index = np.c_[M[:3].T * k[:, None], (M[3] - lo) * k].astype(np.float32)

    def apply(px: np.ndarray) -> np.ndarray:
        m = cv2.transform(np.asarray(px, np.float32).reshape(-1, 1, 3), to_index).reshape(-1, 3)
        i = np.clip(m, 0, 1023).astype(np.int32)
        return np.stack([tables[i[:, ch], ch] for ch in range(3)], 1)

    return apply


def align(claim, ref, reg: Registration, side: int = MAP_SIDE) -> Aligned | None:
    c_img, sc = downscaled(claim, side, color=True)
    h, w = c_img.shape[:2]
    # homography from full-size reference to the map-resolution claim
    Hc = np.diag([sc, sc, 1.0]) @ reg.H
    # shrink the reference first to about the claim's scale, so warping does not alias
    jac = Hc[:2, :2] - np.outer(Hc[:2, 2], Hc[2, :2])
    zoom = float(np.sqrt(abs(np.linalg.det(jac)))) if np.isfinite(jac).all() else 1.0
    r_side = max(ref.width, ref.height)
    r_target = int(min(r_side, max(64, r_side * zoom * 1.25)))
    r_img, sr = downscaled(ref, r_target, color=True)
    Hm = Hc @ np.diag([1.0 / sr, 1.0 / sr, 1.0])
    warped = cv2.warpPerspective(r_img, Hm, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    ones = np.full(r_img.shape[:2], 255, np.uint8)
    cover = cv2.warpPerspective(ones, Hm, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    k = 2 * BORDER_PX + 1
    valid = cv2.erode(cover, np.ones((k, k), np.uint8)) > 0
    if valid.sum() < 0.02 * h * w:
        return None
    c = c_img.astype(np.float32) / 255.0
    rw = warped.astype(np.float32) / 255.0
    fitted, rmse = fit_colors(rw, c, valid)
    return Aligned(c, fitted, valid, sc, rmse, rw)


def align_patch(claim, ref, reg: Registration, al: Aligned, size: int = 512) -> Aligned | None:
    """A window of the overlap at full detail (no downscaling beyond the coarser photo's own scale).

    Blur and noise differences between two captures vanish on downscaled copies; they are measured here.
    """
    ys, xs = np.nonzero(al.valid)
    if len(xs) == 0:
        return None
    cx, cy = xs.mean() / al.scale, ys.mean() / al.scale  # overlap centre, claim pixels
    # claim pixels per reference pixel: when the reference is coarser, shrink the claim to match
    jac = reg.H[:2, :2] - np.outer(reg.H[:2, 2], reg.H[2, :2])
    zoom = float(np.sqrt(abs(np.linalg.det(jac))))
    s = min(1.0, 1.0 / zoom) if zoom > 0 else 1.0
    half = size / 2 / s
    x0 = int(np.clip(cx - half, 0, max(0, claim.width - 2 * half)))
    y0 = int(np.clip(cy - half, 0, max(0, claim.height - 2 * half)))
    x1, y1 = int(min(claim.width, x0 + 2 * half)), int(min(claim.height, y0 + 2 * half))
    crop = rgb(claim)[y0:y1, x0:x1]
    w, h = max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s))
    if s < 1.0:
        crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    # reference full size -> patch pixels
    Hp = np.diag([s, s, 1.0]) @ np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]]) @ reg.H
    jac_p = Hp[:2, :2] - np.outer(Hp[:2, 2], Hp[2, :2])
    zoom_p = float(np.sqrt(abs(np.linalg.det(jac_p))))
    r_img = rgb(ref)
    if zoom_p < 0.8:  # shrink the reference first so the warp does not alias
        r_side = max(ref.width, ref.height)
        r_img, sr = downscaled(ref, max(32, int(r_side * zoom_p * 1.25)), color=True)
        Hp = Hp @ np.diag([1.0 / sr, 1.0 / sr, 1.0])
    warped = cv2.warpPerspective(r_img, Hp, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)
    cover = cv2.warpPerspective(np.full(r_img.shape[:2], 255, np.uint8), Hp, (w, h), flags=cv2.INTER_NEAREST)
    valid = cv2.erode(cover, np.ones((2 * BORDER_PX + 1,) * 2, np.uint8)) > 0
    if valid.sum() < 0.2 * w * h:
        return None
    c = crop.astype(np.float32) / 255.0
    rw = np.clip(warped.astype(np.float32) / 255.0, 0, 1)
    fitted, rmse = fit_colors(rw, c, valid)
    return Aligned(c, fitted, valid, s, rmse, rw)
