"""bench.splice smoke test: splices are made as described and the table prints."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import splice  # noqa: E402


def test_object_mask_area():
    rng = np.random.default_rng(0)
    for _ in range(20):
        frac = rng.uniform(0.03, 0.20)
        m = splice.object_mask(183, 275, frac, rng)
        assert 0.5 * frac < m.mean() < 1.5 * frac


def test_bench_runs_on_a_few_photos(shared_data, monkeypatch, capsys):
    monkeypatch.setenv("CLAIMLENS_SHARED_DATA", str(shared_data))
    cases = splice.make_cases(seed=3, limit=2, per_photo=1)
    assert len(cases) >= 4
    for key, data, mask, neg in cases:
        pos_img, neg_img = splice.decode(data), splice.decode(neg)
        assert pos_img.shape == neg_img.shape and mask.shape == pos_img.shape[:2]
        diff = np.abs(pos_img.astype(int) - neg_img.astype(int)).sum(-1)
        assert diff[mask].mean() > diff[~mask].mean()  # the pasted region is where the photo changed
    rows = splice.evaluate(splice.detector_class(None)(), cases[:4])
    for r in rows:
        r["small"] = False
        assert 0.0 <= r["pos"] <= 1.0 and 0.0 <= r["neg"] <= 1.0 and 0.0 <= r["iou"] <= 1.0
    splice.table({"new": rows})
    assert "AUC" in capsys.readouterr().out
