"""Small metrics without scikit-learn: rank AUC, false alarms at a detection rate, IoU."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc(pos, neg) -> float:
    """Probability a positive scores above a negative (ties count half); NaN if a side is empty."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def far_at_detection(pos, neg, detection: float = 0.95) -> float:
    """Share of negatives flagged at the threshold that still catches `detection` of the positives."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # the highest threshold t with  mean(pos >= t) >= detection
    k = int(np.ceil(detection * len(pos)))
    t = np.sort(pos)[::-1][k - 1]
    return float((neg >= t).mean())


def iou(pred, truth) -> float:
    """Intersection over union of two bool masks; 1.0 when both are empty."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = np.logical_or(pred, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, truth).sum() / union)
