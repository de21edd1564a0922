"""Copy-move: regions cloned within the photo (a crack or stain copied from elsewhere, a patch cloned over).

Candidates come from two sources, both at a reduced working resolution:
  * keypoints: SIFT self-matching (each keypoint against its 2nd..kth neighbours, generalised 2NN test,
    minimum spatial distance), then RANSAC affine models fitted one after the other;
  * blocks (flat areas without keypoints): low-frequency DCT features of overlapping blocks,
    lexicographically sorted, shift vectors voted.
Each candidate transform is verified densely: the high-pass residual of the photo must correlate with the
residual of its transformed copy. Cloned pixels carry cloned noise; real repeated objects (two mugs, a row
of windows) do not. Both the source and the target are marked.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..base import Detector, DetectorResult, register
from ..traces.common import downscale

WORK_PIXELS = 220_000
MIN_SHIFT = 16  # pixels at working resolution
RATIO = 0.6  # g2NN ratio
CORR_THRESHOLD = 0.6
# residual correlation of a clone after JPEG re-compression: ~0.7 (weak) to 0.9 (exact copy)
CORR_LOW, CORR_HIGH = 0.66, 0.86


def _residual(gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), 1.5)


def _local_corr(a: np.ndarray, b: np.ndarray, valid: np.ndarray, win: int = 9) -> np.ndarray:
    """Windowed correlation coefficient of two residual images."""
    k = (win, win)
    ma, mb = cv2.blur(a, k), cv2.blur(b, k)
    cab = cv2.blur(a * b, k) - ma * mb
    va = cv2.blur(a * a, k) - ma * ma
    vb = cv2.blur(b * b, k) - mb * mb
    c = cab / np.sqrt(np.maximum(va * vb, 1e-6))
    c[(va < 0.5) | (vb < 0.5)] = 0.0  # no texture, no evidence
    c[~valid] = 0.0
    return c


def keypoint_candidates(gray: np.ndarray, max_models: int = 3) -> list[tuple[np.ndarray, int]]:
    """Affine models (2x3, src -> dst) supported by self-matched SIFT keypoints."""
    sift = cv2.SIFT_create(nfeatures=1500, contrastThreshold=0.02)
    kps, des = sift.detectAndCompute(gray, None)
    if des is None or len(kps) < 10:
        return []
    pts = np.float32([k.pt for k in kps])
    k = min(5, len(kps))
    matches = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des, des, k=k)
    pairs = set()
    for i, ms in enumerate(matches):
        ms = [m for m in ms if m.trainIdx != i]
        for j in range(len(ms) - 1):  # generalised 2NN: accept while the ratio to the next stays low
            if ms[j].distance >= RATIO * max(ms[j + 1].distance, 1e-6):
                break
            t = ms[j].trainIdx
            if np.hypot(*(pts[i] - pts[t])) < MIN_SHIFT:
                continue
            a, b = (i, t) if (pts[i][0], pts[i][1]) < (pts[t][0], pts[t][1]) else (t, i)
            pairs.add((a, b))
    if len(pairs) < 4:
        return []
    pairs = np.array(sorted(pairs))
    src, dst = pts[pairs[:, 0]], pts[pairs[:, 1]]
    models = []
    left = np.ones(len(pairs), bool)
    for _ in range(max_models):
        if left.sum() < 4:
            break
        M, inl = cv2.estimateAffine2D(src[left], dst[left], method=cv2.RANSAC, ransacReprojThreshold=3.0,
                                      maxIters=2000, confidence=0.99)
        if M is None or inl is None or inl.sum() < 4:
            break
        inl = inl.ravel().astype(bool)
        det = float(np.linalg.det(M[:, :2]))
        idx = np.flatnonzero(left)[inl]
        spread = np.ptp(src[idx], axis=0).max() if len(idx) else 0
        if 0.25 < det < 4.0 and spread >= 6:
            models.append((M.astype(np.float64), int(inl.sum())))
        left[idx] = False
    return models


def block_candidates(gray: np.ndarray, b: int = 8, max_models: int = 3) -> list[tuple[np.ndarray, int]]:
    """Translations shared by many identical-looking blocks (lexicographic sort of quantised DCT features)."""
    g = gray.astype(np.float32)
    h, w = g.shape
    if h < 3 * b or w < 3 * b:
        return []
    win = np.lib.stride_tricks.sliding_window_view(g, (b, b))[::2, ::2]
    ys, xs = np.mgrid[0 : win.shape[0], 0 : win.shape[1]]
    ys, xs = ys.ravel() * 2, xs.ravel() * 2
    v = win.reshape(-1, b * b)
    std = v.std(axis=1)
    keep = std > 2.0  # flat blocks match everything
    if keep.sum() < 50:
        return []
    v, ys, xs = v[keep], ys[keep], xs[keep]
    k = np.arange(b)
    d = np.sqrt(2.0 / b) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * b))
    d[0] /= np.sqrt(2.0)
    basis = np.kron(d[:3], d[:3]).T.astype(np.float32)  # 9 lowest frequencies
    f = v @ basis
    q = np.round(f / np.array([8, 4, 3, 4, 3, 2, 3, 2, 2], np.float32)).astype(np.int32)
    order = np.lexsort(q.T[::-1])
    qs = q[order]
    same = np.all(qs[1:] == qs[:-1], axis=1)
    i0 = order[:-1][same]
    i1 = order[1:][same]
    dy, dx = ys[i1] - ys[i0], xs[i1] - xs[i0]
    sgn = np.where((dx < 0) | ((dx == 0) & (dy < 0)), -1, 1)
    dy, dx = dy * sgn, dx * sgn
    far = np.hypot(dy, dx) >= MIN_SHIFT
    if far.sum() < 10:
        return []
    shifts, counts = np.unique(np.stack([dy[far], dx[far]], 1), axis=0, return_counts=True)
    need = max(12, int(0.0004 * h * w / 4))
    out = []
    for i in np.argsort(-counts)[:max_models]:
        if counts[i] < need:
            break
        sy, sx = shifts[i]
        out.append((np.array([[1.0, 0.0, float(sx)], [0.0, 1.0, float(sy)]]), int(counts[i])))
    return out


def verify(gray: np.ndarray, M: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Dense check of one model: (target mask, source mask, mean residual correlation inside the target)."""
    h, w = gray.shape
    r = _residual(gray)
    warped = cv2.warpAffine(r, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    inside = cv2.warpAffine(np.ones((h, w), np.float32), M, (w, h), flags=cv2.INTER_NEAREST) > 0.5
    c = _local_corr(r, warped, valid & inside)
    c = cv2.GaussianBlur(c, (0, 0), 2.0)
    tgt = (c > CORR_THRESHOLD).astype(np.uint8)
    tgt = cv2.morphologyEx(tgt, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # drop specks: keep components of a meaningful size
    n, lab, st, _ = cv2.connectedComponentsWithStats(tgt, connectivity=8)
    minarea = max(40, int(0.0008 * h * w))
    keep = np.zeros(n, bool)
    keep[1:] = st[1:, cv2.CC_STAT_AREA] >= minarea
    tgt = keep[lab]
    if not tgt.any():
        return tgt, tgt, 0.0
    tgt = cv2.dilate(tgt.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    Minv = cv2.invertAffineTransform(M)
    src = cv2.warpAffine(tgt.astype(np.uint8), Minv, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
    return tgt, src, float(c[tgt].mean())


@register
class CopyMove(Detector):
    name = "copy_move"
    weight = 1.0

    def run(self, evidence) -> DetectorResult:
        gray0 = evidence.gray
        h0, w0 = gray0.shape
        if min(h0, w0) < 32:
            return self.not_applicable(f"photo too small for copy-move search ({w0}x{h0})")
        gray, s = downscale(gray0, WORK_PIXELS)
        h, w = gray.shape
        valid = np.ones((h, w), bool)
        g8 = gray if gray.dtype == np.uint8 else np.clip(gray, 0, 255).astype(np.uint8)
        cands = [(M, n, "keypoints") for M, n in keypoint_candidates(g8)]
        small, s2 = downscale(g8, 120_000)
        for M, n in block_candidates(small):
            M = M.copy()
            M[:, 2] /= s2
            cands.append((M, n, "blocks"))
        fmap = np.zeros((h, w), np.float32)
        models = []
        for M, n, how in cands:
            shift = float(np.hypot(*M[:, 2]))
            if shift < MIN_SHIFT and np.allclose(M[:, :2], np.eye(2), atol=0.05):
                continue
            tgt, src, corr = verify(gray, M, valid)
            area = float(tgt.mean())
            if area <= 0:
                continue
            overlap = float((tgt & src).sum()) / max(1, tgt.sum())
            if overlap > 0.5:  # a model mapping a region onto itself is texture, not a clone
                continue
            conf = float(np.clip((corr - CORR_LOW) / (CORR_HIGH - CORR_LOW), 0, 1))
            fmap = np.maximum(fmap, (tgt | src).astype(np.float32) * (0.5 + 0.5 * conf))
            models.append({"method": how, "support": n, "area_fraction": round(area, 4),
                           "correlation": round(corr, 3),
                           "shift_px": [round(M[0, 2] / s, 1), round(M[1, 2] / s, 1)]})
        if not models:
            return DetectorResult(self.name, score=0.0, map=fmap,
                                  extra={"candidates": len(cands), "evidence": {"correlation": 0.0, "area": 0.0}},
                                  reason="no cloned region found")
        best = max(models, key=lambda m: (m["correlation"], m["area_fraction"]))
        area_ramp = float(np.clip((best["area_fraction"] - 0.0008) / 0.004, 0, 1))
        score = float(area_ramp * np.clip((best["correlation"] - CORR_LOW) / (CORR_HIGH - CORR_LOW), 0, 1))
        findings = []
        sev = "high" if score >= 0.8 else "medium" if score >= 0.5 else "low" if score >= 0.3 else None
        if sev:
            findings.append(self.finding(
                "cloned_region", sev,
                f"a region is cloned from elsewhere in the photo ({best['area_fraction']:.1%} of it, "
                f"shift {best['shift_px'][0]:.0f},{best['shift_px'][1]:.0f} px)", **best))
        return DetectorResult(self.name, findings=findings, score=score, map=fmap,
                              extra={"models": models, "candidates": len(cands),
                                     "evidence": {"correlation": best["correlation"], "area": best["area_fraction"]}})
