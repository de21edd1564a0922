"""Register a claim photo onto a reference photo with local features and a RANSAC homography.

Features are computed on downscaled grey copies and cached on the Evidence object, so a claim
checked against several references is described once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MATCH_SIDE = {"orb": 800, "sift": 640}  # long side of the copies used for matching
RANSAC_PX = 3.0  # inlier threshold at matching resolution
STRONG_INLIERS = 40  # a registration this good needs no further tries
MIN_INLIERS = 8


def _cache(ev) -> dict:
    """Per-photo cache kept on the Evidence instance (dropped with it)."""
    return ev.__dict__.setdefault("_consistency_cache", {})


BASE_SIDE = 1024  # every smaller copy is made from one copy of this size (one pass over a large photo)


def _resize(src: np.ndarray, s: float) -> np.ndarray:
    h, w = src.shape[:2]
    return cv2.resize(src, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def downscaled(ev, long_side: int, color: bool = False) -> tuple[np.ndarray, float]:
    """A copy of the photo whose long side is at most `long_side`, and its scale factor."""
    key = ("small", long_side, color)
    c = _cache(ev)
    if key not in c:
        full = max(ev.height, ev.width)
        if long_side >= full:
            img, s = (ev.rgb if color else ev.gray), 1.0
        elif long_side >= BASE_SIDE:
            img, s = _resize(ev.rgb if color else ev.gray, long_side / full), long_side / full
        else:
            base, sb = downscaled(ev, BASE_SIDE, True)
            if not color:
                base = c.setdefault(("gray", BASE_SIDE), cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)) if sb < 1.0 else ev.gray
            s2 = min(1.0, long_side / max(base.shape[:2]))
            img, s = (base if s2 >= 1.0 else _resize(base, s2)), sb * s2
        c[key] = (img, s)
    return c[key]


def _detector(kind: str):
    if kind == "orb":
        return cv2.ORB_create(nfeatures=1500, scaleFactor=1.2, nlevels=8, fastThreshold=10)
    return cv2.SIFT_create(nfeatures=1200)


def features(ev, kind: str, flipped: bool = False):
    """(points Nx2 in matching-resolution pixels, descriptors, scale, (w, h)) for one photo."""
    key = ("feat", kind, flipped)
    c = _cache(ev)
    if key not in c:
        img, s = downscaled(ev, MATCH_SIDE[kind])
        if flipped:
            img = cv2.flip(img, 1)
        if kind == "sift":
            img = cv2.equalizeHist(img)  # gain-invariant enough for strong filters
        kps, desc = _detector(kind).detectAndCompute(img, None)
        pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
        c[key] = (pts, desc, s, (img.shape[1], img.shape[0]))
    return c[key]


@dataclass
class Registration:
    """H maps reference pixel coordinates (full size) to claim pixel coordinates (full size)."""

    H: np.ndarray
    inliers: int
    matches: int
    reproj_error: float  # median inlier reprojection error, matching-resolution pixels
    mirrored: bool
    method: str
    inlier_spread: float  # share of the claim's matching image covered by the inliers' hull
    similar_share: float = 0.0  # share of the homography's inliers a similarity transform also explains

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / max(1, self.matches)


def _match(fa, fb, kind: str, ratio: float = 0.8):
    pa, da, _, _ = fa
    pb, db, _, _ = fb
    if da is None or db is None or len(da) < MIN_INLIERS or len(db) < MIN_INLIERS:
        return None, None
    if kind == "orb":
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    else:
        matcher = cv2.FlannBasedMatcher(dict(algorithm=1, trees=4), dict(checks=48))
    knn = matcher.knnMatch(da, db, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < ratio * m[1].distance]
    if len(good) < MIN_INLIERS:
        return None, None
    src = pa[[m.queryIdx for m in good]]
    dst = pb[[m.trainIdx for m in good]]
    return src, dst


def _try(claim, ref, kind: str, flipped: bool) -> Registration | None:
    fr = features(ref, kind)
    fc = features(claim, kind, flipped)
    src, dst = _match(fr, fc, kind)
    if src is None:
        return None
    H, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, RANSAC_PX, maxIters=2000, confidence=0.999)
    if H is None or mask is None:
        return None
    inl = mask.ravel().astype(bool)
    n = int(inl.sum())
    if n < MIN_INLIERS or not np.isfinite(H).all() or abs(np.linalg.det(H[:2, :2])) < 1e-6:
        return None
    proj = cv2.perspectiveTransform(src[inl].reshape(-1, 1, 2), H).reshape(-1, 2)
    err = float(np.median(np.linalg.norm(proj - dst[inl], axis=1)))
    cw, ch = fc[3]
    # crops, resizes, rotations, mirrors and screenshots are similarities: a similarity must explain
    # the matches as well as the homography does; a second camera position adds perspective
    S, smask = cv2.estimateAffinePartial2D(src[inl], dst[inl], method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX * 0.5)
    similar = float(smask.sum()) / n if S is not None else 0.0
    hull = cv2.convexHull(dst[inl].astype(np.float32))
    spread = float(cv2.contourArea(hull)) / float(cw * ch)
    # back to full-size coordinates: claim_full = Sc^-1 [F] H Sr ref_full
    sr, sc = fr[2], fc[2]
    Sr = np.diag([sr, sr, 1.0])
    Sc_inv = np.diag([1.0 / sc, 1.0 / sc, 1.0])
    F = np.eye(3)
    if flipped:
        F = np.array([[-1.0, 0, cw - 1], [0, 1, 0], [0, 0, 1]])
    Hf = Sc_inv @ F @ H @ Sr
    return Registration(Hf / Hf[2, 2], n, len(src), err, flipped, kind, spread, similar)


def register(claim, ref) -> Registration | None:
    """Best homography from `ref` to `claim`: ORB (plain, then mirrored), then SIFT as a fallback."""
    best = None
    for kind, flipped in (("orb", False), ("orb", True), ("sift", False)):
        r = _try(claim, ref, kind, flipped)
        if r is not None and (best is None or r.inliers > best.inliers):
            best = r
        if best is not None and best.inliers >= STRONG_INLIERS and best.inlier_ratio >= 0.25:
            break
    return best


def similarity_deviation(reg: Registration, claim_size, ref_size) -> float:
    """How far the homography is from a similarity (rotation, uniform scale, mirror, shift).

    Crops, resizes, rotations, mirrors and screenshots are similarities; a second camera position
    adds perspective and shear. Returned as the largest misfit of the best similarity over the
    overlap, as a share of the overlap's diagonal in the claim.
    """
    cw, ch = claim_size
    rw, rh = ref_size
    gx, gy = np.meshgrid(np.linspace(0, cw - 1, 9), np.linspace(0, ch - 1, 9))
    q = np.stack([gx.ravel(), gy.ravel()], 1)
    Hinv = np.linalg.inv(reg.H)
    p = cv2.perspectiveTransform(q.reshape(-1, 1, 2).astype(np.float64), Hinv).reshape(-1, 2)
    inside = (p[:, 0] >= 0) & (p[:, 0] <= rw - 1) & (p[:, 1] >= 0) & (p[:, 1] <= rh - 1)
    if inside.sum() < 6:
        return 1.0
    p, q = p[inside], q[inside]
    diag = float(np.hypot(*(q.max(0) - q.min(0)))) or 1.0
    best = np.inf
    for mirror in (False, True):
        pp = p * [-1, 1] if mirror else p
        # q = [a -b; b a] pp + t, linear least squares
        A = np.zeros((2 * len(pp), 4))
        A[0::2] = np.c_[pp[:, 0], -pp[:, 1], np.ones(len(pp)), np.zeros(len(pp))]
        A[1::2] = np.c_[pp[:, 1], pp[:, 0], np.zeros(len(pp)), np.ones(len(pp))]
        sol, *_ = np.linalg.lstsq(A, q.ravel(), rcond=None)
        err = np.abs(A @ sol - q.ravel()).reshape(-1, 2)
        best = min(best, float(np.hypot(err[:, 0], err[:, 1]).max()) / diag)
    return best
