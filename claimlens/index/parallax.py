"""Parallax check after the geometric fit: a copy of the photo, or a capture from another viewpoint?

A copy (re-encoded, resized, cropped, mirrored, turned a few degrees, framed, overlaid, brightened) relates to
the original by one similarity everywhere: its correct keypoint matches miss the fitted transform only by the
keypoints' own imprecision, a pixel or two of the coarser of the two work images. A camera moved to the side
(the other camera of a stereo pair, the next frame of a hand-held sequence) sees near and far things displaced
by different amounts (disparity = focal length x baseline / depth). The fit follows one depth; the correct
matches at other depths miss it by a few to a few dozen pixels: more than the tight tolerance, well within a
loose one (REACH). Wrong matches land anywhere in the photo, so only a few of them fall within that reach.

The statistic: of the matches within REACH of the fit, the share that misses the tight tolerance (in pixels
of the coarser work grid), counting one match per candidate keypoint (the one closest to the fit): in
repeated structure (a ladder, a grid, text) several query keypoints match one candidate keypoint, a period
apart, and would otherwise pass for parallax.

bench/index.py --calibrate, on photos the benchmark never plants (Freiburg, ScanNet, CrackForest
and Middlebury vase frames; scikit-image's Middlebury motorcycle stereo pair and its photos of repeated texture
and fine detail: brick, grass, gravel, text, page, coins, clock, ...):
- 328 copies that fit (the nine transformations of bench.index): share median 0.017, p99 0.111, max 0.298;
  the one above 0.2 is a 5-degree turn of scikit-image's motion-blurred clock, whose keypoints are poorly
  placed along the blur (the next: 0.171);
- 40 left/right stereo pairs that fit (vase and motorcycle, each way, as given and under the negative
  queries' transformations): share min 0.077, p5 0.255, median 0.372; all but one reach 0.2 (the exception:
  a 50 % crop of the motorcycle's right view showing little but the motorcycle, at about one depth);
- the one pair of neighbouring Freiburg frames that still fits: 0.488.
MAX_SHARE 0.2 with MIN_MATCHES 8 rejects 0.3 % of those copies (1 of 328) and 39 of the 40 stereo pairs (any
threshold from 0.15 to 0.25 does the same; 0.1 rejects 0.6 % of the copies, 0.3 lets 6 stereo pairs through).
Of the 40 stereo pairs 3 pass the pixel check alone (agreement >= 0.65), 1 passes both checks. The 64 px
thumbnail is too coarse for this: the share of its blocks best matched off the fit (searched +-3 px) reaches
0.23 for copies, and is 0.0-0.22 for four of the motorcycle pairs.
"""

from __future__ import annotations

import numpy as np

REACH = 0.05  # the loose tolerance: this share of the candidate's work image's longer side
MAX_SHARE = 0.2  # a larger share of the loosely agreeing matches off the tight fit: another viewpoint ...
MIN_MATCHES = 8  # ... if at least this many are off it (fewer cannot be told from keypoint noise)


def parallax_evidence(errors: np.ndarray, cand_idx: np.ndarray, grid_px: float, side: int,
                      tight: float) -> tuple[float, int]:
    """(share of the loosely agreeing matches that miss the tight fit, how many miss it).

    `errors`: distances of the matches from the fitted transform, in candidate work pixels; `cand_idx`: the
    candidate keypoint of each match; `grid_px`: the coarser work grid's pixel in candidate work pixels (>= 1);
    `side`: the candidate work image's longer side; `tight`: the fit's tolerance in pixels of the coarser grid."""
    errors = np.asarray(errors, np.float64)
    order = np.argsort(errors, kind="stable")
    _, first = np.unique(np.asarray(cand_idx)[order], return_index=True)
    errors = errors[order[first]]  # one match per candidate keypoint, the closest to the fit
    near = tight * max(grid_px, 1.0)
    fit = int(np.count_nonzero(errors < near))
    off = int(np.count_nonzero((errors >= near) & (errors < REACH * side)))
    return off / max(fit + off, 1), off


def shows_parallax(tr) -> bool:
    """True when the fit's matches show depth-dependent displacement: another viewpoint, not a copy.
    A Transform without the parallax fields (made elsewhere) shows none."""
    return getattr(tr, "parallax_matches", 0) >= MIN_MATCHES and getattr(tr, "parallax", 0.0) >= MAX_SHARE
