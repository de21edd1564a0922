"""The learned edit map's fit (bench.forensics --calibrate) on a synthetic pool where one detector's map is
right and another's marks a random place."""

import numpy as np

from bench.forensics import FOLDS, fit_map_model, learned_map_check, map_rows
from claimlens.forensics.base import DetectorResult
from claimlens.forensics.fusion import learned_map

SIDE = 48


def _box(rng):
    m = np.zeros((SIDE, SIDE), np.float32)
    y, x = rng.integers(0, SIDE - 16, 2)
    m[y : y + 16, x : x + 16] = 1.0
    return m


def _pool(n_forged=30, n_clean=20, seed=0):
    rng = np.random.default_rng(seed)
    F, y = [], []
    for i in range(n_forged + n_clean):
        forged = i < n_forged
        mask = _box(rng) if forged else None
        cm = DetectorResult("copy_move", score=0.8 if forged else 0.05,
                            map=mask.copy() if forged else np.zeros((SIDE, SIDE), np.float32))
        le = DetectorResult("local_edit", score=0.5, map=_box(rng))  # fires anywhere, forged or not
        F.append({"copy_move": cm.score, "local_edit": le.score, "_found": set(), "_floor": 0.0,
                  "_results": [cm, le], "_mask": None if mask is None else mask > 0.5})
        y.append(float(forged))
    return F, np.array(y)


def test_fit_weighs_the_detector_whose_map_is_right():
    F, y = _pool()
    cal = {"bias": -1.0, "weights": {"copy_move": 4.0, "local_edit": 0.5}, "scale": {}, "reference": {}}
    model = fit_map_model(*map_rows(F, range(len(F)), cal), lam=1e-4)
    w = model["weights"]
    cm = sum(v for k, v in w.items() if k.startswith("copy_move"))
    le = sum(v for k, v in w.items() if k.startswith("local_edit"))
    assert cm > 2 * le
    p, _ = learned_map(F[0]["_results"], (SIDE, SIDE), {"copy_move": 2.0, "local_edit": 0.1}, model)
    marked, truth = p >= 0.5, F[0]["_mask"]
    assert (marked & truth).sum() / (marked | truth).sum() > 0.8


def test_held_out_choice_respects_the_clean_photo_limit():
    F, _ = _pool(seed=1)
    fold = np.arange(len(F)) % FOLDS
    cal = {"bias": -1.0, "weights": {"copy_move": 4.0, "local_edit": 0.5}, "scale": {}, "reference": {}}
    out = learned_map_check(F, fold, [cal] * FOLDS, max_marked=0.1)
    assert np.mean(out["marked"]) <= 0.1
    assert np.mean(out["ious"]) > 0.7


def test_paired_bootstrap_interval_covers_the_mean_and_excludes_zero_only_when_clear():
    from bench.forensics import paired_bootstrap

    rng = np.random.default_rng(0)
    lo, hi = paired_bootstrap(rng.normal(0.2, 0.05, 100))
    assert lo < 0.2 < hi and lo > 0
    lo, hi = paired_bootstrap(rng.normal(0.0, 0.3, 30))
    assert lo < 0 < hi
