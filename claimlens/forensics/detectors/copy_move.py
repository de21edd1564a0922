"""Copy-move: regions cloned within the photo (a crack or stain copied from elsewhere, a patch cloned over).

Candidates come from two sources, both at a working resolution (large photos reduced, small ones enlarged):
  * keypoints: SIFT self-matching (each keypoint against its k nearest neighbours, generalised 2NN test,
    minimum spatial distance), once as they are and once against the descriptors of the mirrored patches
    (a flipped copy); each matched pair implies a similarity from the keypoints' angles and sizes, pairs
    that agree are clustered, and a RANSAC similarity fitted inside each cluster is aligned sub-pixel (ECC);
  * blocks (flat areas without keypoints): low-frequency DCT features of overlapping blocks,
    lexicographically sorted, shift vectors voted.
Each candidate transform is verified densely: the band-pass residual of the photo must correlate with the
residual of its transformed copy, away from the transform's fixed points. Cloned pixels carry cloned fine
texture; real repeated objects (two mugs, a row of windows) do not. The larger copy is resampled onto the
smaller one and the residual taken after resampling, so both sides hold the same band (a clone scaled down
keeps it). Both the source and the target are marked.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..base import Detector, DetectorResult, register
from ..traces.common import downscale

WORK_PIXELS = 220_000
MIN_SHIFT = 16  # pixels at working resolution
RATIO = 0.7  # g2NN ratio (0.6 and 0.7 compared on bench.copy_move calibration clones)
CORR_THRESHOLD = 0.6
# band-pass residual correlation of a clone after JPEG re-compression: ~0.75 (weak) to 0.95 (exact copy);
# look-alikes (repeated windows, mirror-symmetric facades) reach ~0.8 on their edges. The band and these
# thresholds were chosen on bench.copy_move clones of the calibration photos (recall vs clean re-saves).
RESIDUAL_BAND = (1.0, 3.0)  # Gaussian sigmas of the difference of Gaussians
CORR_LOW, CORR_HIGH = 0.72, 0.88
MIN_AREA, AREA_RAMP = 0.0008, 0.004  # cloned area as a fraction of the photo: nothing below, full weight above the sum
FULL_SUPPORT = 10  # keypoint pairs that make a model fully trusted


def _residual(gray: np.ndarray) -> np.ndarray:
    """Band-pass (difference of Gaussians): JPEG quantisation and resampling blur the finest band first."""
    g = gray.astype(np.float32)
    fine, coarse = RESIDUAL_BAND
    return cv2.GaussianBlur(g, (0, 0), fine) - cv2.GaussianBlur(g, (0, 0), coarse)


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


# SIFT descriptor of a horizontally mirrored patch: 4x4 spatial cells with their rows reversed, and each
# 8-bin orientation histogram negated (bin o -> -o); the keypoint angle becomes 180 - angle.
_MIRROR_BINS = (-np.arange(8)) % 8
SIFT_FEATURES, SIFT_CONTRAST = 2000, 0.01  # 0.01: more keypoints on small, low-contrast clones
MAX_PAIRS = 1500  # matched pairs (each direction counted) taken into the consensus search
MIN_INLIERS = 5


def _mirror_descriptors(des: np.ndarray) -> np.ndarray:
    d = des.reshape(-1, 4, 4, 8)[:, ::-1][:, :, :, _MIRROR_BINS]
    return np.ascontiguousarray(d.reshape(-1, 128))


def _g2nn_pairs(query: np.ndarray, train: np.ndarray, pts: np.ndarray, k: int = 8) -> np.ndarray:
    """Rows (i, t, ratio): keypoint t looks like (the query version of) keypoint i. Generalised 2NN over the k
    nearest neighbours: accept neighbours in order while the distance to the next one stays clearly larger."""
    n = len(train)
    k = min(k, n - 1)
    if k < 2:
        return np.zeros((0, 3))
    dist, near = cv2.batchDistance(query.astype(np.float32), train.astype(np.float32), cv2.CV_32F,
                                   normType=cv2.NORM_L2, K=k + 1, update=0, crosscheck=False)
    # a keypoint is not its own clone: drop it from its neighbour list (sorted by distance)
    own = near == np.arange(n)[:, None]
    dist = np.where(own, np.inf, dist)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    dist, near = np.take_along_axis(dist, order, 1), np.take_along_axis(near, order, 1)
    ratio = dist[:, :-1] / np.maximum(dist[:, 1:], 1e-6)
    accept = np.cumprod(ratio < RATIO, axis=1).astype(bool)
    i, j = np.nonzero(accept)
    t_idx = near[i, j]
    far = np.hypot(*(pts[i] - pts[t_idx]).T) >= MIN_SHIFT
    return np.stack([i[far], t_idx[far], ratio[i, j][far]], axis=1)


def _consensus_models(src, dst, rot, logscale, mirrored: bool, max_models: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cluster pairs by the similarity each one implies (keypoint angle and size), then RANSAC inside a cluster.

    src, dst: matched points (both directions of every pair); rot: dst angle - src angle (radians);
    logscale: log(dst size / src size). For mirrored pairs src x is negated (x -> -x) before the similarity.
    Returns (2x3 model, its inlier dst points) per model."""
    sx = src.copy()
    if mirrored:
        sx[:, 0] = -sx[:, 0]
    c, s = np.cos(rot), np.sin(rot)
    scale = np.exp(logscale)
    # prediction of every pair's dst by every pair's similarity: dst_i + S_i R_i (src_j - src_i)
    dx = sx[None, :, 0] - sx[:, None, 0]
    dy = sx[None, :, 1] - sx[:, None, 1]
    px = dst[:, None, 0] + scale[:, None] * (c[:, None] * dx - s[:, None] * dy)
    py = dst[:, None, 1] + scale[:, None] * (s[:, None] * dx + c[:, None] * dy)
    err = np.hypot(px - dst[None, :, 0], py - dst[None, :, 1])
    tol = 3.0 + 0.12 * scale[:, None] * np.hypot(dx, dy)  # keypoint angles are good to a few degrees
    drot = np.abs(np.angle(np.exp(1j * (rot[:, None] - rot[None, :]))))
    agree = (err < tol) & (drot < 0.35) & (np.abs(logscale[:, None] - logscale[None, :]) < 0.3)
    n = len(src)
    half = n // 2  # pair p and its reverse p + half (or p - half)
    reverse = np.r_[np.arange(half, n), np.arange(half)]
    left = np.ones(n, bool)
    models = []
    for _ in range(max_models):
        votes = (agree & left[None, :]).sum(axis=1) * left
        best = int(np.argmax(votes))
        if votes[best] < MIN_INLIERS:
            break
        members = np.flatnonzero(agree[best] & left)
        # a mirror (or a half turn) is close to its own inverse: keep each pair in one direction only,
        # the one the chosen similarity predicts better
        members = members[err[best, members] <= err[best, reverse[members]]]
        left[members] = False
        left[reverse[members]] = False
        S, inl = cv2.estimateAffinePartial2D(sx[members], dst[members], method=cv2.RANSAC,
                                             ransacReprojThreshold=3.0, maxIters=500, confidence=0.995)
        if S is None or inl is None or inl.sum() < MIN_INLIERS:
            continue
        inl = inl.ravel().astype(bool)
        if np.ptp(src[members[inl]], axis=0).max() < 8:  # all support in one spot: a single repeated feature
            continue
        S = S.astype(np.float64)
        if mirrored:
            S[:, 0] = -S[:, 0]
        det = abs(float(np.linalg.det(S[:, :2])))
        if 0.25 < det < 4.0:
            models.append((S, dst[members[inl]]))
    return models


