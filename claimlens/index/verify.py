"""Geometric verification: is the query photo a resized / cropped / rotated / mirrored copy of a candidate?

Keypoints are matched (Hamming, ratio test) and a similarity transform (scale, rotation, shift) is fitted
with RANSAC, for the query as given and for its mirror image. A copy of the same capture fits a similarity
with many inliers; an unrelated photo does not. The spread of the matches around the fit is kept for the
parallax check (parallax.py): a copy agrees with one similarity everywhere, another viewpoint does not. The
inliers' spread is kept for the coverage check (coverage.py): a copy's fit explains the whole overlap, a
shared logo's only a patch of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import faiss
import numpy as np

from .coverage import covers_too_little, fit_coverage
from .fingerprint import Fingerprint, Keypoints
from .parallax import parallax_evidence, shows_parallax

MIN_INLIERS = 15
MIN_INLIER_RATIO = 0.25
RATIO = 0.8
REPROJ_PX = 3.0
MIN_SCALE = 0.1  # candidate pixels per query pixel, and its inverse
MAX_ROTATION = 45.0  # degrees; reused photos are turned a little, if at all
PRE_KEYPOINTS = 100  # the query's strongest keypoints matched first ...
PRE_MIN_MATCHES = 5  # ... and the full match is skipped when fewer pass the ratio test (copies: >= 12)
MIN_CROP = 0.1  # the query must show at least this share of the candidate  # RANSAC threshold in candidate work pixels


@dataclass
class Transform:
    """How the query relates to the candidate photo (both in original pixels)."""

    inliers: int
    matches: int
    mirrored: bool
    scale: float  # query pixels per candidate pixel
    rotation: float  # degrees
    crop: float  # fraction of the candidate's (trimmed) area that the query shows
    residual: float = 0.0  # median inlier error, candidate work pixels
    matrix: tuple = field(default=(), repr=False)  # 2x3 similarity, query (mirrored view) to candidate pixels
    parallax: float = 0.0  # share of the loosely agreeing matches that miss the tight fit (parallax.py)
    parallax_matches: int = 0  # how many miss it
    coverage: float = 1.0  # share of the candidate's keypoints in the query's footprint the inliers span (coverage.py)

    @property
    def score(self) -> float:
        return self.inliers / max(self.matches, 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("matrix")
        d["score"] = round(self.score, 3)
        for k in ("scale", "rotation", "crop", "residual", "parallax", "coverage"):
            d[k] = round(d[k], 3)
        return d


def _trim(fp: Fingerprint, mirrored: bool) -> tuple[int, int, int, int]:
    t, b, l, r = fp.trim
    return (t, b, r, l) if mirrored else (t, b, l, r)


def _to_original(pts: np.ndarray, fp: Fingerprint, mirrored: bool) -> np.ndarray:
    """Work-image points to original-photo pixels (undoing the shrink and border trim).

    Points of the mirror view stay in the mirrored photo's frame, so that a similarity fits them."""
    w, h = fp.keypoints.size
    t, b, l, r = _trim(fp, mirrored)
    H, W = fp.shape
    sx = (W - l - r) / max(w, 1)
    sy = (H - t - b) / max(h, 1)
    p = pts.astype(np.float64).copy()
    p[:, 0] = p[:, 0] * sx + l
    p[:, 1] = p[:, 1] * sy + t
    return p


def _match(a: Keypoints, b: Keypoints) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour descriptor matches that pass the ratio test: (indices into a, indices into b).

    FAISS's exhaustive binary k-NN (one thread: the sets are a few hundred descriptors) gives the same
    distances as cv2.BFMatcher(NORM_HAMMING).knnMatch at a fraction of its cost."""
    if len(a.desc) < 2 or len(b.desc) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        D, I = faiss.knn_hamming(np.ascontiguousarray(a.desc), np.ascontiguousarray(b.desc), 2)
    finally:
        faiss.omp_set_num_threads(threads)
    ok = (D[:, 0] < RATIO * D[:, 1]) & (D[:, 0] <= 64)
    return np.nonzero(ok)[0], I[ok, 0].astype(int)


def _query_quad(M: np.ndarray, query: Fingerprint, mirrored: bool) -> np.ndarray:
    """The corners of the query's trimmed photo mapped onto the candidate, (4, 2) float32."""
    H, W = query.shape
    t, b, l, r = _trim(query, mirrored)
    q = np.array([[l, t], [W - r, t], [W - r, H - b], [l, H - b]], np.float64)
    return (q @ M[:, :2].T + M[:, 2]).astype(np.float32)


