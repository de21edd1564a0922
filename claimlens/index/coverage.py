"""Coverage check after the geometric fit: does the fit explain the photos, or one patch they share?

A copy (re-encoded, resized, cropped, mirrored, turned, framed, overlaid, brightened) agrees with its original
by one similarity wherever both show the same thing, so the fit's inlier keypoints spread over the part of
each photo that the other covers. Two different photos can share one flat patch: the same logo printed on a
mug and on a cap, one label on two products, a poster in two rooms. The fit then holds on that patch only,
and its inliers fill a small part of what the overlap holds. (The other camera of a stereo pair shows the same:
the fit follows one depth.) A copy can look alike when the patch is its only strong structure (a logo on a
plain cap, the seams too faint to survive a re-encode), so a low coverage alone rejects nothing: the pixel
check (pixels.same_capture) rejects the fit only when a large share of the overlap also shows other content.

The statistic: the area of the convex hull of the fit's inliers over the area of the convex hull of the
candidate's keypoints inside the query's footprint, in candidate pixels. (The query's side is not used: a
sticker or a caption adds keypoints to a copy that nothing in the original explains.)

bench/index.py --calibrate, on the copies the pixel and parallax checks are calibrated on (photos the benchmark
never plants): 328 copies that fit, coverage min 0.15, p1 0.40, median 0.94; 40 stereo pairs that fit:
median 0.07. MIN_COVERAGE 0.1 lies below every one of those copies.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_COVERAGE = 0.1
MIN_HULL_POINTS = 3


def _hull_area(pts: np.ndarray) -> float:
    if len(pts) < MIN_HULL_POINTS:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(np.ascontiguousarray(pts, np.float32))))


def _inside_convex(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Which points lie inside (or on) a convex polygon given in either winding order."""
    a, b = poly, np.roll(poly, -1, axis=0)
    edge = b - a
    cross = edge[None, :, 0] * (pts[:, None, 1] - a[None, :, 1]) - edge[None, :, 1] * (pts[:, None, 0] - a[None, :, 0])
    return np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)


def fit_coverage(inliers: np.ndarray, cand_pts: np.ndarray, query_quad: np.ndarray) -> float:
    """Share of the candidate's keypoint hull inside the query's footprint that the inliers' hull covers (0..1).

    All in candidate pixels: `inliers` the fit's inlier keypoints, `cand_pts` every candidate keypoint,
    `query_quad` the query photo's corners mapped by the fit. 1.0 when too few keypoints lie there to judge."""
    inside = cand_pts[_inside_convex(cand_pts, np.asarray(query_quad, np.float64))]
    area = _hull_area(inside)
    return min(_hull_area(inliers) / area, 1.0) if area > 0 else 1.0


def covers_too_little(tr) -> bool:
    """True when the fit explains only a patch of the overlap: another photo that shares that patch, or a copy
    whose other structure did not survive. A Transform without the field (made elsewhere) covers enough."""
    return getattr(tr, "coverage", 1.0) < MIN_COVERAGE