def keypoint_candidates(gray: np.ndarray, max_models: int = 3) -> list[tuple[np.ndarray, int]]:
    """Similarity models (2x3, src -> dst, possibly mirrored) supported by self-matched SIFT keypoints."""
    sift = cv2.SIFT_create(nfeatures=SIFT_FEATURES, contrastThreshold=SIFT_CONTRAST)
    kps, des = sift.detectAndCompute(gray, None)
    if des is None or len(kps) < 10:
        return []
    pts = np.float32([k.pt for k in kps])
    ang = np.deg2rad(np.float32([k.angle for k in kps]))
    size = np.float32([k.size for k in kps])
    models = []
    for mirrored in (False, True):
        query = _mirror_descriptors(des) if mirrored else des
        found = _g2nn_pairs(query, des, pts)
        if len(found) < MIN_INLIERS:
            continue
        found = found[np.argsort(found[:, 2])][: MAX_PAIRS // 2]
        pairs = np.unique(np.sort(found[:, :2].astype(int), axis=1), axis=0)  # i -> t and t -> i are one pair
        a, b = pairs[:, 0], pairs[:, 1]
        ang_a = (np.pi - ang[a]) if mirrored else ang[a]
        ang_b = (np.pi - ang[b]) if mirrored else ang[b]
        # both directions: the clone's source is not known
        src = np.concatenate([pts[a], pts[b]])
        dst = np.concatenate([pts[b], pts[a]])
        rot = np.concatenate([ang[b] - ang_a, ang[a] - ang_b])
        logscale = np.concatenate([np.log(size[b] / size[a]), np.log(size[a] / size[b])])
        models += _consensus_models(src, dst, rot, logscale, mirrored, max_models)
    out = []
    for M, support in sorted(models, key=lambda m: -len(m[1]))[:max_models]:  # best supported, plain or mirrored
        x0, y0 = np.floor(support.min(axis=0)).astype(int) - 6
        x1, y1 = np.ceil(support.max(axis=0)).astype(int) + 6
        out.append((refine(gray, M, (x0, y0, x1, y1)), len(support)))
    return out


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


def _displacement(M: np.ndarray, h: int, w: int) -> np.ndarray:
    """How far each target pixel lies from its source under M (pixels)."""
    Minv = cv2.invertAffineTransform(M)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sx = Minv[0, 0] * xs + Minv[0, 1] * ys + Minv[0, 2]
    sy = Minv[1, 0] * xs + Minv[1, 1] * ys + Minv[1, 2]
    return np.hypot(sx - xs, sy - ys)


def _nearest_similarity(A: np.ndarray, target_centre: np.ndarray) -> np.ndarray:
    """A clone is rotated, scaled and maybe mirrored, not sheared: the similarity nearest to affine A that
    maps onto the same target centre (an unconstrained fit also bends to line up edges of look-alikes)."""
    flip = np.diag([-1.0, 1.0]) if np.linalg.det(A[:, :2]) < 0 else np.eye(2)
    L = A[:, :2] @ flip
    a, b = (L[0, 0] + L[1, 1]) / 2, (L[1, 0] - L[0, 1]) / 2
    linear = np.array([[a, -b], [b, a]]) @ flip
    Ainv = cv2.invertAffineTransform(A)
    source_centre = Ainv[:, :2] @ target_centre + Ainv[:, 2]
    return np.hstack([linear, (target_centre - linear @ source_centre)[:, None]])


def refine(gray: np.ndarray, M: np.ndarray, target_box: tuple[int, int, int, int]) -> np.ndarray:
    """Sub-pixel alignment of a keypoint model on the target area (ECC); the model itself if ECC fails."""
    x0, y0, x1, y1 = target_box
    h, w = gray.shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return M
    g = gray.astype(np.float32)
    Minv = cv2.invertAffineTransform(M)  # target crop coordinates -> source coordinates
    warp = Minv.copy()
    warp[:, 2] += Minv[:, :2] @ np.array([x0, y0], np.float64)
    try:
        _, warp = cv2.findTransformECC(g[y0:y1, x0:x1], g, warp.astype(np.float32), cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4), None, 3)
    except cv2.error:
        return M
    warp = warp.astype(np.float64)
    warp[:, 2] -= warp[:, :2] @ np.array([x0, y0], np.float64)
    R = _nearest_similarity(cv2.invertAffineTransform(warp), np.array([(x0 + x1) / 2, (y0 + y1) / 2]))
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    moved = np.abs(corners @ (R[:, :2] - M[:, :2]).T + (R[:, 2] - M[:, 2])).max()
    return R if moved < 4.0 else M  # a small correction, or ECC wandered off