def _crop_fraction(M: np.ndarray, query: Fingerprint, cand: Fingerprint, mirrored: bool) -> float:
    """Share of the candidate's trimmed area covered by the query photo mapped onto it."""
    mapped = _query_quad(M, query, mirrored)
    Hc, Wc = cand.shape
    tc, bc, lc, rc = cand.trim
    c = np.array([[lc, tc], [Wc - rc, tc], [Wc - rc, Hc - bc], [lc, Hc - bc]], np.float32)
    if cv2.contourArea(mapped, oriented=True) < 0:
        mapped = mapped[::-1].copy()
    area, _ = cv2.intersectConvexConvex(mapped, c)
    return float(area) / max(float(cv2.contourArea(c)), 1.0)


def verify(query: Fingerprint, cand: Fingerprint, min_inliers: int = MIN_INLIERS,
           views: tuple[bool, ...] = (False, True)) -> Transform | None:
    """A similarity between the query (or its mirror) and the candidate, or None.

    `views` lists which views to try (False: as given, True: mirrored), in order; the first that fits wins,
    unless its matches show parallax (parallax.py) or cover only a patch of the overlap (coverage.py) and a
    later view fits without: a mirrored copy of a symmetric scene can fit the unmirrored view in part."""
    views = [(m, query.mirror_keypoints if m else query.keypoints) for m in views]
    views = [(m, kp) for m, kp in views if kp is not None]
    cw, ch = cand.keypoints.size
    Hc, Wc = cand.shape
    thresh = REPROJ_PX * max((Wc - cand.trim[2] - cand.trim[3]) / max(cw, 1), 1.0)
    shifted = None  # a fit whose matches show parallax or cover a patch only, returned if no other view fits
    for mirrored, kp in views:
        if len(kp.desc) > 2 * PRE_KEYPOINTS:  # cheap rejection of unrelated candidates
            pre = Keypoints(kp.pts[:PRE_KEYPOINTS], kp.desc[:PRE_KEYPOINTS], kp.size)
            if len(_match(pre, cand.keypoints)[0]) < PRE_MIN_MATCHES:
                continue
        qi, ti = _match(kp, cand.keypoints)
        if len(qi) < min_inliers:
            continue
        src = _to_original(kp.pts[qi], query, mirrored)
        dst = _to_original(cand.keypoints.pts[ti], cand, False)
        M, mask = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=thresh, maxIters=2000, confidence=0.995
        )
        if M is None:
            continue
        n_in = int(mask.sum())
        if n_in < min_inliers or n_in < MIN_INLIER_RATIO * len(qi):
            continue
        s = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
        rot = float(np.degrees(np.arctan2(M[1, 0], M[0, 0])))
        if not (MIN_SCALE <= s <= 1 / MIN_SCALE) or abs(rot) > MAX_ROTATION:
            continue  # degenerate fit on a few clustered points
        crop = _crop_fraction(M, query, cand, mirrored)
        if crop < MIN_CROP:
            continue
        work_px = thresh / REPROJ_PX  # candidate original pixels per candidate work pixel
        errors = np.linalg.norm(src @ M[:, :2].T + M[:, 2] - dst, axis=1) / work_px  # candidate work pixels
        _, _, lq, rq = _trim(query, mirrored)
        query_px = (query.shape[1] - lq - rq) / max(kp.size[0], 1) * s / work_px  # a query work pixel, likewise
        share, off = parallax_evidence(errors, ti, query_px, max(cw, ch), REPROJ_PX)
        inl = mask.ravel() > 0
        cover = fit_coverage(dst[inl], _to_original(cand.keypoints.pts, cand, False), _query_quad(M, query, mirrored))
        tr = Transform(n_in, len(qi), mirrored, 1.0 / s, rot, crop, float(np.median(errors[inl])),
                       tuple(M.ravel().tolist()), share, off, cover)
        if not shows_parallax(tr) and not covers_too_little(tr):
            return tr
        shifted = shifted or tr
    return shifted
