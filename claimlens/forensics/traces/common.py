"""Small helpers shared by the trace detectors: working resolution, robust statistics, map -> score."""

from __future__ import annotations

import cv2
import numpy as np


def downscale(img: np.ndarray, max_pixels: int) -> tuple[np.ndarray, float]:
    """Shrink `img` (area interpolation) so that it has at most `max_pixels`; returns (image, scale)."""
    h, w = img.shape[:2]
    if h * w <= max_pixels:
        return img, 1.0
    s = (max_pixels / float(h * w)) ** 0.5
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA), s


def robust_z(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(x - median) / (1.4826 * MAD) over the valid entries; NaN where invalid."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v) if valid is None else (valid & np.isfinite(v))
    out = np.full(v.shape, np.nan)
    if ok.sum() < 4:
        return out
    med = np.median(v[ok])
    mad = 1.4826 * np.median(np.abs(v[ok] - med))
    mad = max(mad, 1e-6)
    out[ok] = (v[ok] - med) / mad
    return out


def block_reduce(a: np.ndarray, b: int, fn=np.mean) -> np.ndarray:
    """Reduce non-overlapping b x b blocks (the ragged border is dropped)."""
    h, w = a.shape[:2]
    hb, wb = h // b, w // b
    if hb == 0 or wb == 0:
        return np.zeros((max(hb, 0), max(wb, 0)), dtype=np.float64)
    if fn is np.mean:  # exact block means, fast
        return cv2.resize(np.ascontiguousarray(a[: hb * b, : wb * b], dtype=np.float32), (wb, hb),
                          interpolation=cv2.INTER_AREA).astype(np.float64)
    v = a[: hb * b, : wb * b].reshape(hb, b, wb, b)
    return fn(v, axis=(1, 3))


def top_contrast(values: np.ndarray, valid: np.ndarray | None = None, frac: float = 0.02) -> float:
    """Mean of the top `frac` of the valid values minus their median: how far the most anomalous blocks
    stand above the photo's own typical block (a continuous image-level statistic, 0 when nothing stands out)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[valid & np.isfinite(v)] if valid is not None else v[np.isfinite(v)]
    if v.size < 4:
        return 0.0
    k = max(1, int(round(frac * v.size)))
    top = np.partition(v, v.size - k)[v.size - k :]
    return float(max(0.0, top.mean() - np.median(v)))


def logit(p, eps: float = 1e-6):
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(q / (1.0 - q))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def region_stats(prob: np.ndarray, valid: np.ndarray | None = None, thr: float = 0.5, open_px: int = 1) -> dict:
    """Connected regions of prob >= thr (after a small opening).

    Returns the largest region's share of the valid area, its mean probability, the total flagged share
    and how many regions there are. Used to turn a block-level anomaly map into one image-level score.
    """
    if valid is None:
        valid = np.ones(prob.shape, bool)
    n_valid = max(1, int(valid.sum()))
    m = ((prob >= thr) & valid).astype(np.uint8)
    if open_px > 0 and min(m.shape) > 2 * open_px + 1:
        k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * open_px + 1, 2 * open_px + 1))
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return {"largest": 0.0, "mean_prob": 0.0, "total": 0.0, "count": 0, "labels": labels, "best": 0}
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = int(np.argmax(areas)) + 1
    return {
        "largest": float(areas.max()) / n_valid,
        "mean_prob": float(prob[labels == best].mean()),
        "total": float(m.sum()) / n_valid,
        "count": int(n - 1),
        "labels": labels,
        "best": best,
    }


def localized_score(prob: np.ndarray, valid: np.ndarray | None = None, min_frac: float = 0.004,
                    full_frac: float = 0.02, max_frac: float = 0.6, open_px: int = 1) -> tuple[float, dict]:
    """Image score from a probability map: a compact region that differs from the rest.

    Ramps with the largest region's share from min_frac to full_frac, times its mean probability; a
    region covering most of the photo is not 'different from the rest' and is damped.
    """
    st = region_stats(prob, valid, open_px=open_px)
    f = st["largest"]
    if f <= 0:
        return 0.0, st
    ramp = float(np.clip((f - min_frac) / max(full_frac - min_frac, 1e-9), 0.0, 1.0))
    if f > max_frac:
        ramp *= float(np.clip((1.0 - f) / (1.0 - max_frac), 0.0, 1.0))
    return ramp * st["mean_prob"], st


def upsample_blocks(block_map: np.ndarray, b: int, shape: tuple[int, int], offset=(0, 0), fill=0.0) -> np.ndarray:
    """Place a per-block map back on the pixel grid (nearest), blocks starting at `offset` (y, x)."""
    h, w = shape
    out = np.full((h, w), fill, dtype=np.float32)
    oy, ox = offset
    if block_map.size == 0:
        return out
    bh, bw = block_map.shape[:2]
    hh, ww = min(bh * b, h - oy), min(bw * b, w - ox)
    if hh > 0 and ww > 0:
        up = cv2.resize(block_map.astype(np.float32), (bw * b, bh * b), interpolation=cv2.INTER_NEAREST)
        out[oy : oy + hh, ox : ox + ww] = up[:hh, :ww]
    return out