def verify(gray: np.ndarray, r: np.ndarray, M: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Dense check of one model: the residual `r` (_residual of `gray`) against the residual of `gray` moved by
    the model. Returns (mask of the smaller copy, mask of the larger copy, mean residual correlation inside
    the first)."""
    h, w = r.shape
    if abs(np.linalg.det(M[:, :2])) > 1.0:
        M = cv2.invertAffineTransform(M)  # move the larger copy onto the smaller one: no band is missing
    moved = cv2.warpAffine(gray.astype(np.float32), M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    warped = _residual(moved)
    inside = cv2.warpAffine(np.ones((h, w), np.float32), M, (w, h), flags=cv2.INTER_NEAREST) > 0.5
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # reflected border
    # near a fixed point of the model (a small shift, a scale or mirror about a nearby centre) the residual
    # correlates with itself
    inside &= _displacement(M, h, w) >= MIN_SHIFT
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
        if gray.size < WORK_PIXELS / 2:
            # a small photo: a clone of a few dozen pixels carries too few keypoints at its own size
            up = min(2.0, (WORK_PIXELS / gray.size) ** 0.5)
            gray = cv2.resize(gray, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
            s *= up
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
        residual = _residual(gray)  # once per photo, shared by every candidate's check
        for M, n, how in cands:
            shift = float(np.hypot(*M[:, 2]))
            if shift < MIN_SHIFT and np.allclose(M[:, :2], np.eye(2), atol=0.05):
                continue
            tgt, src, corr = verify(gray, residual, M, valid)
            area = float(tgt.mean())
            if area <= 0:
                continue
            overlap = float((tgt & src).sum()) / max(1, tgt.sum())
            if overlap > 0.5:  # a model mapping a region onto itself is texture, not a clone
                continue
            conf = float(np.clip((corr - CORR_LOW) / (CORR_HIGH - CORR_LOW), 0, 1))
            area_ramp = float(np.clip((area - MIN_AREA) / AREA_RAMP, 0, 1))
            # a model carried by a handful of keypoints may be a look-alike (a row of windows): less weight
            support = 1.0 if how == "blocks" else float(np.clip((n - 2) / (FULL_SUPPORT - 2), 0, 1))
            model_score = conf * area_ramp * support
            # a reported model marks its source and target at >= 0.5; a weak one stays below
            fmap = np.maximum(fmap, (tgt | src).astype(np.float32)
                              * (0.5 + 0.5 * model_score if model_score >= 0.3 else model_score))
            linear = M[:, :2]
            det = float(np.linalg.det(linear))
            sign = -1.0 if det < 0 else 1.0  # a mirrored model is rotation . scale . flip(x)
            rotation = float(np.degrees(np.arctan2(sign * linear[1, 0], sign * linear[0, 0])))
            models.append({"method": how, "support": n, "area_fraction": round(area, 4),
                           "correlation": round(corr, 3),
                           "shift_px": [round(M[0, 2] / s, 1), round(M[1, 2] / s, 1)],
                           "rotation_deg": round(rotation, 1),
                           "scale": round(abs(det) ** 0.5, 3), "mirrored": det < 0,
                           "score": round(model_score, 3)})
        if not models:
            return DetectorResult(self.name, score=0.0, map=fmap,
                                  extra={"candidates": len(cands), "evidence": {"correlation": 0.0, "area": 0.0}},
                                  reason="no cloned region found")
        best = max(models, key=lambda m: (m["score"], m["correlation"], m["area_fraction"]))
        score = best["score"]
        findings = []
        sev = "high" if score >= 0.8 else "medium" if score >= 0.5 else "low" if score >= 0.3 else None
        if sev:
            findings.append(self.finding(
                "cloned_region", sev,
                f"a region is cloned from elsewhere in the photo ({best['area_fraction']:.1%} of it"
                + (", mirrored" if best["mirrored"] else "")
                + (f", rotated {best['rotation_deg']:.0f} deg" if abs(best["rotation_deg"]) >= 3 else "")
                + (f", scaled x{best['scale']:.2f}" if abs(best["scale"] - 1) >= 0.05 else "") + ")", **best))
        return DetectorResult(self.name, findings=findings, score=score, map=fmap,
                              extra={"models": models, "candidates": len(cands),
                                     "evidence": {"correlation": best["correlation"], "area": best["area_fraction"]}})
