"""Pixel check after the geometric fit: the same capture, or another capture of the same scene?

A re-encode, resize or crop of a photo keeps its pixels: the candidate's stored grey thumbnail and the query
warped onto it by the fitted similarity agree closely in their fine detail. A second capture from a tripod or
the other camera of a stereo pair fits a similarity too (same scene, same viewpoint) but its fine detail
differs: other noise and blur, parallax, light. The score is the normalised cross-correlation of the
high-pass residuals of both, block by block over the part of the thumbnail that the query covers.
A capture from another viewpoint can still agree on a coarse thumbnail (most of it at one depth); its
keypoint matches show the parallax (parallax.py), and same_capture rejects it too.
Two photos that share one patch only (one logo on two products) can fit on that patch and agree in its
detail: same_capture rejects a fit whose inliers span a patch of the overlap (coverage.py) while a large
share of the overlap shows other content (differing_share).
"""

from __future__ import annotations

import cv2
import numpy as np

from .coverage import covers_too_little
from .fingerprint import Fingerprint
from .parallax import shows_parallax
from .verify import Transform, _trim

HIGHPASS_SIGMA = 1.5  # thumbnail pixels
MIN_PIXELS = 200  # fewer covered thumbnail pixels cannot be judged: the check passes
BLOCK = 8  # thumbnail pixels per block side
MIN_BLOCKS = 4  # fewer fully covered blocks cannot be judged either
MIN_AGREEMENT = 0.65  # bench/index.py --calibrate: rejects 0.6 % of copies (p1 0.68), other captures score ~0.2
CONTENT_SIGMA = 1.0  # thumbnail pixels: the coarse content compared by differing_share
CONTENT_TOLERANCE = 32.0  # grey levels off the fitted tone map: other content there
MAX_DIFFERING = 0.2  # bench/index.py --calibrate: copies max 0.16 (a sticker), p99 0.07


def _mat(a: np.ndarray) -> np.ndarray:
    m = np.eye(3)
    m[:2] = np.asarray(a, np.float64).reshape(2, 3)
    return m


def _scale_shift(sx: float, sy: float, tx: float, ty: float) -> np.ndarray:
    return np.array([[sx, 0, tx], [0, sy, ty], [0, 0, 1]], np.float64)


