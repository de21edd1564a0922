"""Register a claim photo onto a reference photo with local features and a RANSAC homography.

Features are computed on downscaled grey copies and cached on the Evidence object, so a claim
checked against several references is described once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MATCH_SIDE = {"orb": 800, "sift": 512}  # long side of the copies used for matching
MATCH_MIN_SIDE = 640  # smaller photos are enlarged to this long side before matching
RANSAC_PX = 3.0  # inlier threshold at matching resolution
STRONG_INLIERS = 40  # a registration this good (and explaining a quarter of the matches) needs no SIFT
COPY_RATIO = 0.5  # ... and explaining this share of them, no mirrored try either
MIN_INLIERS = 8
HOPELESS_MATCHES = 15  # both ORB tries below this many ratio-test matches: SIFT finds nothing either


def _cache(ev) -> dict:
    """Per-photo cache kept on the Evidence instance (dropped with it)."""
    return ev.__dict__.setdefault("_consistency_cache", {})


def rgb(ev) -> np.ndarray:
    """The photo's pixels as a shop shows them: a transparent cut-out composited on white."""
    c = _cache(ev)
    if "rgb" not in c:
        alpha = getattr(getattr(ev, "image", None), "alpha", None)
        img = ev.rgb
        if alpha is not None and alpha.shape == img.shape[:2]:
            a = alpha.astype(np.float32)[..., None] / 255.0
            img = np.clip(img.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
        c["rgb"] = img
    return c["rgb"]


def gray(ev) -> np.ndarray:
    c = _cache(ev)
    if "gray" not in c:
        img = rgb(ev)
        c["gray"] = ev.gray if img is ev.rgb else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return c["gray"]


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
            img, s = (rgb(ev) if color else gray(ev)), 1.0
        elif long_side >= BASE_SIDE:
            src, s = (rgb(ev) if color else gray(ev)), 1.0
            k = full // long_side
            if k >= 2:  # an exact integer shrink first: OpenCV's fast path, a third of the time
                h, w = src.shape[:2]
                src = cv2.resize(src[: h // k * k, : w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
                s = 1.0 / k
            s2 = min(1.0, long_side / max(src.shape[:2]))
            img, s = (src if s2 >= 1.0 else _resize(src, s2)), s * s2
        else:
            base, sb = downscaled(ev, BASE_SIDE, True)
            if not color:
                base = c.setdefault(("gray", BASE_SIDE), cv2.cvtColor(base, cv2.COLOR_RGB2GRAY)) if sb < 1.0 else gray(ev)
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
        if max(img.shape) < MATCH_MIN_SIDE:  # too few features on a thumbnail: enlarge it
            up = MATCH_MIN_SIDE / max(img.shape)
            img = cv2.resize(img, (round(img.shape[1] * up), round(img.shape[0] * up)), interpolation=cv2.INTER_CUBIC)
            s = s * up
        if flipped:
            img = cv2.flip(img, 1)
        if kind == "sift":
            img = cv2.equalizeHist(img)  # gain-invariant enough for strong filters
        kps, desc = _detector(kind).detectAndCompute(img, None)
        pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
        c[key] = (pts, desc, s, (img.shape[1], img.shape[0]), kind)
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
    item_coverage: float = 1.0  # share of the reference's item (inside the overlap) the inliers' hull covers
    plain_background: bool = False  # the reference is a product shot on a flat background

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / max(1, self.matches)


def fr_kind(f) -> str:
    return f[4]


def _match(fa, fb, kind: str, ratio: float = 0.8):
    pa, da = fa[0], fa[1]
    pb, db = fb[0], fb[1]
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


def _try(claim, ref, kind: str, flipped: bool, counts: list | None = None) -> Registration | None:
    fr = features(ref, kind)
    fc = features(claim, kind, flipped)
    src, dst = _match(fr, fc, kind)
    if counts is not None:  # ratio-test matches; a photo ORB finds almost no corners on is not judged
        described = all(d is not None and len(d) >= 100 for d in (fr[1], fc[1]))
        counts.append(len(src) if src is not None else (0 if described else np.inf))
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
    plain, cover = coverage(ref, fr, src[inl], np.linalg.inv(F @ H), (cw, ch))
    if plain and cover < 0.5 and len(src) >= 15:
        # another viewpoint of a solid item: one plane's homography leaves the rest of it out,
        # epipolar geometry does not
        Fm, fmask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, 1.0, 0.999, 2000)
        fin = fmask.ravel().astype(bool) if Fm is not None and fmask is not None else inl[:0]
        # the epipolar model must explain most matches, and many beyond the plane (a few chance
        # matches near their epipolar lines always fit: a shared flat logo is not a solid item)
        if fin.sum() >= 0.5 * len(src) and (fin & ~inl).sum() >= 0.4 * n:
            cover = max(cover, coverage(ref, fr, src[fin], np.linalg.inv(F @ H), (cw, ch))[1])
    return Registration(Hf / Hf[2, 2], n, len(src), err, flipped, kind, spread, similar, cover, plain)


def item_mask_small(ev, kind: str) -> np.ndarray | None:
    """The item in the matching copy of a product shot: all but the flat background touching the
    border; None when the border is busy (a scene, not a product shot)."""
    key = ("item", kind)
    c = _cache(ev)
    if key not in c:
        img, _ = downscaled(ev, MATCH_SIDE[kind])
        g = cv2.GaussianBlur(img, (5, 5), 0).astype(np.int16)
        border = np.r_[g[0], g[-1], g[:, 0], g[:, -1]]
        bg = int(np.median(border))
        item = None
        if np.mean(np.abs(border - bg) <= 12) >= 0.9:
            near = (np.abs(g - bg) <= 12).astype(np.uint8)
            _, lab = cv2.connectedComponents(near)
            edge = np.unique(np.r_[lab[0], lab[-1], lab[:, 0], lab[:, -1]])
            item = ~np.isin(lab, edge[edge > 0]) | (near == 0)
            share = item.mean()
            if not 0.02 < share < 0.9:
                item = None
        c[key] = item
    return c[key]


def coverage(ref, fr, ref_pts: np.ndarray, H_inv: np.ndarray, claim_size) -> tuple[bool, float]:
    """Share of the reference's item, where it lies inside the claim's view, that the inliers span.

    A shared logo or label printed on two different products matches well, but only over the mark;
    the same item (or a copy of it) matches over the item.
    """
    item = item_mask_small(ref, fr_kind(fr))
    if item is None:
        return False, 1.0
    sr = fr[2]
    small = downscaled(ref, MATCH_SIDE[fr_kind(fr)])[0].shape
    # matching coordinates may be enlarged copies: bring the points to the item mask's scale
    k = downscaled(ref, MATCH_SIDE[fr_kind(fr)])[1] / sr
    cw, ch = claim_size
    corners = np.float32([[0, 0], [cw - 1, 0], [cw - 1, ch - 1], [0, ch - 1]]).reshape(-1, 1, 2)
    view = cv2.perspectiveTransform(corners, H_inv).reshape(-1, 2) * k
    pts = ref_pts * k
    over = np.zeros(small, np.uint8)
    if np.isfinite(view).all() and np.abs(view).max() < 1e6:
        cv2.fillConvexPoly(over, np.round(view).astype(np.int32), 1)
    area = item & (over > 0)
    if area.sum() < 50:
        return True, 0.0
    hull = np.zeros(small, np.uint8)
    cv2.fillConvexPoly(hull, np.round(cv2.convexHull(pts.astype(np.float32))).astype(np.int32).reshape(-1, 2), 1)
    return True, float((area & (hull > 0)).sum() / area.sum())


def register(claim, ref) -> Registration | None:
    """Best homography from `ref` to `claim`: ORB (plain, then mirrored), then SIFT as a fallback.

    The mirrored view is skipped only after a plain fit that explains most matches (COPY_RATIO): a mirrored
    copy of a symmetric product also fits the plain view, over part of it (bottles: 55 of 206 matches plain,
    991 of 1030 mirrored)."""
    best, orb_matches = None, []
    for kind, flipped in (("orb", False), ("orb", True), ("sift", False)):
        if kind == "sift" and best is None and max(orb_matches) < HOPELESS_MATCHES:
            break  # nothing in common at all: SIFT (the costliest step) would not find a match either
        if kind == "sift" and _strong(best, 0.25):
            break
        r = _try(claim, ref, kind, flipped, orb_matches if kind == "orb" else None)
        if r is not None and (best is None or r.inliers > best.inliers):
            best = r
        if _strong(best, COPY_RATIO):
            break
    return best


def _strong(reg: Registration | None, ratio: float) -> bool:
    """At least STRONG_INLIERS inliers, explaining at least `ratio` of the matches."""
    return reg is not None and reg.inliers >= STRONG_INLIERS and reg.inlier_ratio >= ratio


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
