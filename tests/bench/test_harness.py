"""Metrics and the quality harness (runs on two small cases whatever detectors exist)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.metrics import auc, far_at_detection, iou  # noqa: E402


def test_auc_ranks_and_ties():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 1], [1, 1]) == 0.5
    assert auc([2, 0], [1]) == 0.5
    assert np.isnan(auc([], [1]))


def test_far_at_detection():
    pos = np.arange(1, 21)  # threshold catching 95 % (19 of 20) is 2
    assert far_at_detection(pos, [0, 1, 2, 30]) == 0.5
    assert far_at_detection([5, 6], [1, 2]) == 0.0


def test_iou():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert iou(a, b) == 1.0
    a[:2] = True
    b[1:3] = True
    assert iou(a, b) == pytest.approx(1 / 3)


def test_quality_harness_runs_on_two_cases():
    from bench.corpus import generate
    from bench.quality import corpus_tables, run_case

    rows = [run_case(c) for c in generate(seed=2, n=2, sources="skimage")]
    assert [r.edited for r in rows] == [True, False]
    assert all(not r.error for r in rows), [r.error for r in rows]
    assert all(0.0 <= r.risk <= 1.0 for r in rows)
    assert rows[0].iou is not None and 0.0 <= rows[0].iou <= 1.0
    text = corpus_tables(rows)
    assert "By transformation" in text and "ALL" in text