def warp_query(query: Fingerprint, cand: Fingerprint, tr: Transform) -> tuple[np.ndarray, np.ndarray]:
    """The query photo resampled onto the candidate's thumbnail grid, and the mask of covered pixels."""
    side = cand.thumb.shape[0]
    g = query.image[:, ::-1] if tr.mirrored else query.image
    qh, qw = g.shape
    # candidate thumbnail -> candidate work -> candidate original pixels (pixel centres at integers)
    cw, ch = cand.keypoints.size
    t, b, l, r = cand.trim
    Hc, Wc = cand.shape
    sxc, syc = (Wc - l - r) / max(cw, 1), (Hc - t - b) / max(ch, 1)
    thumb_to_work = _scale_shift(cw / side, ch / side, 0.5 * cw / side - 0.5, 0.5 * ch / side - 0.5)
    work_to_orig = _scale_shift(sxc, syc, l, t)
    # candidate original -> query original (the mirrored frame for a mirrored match) -> query work pixels
    orig_to_query = np.linalg.inv(_mat(tr.matrix))
    tq, bq, lq, rq = _trim(query, tr.mirrored)
    Hq, Wq = query.shape
    sxq, syq = (Wq - lq - rq) / max(qw, 1), (Hq - tq - bq) / max(qh, 1)
    query_to_work = np.linalg.inv(_scale_shift(sxq, syq, lq, tq))
    A = query_to_work @ orig_to_query @ work_to_orig @ thumb_to_work
    # shrink the query first so that bilinear sampling does not alias
    f = max(1.0, float(np.sqrt(abs(np.linalg.det(A[:2, :2])))))
    if f > 1.01:
        sw, sh = max(1, round(qw / f)), max(1, round(qh / f))
        g = cv2.resize(np.ascontiguousarray(g), (sw, sh), interpolation=cv2.INTER_AREA)
        A = _scale_shift(sw / qw, sh / qh, 0.5 * sw / qw - 0.5, 0.5 * sh / qh - 0.5) @ A
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(np.ascontiguousarray(g, np.float32), A[:2], (side, side), flags=flags,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cover = cv2.warpAffine(np.ones(g.shape, np.float32), A[:2], (side, side), flags=flags,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.erode((cover > 0.999).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    return out, mask


def _highpass(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x - cv2.GaussianBlur(x, (0, 0), HIGHPASS_SIGMA)


def _warped(query: Fingerprint, cand: Fingerprint, tr: Transform):
    """(query on the candidate's thumbnail grid, covered mask), or None when too little can be judged."""
    if query.image is None or cand.thumb is None or len(tr.matrix) != 6:
        return None
    warped, mask = warp_query(query, cand, tr)
    return (warped, mask) if mask.sum() >= MIN_PIXELS else None


def agreement(query: Fingerprint, cand: Fingerprint, tr: Transform, warped=None) -> float | None:
    """Median over 8x8-pixel blocks of the normalised cross-correlation of high-pass residuals (-1..1).

    The median ignores the few blocks a sticker or caption covers. None when it cannot be judged.
    `warped`: _warped's result, when the caller has it already."""
    w = warped or _warped(query, cand, tr)
    if w is None:
        return None
    warped, mask = w
    a, b = _highpass(warped), _highpass(cand.thumb)
    nb, bs = mask.shape[0] // BLOCK, BLOCK

    def blocks(x):  # (nb*bs, nb*bs) -> per-block sums over the covered pixels
        return x[: nb * bs, : nb * bs].reshape(nb, bs, nb, bs).sum(axis=(1, 3)).ravel()

    m = mask.astype(np.float64)
    a, b = a.astype(np.float64) * m, b.astype(np.float64) * m
    n = blocks(m)
    ok = n >= 0.8 * bs * bs
    n = np.maximum(n, 1)
    sa, sb = blocks(a), blocks(b)
    cov = blocks(a * b) - sa * sb / n
    va = blocks(a * a) - sa * sa / n
    vb = blocks(b * b) - sb * sb / n
    den = np.sqrt(np.maximum(va, 0) * np.maximum(vb, 0))
    ok &= den > 1e-3
    vals = cov[ok] / den[ok]
    return float(np.median(vals)) if len(vals) >= MIN_BLOCKS else None


def differing_share(query: Fingerprint, cand: Fingerprint, tr: Transform, warped=None) -> float | None:
    """Share of the covered thumbnail whose coarse grey level is off a fitted linear tone map (brightness and
    contrast edits) by more than CONTENT_TOLERANCE: other content there. None when it cannot be judged.
    `warped`: _warped's result, when the caller has it already."""
    w = warped or _warped(query, cand, tr)
    if w is None:
        return None
    warped, mask = w
    a = cv2.GaussianBlur(warped, (0, 0), CONTENT_SIGMA)[mask].astype(np.float64)
    b = cv2.GaussianBlur(cand.thumb.astype(np.float32), (0, 0), CONTENT_SIGMA)[mask].astype(np.float64)
    design = np.c_[b, np.ones_like(b)]
    keep = np.ones(len(a), bool)
    for _ in range(3):  # least squares, then again on the best-fitting 80 % (a sticker is not part of the map)
        coef, *_ = np.linalg.lstsq(design[keep], a[keep], rcond=None)
        res = np.abs(a - design @ coef)
        keep = res <= np.percentile(res, 80)
    return float(np.mean(res > CONTENT_TOLERANCE))


def same_capture(query: Fingerprint, cand: Fingerprint, tr: Transform, threshold: float = MIN_AGREEMENT) -> bool:
    """False when the keypoint matches show parallax, when the fit spans a patch of the overlap only and much
    of the overlap shows other content, or when the pixels show another capture of the scene; True when the
    pixels agree or cannot be judged."""
    if shows_parallax(tr):
        return False
    warped = _warped(query, cand, tr)
    if warped is None:
        return True
    if covers_too_little(tr) and differing_share(query, cand, tr, warped) > MAX_DIFFERING:
        return False
    s = agreement(query, cand, tr, warped)
    return s is None or s >= threshold
