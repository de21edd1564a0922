"""Photo-only forensics benchmark: image-level AUC, pixel F1/IoU, time per image; one table per data set.

python -m bench.forensics               evaluation (data from CLAIMLENS_SHARED_DATA, default ../shared/data)
python -m bench.forensics --calibrate   fit the fusion's trace calibration on the calibration split
python -m bench.forensics --map-rule top   the same with another rule for the edit map (fusion.MAP_RULES)

Every registered photo-only detector (needs_references False) runs through claimlens.forensics.analyze;
each row is one detector's score/map, the last row the fusion (risk, fused map).

Data sets (negatives = real pristine photos, never used for calibration):
  real_tampered/native   CASIA v2 + IML-ViT tampered (masks) vs TruFor pristine, c2pa-rs plain photos and
                         the even-indexed multiview photos, files as they are. Shortcut warning: positives
                         are mostly TIFF, negatives JPEG; the next table removes that.
  real_tampered/jpeg90   the same images, every one (positives and negatives) decoded and re-encoded as
                         JPEG quality 90 without metadata, sizes unchanged: like with like.
  trufor                 TruFor pristine (JPEG) vs tampered (PNG); 4 images, no masks.
  ai_generated           ComfyUI outputs, CNNDetection fake, c2pa-rs ocsp.jpg vs real photos.
  corpus/no_reference    bench.corpus (seed 0) damage painted on independent photos vs clean ones (masks).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from claimlens.forensics.analyze import analyze
from claimlens.forensics.base import load_detectors
from claimlens.forensics.evidence import Evidence

ROOT = Path(__file__).resolve().parents[1]
FUSION = "FUSION"


def data_dir() -> Path:
    return Path(os.environ.get("CLAIMLENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def photo_only() -> list[str]:
    return sorted(n for n, cls in load_detectors().items() if not cls.needs_references)


# Metrics -------------------------------------------------------------------------------------
def auc(pos, neg) -> float:
    p, n = np.asarray(pos, float), np.asarray(neg, float)
    if not len(p) or not len(n):
        return float("nan")
    return float((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean())


def paired_bootstrap(diff, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean of per-photo differences, resampling the photos."""
    d = np.asarray(diff, float)
    if not len(d):
        return float("nan"), float("nan")
    means = d[np.random.default_rng(seed).integers(0, len(d), (n, len(d)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def f1_iou(pred: np.ndarray | None, truth: np.ndarray) -> tuple[float, float]:
    if pred is None:
        return 0.0, 0.0
    p = pred >= 0.5
    tp = float((p & truth).sum())
    fp, fn = float((p & ~truth).sum()), float((~p & truth).sum())
    f1 = 2 * tp / max(1.0, 2 * tp + fp + fn)
    return f1, tp / max(1.0, tp + fp + fn)


# Data ----------------------------------------------------------------------------------------
def _mask(path: Path) -> np.ndarray:
    m = np.asarray(Image.open(path).convert("L"))
    return m > 127


def real_tampered(d: Path) -> list[tuple[str, Path, Path]]:
    out = []
    for p in sorted((d / "casia2groundtruth" / "Samples").glob("Tp_*")):
        if p.stem.endswith("_gt"):
            continue
        out.append((p.name, p, p.with_name(p.stem + "_gt.png")))
    base = d / "IML-ViT" / "images" / "sample_iml_dataset"
    for p in sorted((base / "Tp").glob("*")):
        out.append((p.name, p, base / "Gt" / (p.stem + "_gt.png")))
    return [t for t in out if t[2].exists()]


def multiview_photos(d: Path) -> list[Path]:
    seen = []
    with open(d / "multiview" / "pairs.csv") as fh:
        for row in csv.DictReader(fh):
            for k in ("image_a", "image_b"):
                p = d / "multiview" / row[k]
                if p not in seen:
                    seen.append(p)
    return seen


def pristine(d: Path, half: int = 0, limit: int = 30) -> list[Path]:
    """Real pristine photos; half=0 (even multiview indices) for evaluation, 1 for calibration."""
    fixed = [d / "TruFor/test_docker/images/pristine1.jpg", d / "TruFor/test_docker/images/pristine2.jpg"]
    fixed += [d / "c2pa-rs/sdk/tests/fixtures" / f for f in ("IMG_0003.jpg", "P1000827.jpg", "earth_apollo17.jpg", "no_manifest.jpg")]
    mv = multiview_photos(d)[half::2]
    step = max(1, len(mv) // limit)
    return ([p for p in fixed if p.exists()] if half == 0 else []) + mv[::step][:limit]


def reencode(data: bytes, quality: int = 90) -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    b = io.BytesIO()
    im.save(b, "JPEG", quality=quality)
    return b.getvalue()


# Running -------------------------------------------------------------------------------------
def run_one(data: bytes, name: str, names: list[str]) -> tuple[dict, bool]:
    """Per detector (and FUSION): (score, map, seconds); and whether the report names edited regions."""
    ev = Evidence.from_bytes(data, name)
    t0 = time.perf_counter()
    a = analyze(ev, only=names)
    total = time.perf_counter() - t0
    rows = {}
    for r in a.results:
        rows[r.detector] = (0.0 if (r.score is None or not r.applicable) else r.score, r.map if r.applicable else None, r.seconds)
    rows[FUSION] = (a.risk, a.fused.map, total)
    return rows, bool(a.fused.regions)


def evaluate(items, names) -> dict:
    """items: (name, bytes, label, mask or None). Returns per-detector metrics."""
    per = {n: {"pos": [], "neg": [], "f1": [], "iou": [], "t": [], "marked": [], "reported": []} for n in names + [FUSION]}
    for name, data, label, mask in items:
        try:
            rows, reported = run_one(data, name, names)
        except Exception as exc:  # an unreadable file is reported, not fatal
            print(f"  skip {name}: {exc}", file=sys.stderr)
            continue
        if not label:
            per[FUSION]["reported"].append(reported)
        for n, (s, m, t) in rows.items():
            if n not in per:
                continue
            per[n]["pos" if label else "neg"].append(s)
            per[n]["t"].append(t)
            if not label:  # a region marked on a real photo
                per[n]["marked"].append(m is not None and bool((m >= 0.5).any()))
            if label and mask is not None:
                if m is not None and m.shape != mask.shape:
                    import cv2

                    m = cv2.resize(m, (mask.shape[1], mask.shape[0]))
                f1, iou = f1_iou(m, mask)
                per[n]["f1"].append(f1)
                per[n]["iou"].append(iou)
    return per


def print_table(title: str, per: dict, note: str = "") -> None:
    any_n = next(iter(per.values()))
    print(f"\n## {title}  ({len(any_n['pos'])} positives, {len(any_n['neg'])} negatives){'  ' + note if note else ''}")
    print(f"{'detector':<18} {'AUC':>6} {'pixF1':>6} {'pixIoU':>6} {'ms/img':>7} {'real photos with a region':>26}")
    for n, v in per.items():
        f1 = f"{np.mean(v['f1']):.3f}" if v["f1"] else "   -"
        iou = f"{np.mean(v['iou']):.3f}" if v["iou"] else "   -"
        marked = f"{sum(v['marked'])}/{len(v['marked'])}" if v["marked"] else "-"
        if v["reported"]:  # the fusion: its map >= 0.5, and the regions the report names (verdict suspicious or worse)
            marked = f"{marked} (reported {sum(v['reported'])})"
        print(f"{n:<18} {auc(v['pos'], v['neg']):>6.3f} {f1:>6} {iou:>6} {1000 * np.mean(v['t']) if v['t'] else 0:>7.0f} "
              f"{marked:>26}")
    if FUSION in per and per[FUSION]["iou"]:
        fused = np.asarray(per[FUSION]["iou"])
        rivals = {n: np.asarray(v["iou"]) for n, v in per.items() if n != FUSION and len(v["iou"]) == len(fused)}
        if rivals:
            best = max(rivals, key=lambda n: rivals[n].mean())
            lo, hi = paired_bootstrap(fused - rivals[best])
            print(f"pixel IoU, fusion minus the best detector ({best}): {np.mean(fused - rivals[best]):+.3f} "
                  f"(95 % paired bootstrap interval {lo:+.3f} .. {hi:+.3f})")
    if FUSION in per and per[FUSION]["neg"]:
        from claimlens.forensics.fusion import LIKELY_FORGED, SUSPICIOUS

        neg = np.asarray(per[FUSION]["neg"])
        print(f"false alarms on the negatives: suspicious or worse {int((neg >= SUSPICIOUS).sum())}/{len(neg)}, "
              f"likely_forged {int((neg >= LIKELY_FORGED).sum())}/{len(neg)}")


def datasets(d: Path, corpus_n: int):
    neg = [(p.name, p.read_bytes(), 0, None) for p in pristine(d, 0)]
    pos = [(n, p.read_bytes(), 1, _mask(m)) for n, p, m in real_tampered(d)]
    yield "real_tampered/native", pos + neg, "positives mostly TIFF, negatives JPEG"
    yield "real_tampered/jpeg90", [(n, reencode(b), lab, m) for n, b, lab, m in pos + neg], "all re-encoded JPEG q90"
    tf = d / "TruFor/test_docker/images"
    if tf.is_dir():
        yield "trufor", [(p.name, p.read_bytes(), int(p.name.startswith("tampered")), None) for p in sorted(tf.glob("*.*g"))], ""
    ai = sorted((d / "comfyui_examples").rglob("*.png"))
    ai = [p for p in ai if "yosemite_inpaint_example" not in p.name]
    ai += [d / "CNNDetection/examples/fake.png", d / "c2pa-rs/sdk/tests/fixtures/ocsp.jpg"]
    real = [d / "CNNDetection/examples/real.png"] + pristine(d, 0, limit=16)
    yield "ai_generated", [(p.name, p.read_bytes(), 1, None) for p in ai if p.exists()] + \
        [(p.name, p.read_bytes(), 0, None) for p in real if p.exists()], ""
    try:
        from bench.corpus import generate
    except ImportError:
        return
    items = []
    for c in generate(seed=0, n=corpus_n):
        if c.transform != "no_reference" and not c.case_id.endswith(("no_reference_edited", "no_reference_clean")):
            continue
        items.append((c.case_id, c.claim, int(c.edited), c.mask if c.edited else None))
    yield "corpus/no_reference", items, "damage painted on independent photos"


# Calibration ---------------------------------------------------------------------------------
def _jpeg_bytes(rgb: np.ndarray, q: int) -> bytes:
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=int(q))
    return b.getvalue()


def _png_bytes(rgb: np.ndarray) -> bytes:
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "PNG")
    return b.getvalue()


def _textured_square(gray: np.ndarray, s: int, rng, tries: int = 24) -> tuple[int, int]:
    """Top-left corner of the most textured of `tries` random s x s squares (a forger clones an object, a
    crack or a stain, not a patch of empty background, which no copy-move method could see)."""
    import cv2

    h, w = gray.shape
    lap = np.abs(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F))
    best, corner = -1.0, (0, 0)
    for _ in range(tries):
        y, x = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
        e = float(lap[y : y + s, x : x + s].mean())
        if e > best:
            best, corner = e, (y, x)
    return corner


def copy_moved(rgb: np.ndarray, s: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A textured s x s region cloned elsewhere in the photo through an elliptical mask; half of the clones
    rotated (up to 30 degrees) and scaled (0.9-1.1), as real copy-move forgeries often are. Returns the photo
    and the mask of the source and the target."""
    import cv2

    h, w = rgb.shape[:2]
    y, x = _textured_square(np.asarray(Image.fromarray(rgb).convert("L")), s, rng)
    patch = rgb[y : y + s, x : x + s]
    if rng.random() < 0.5:
        M = cv2.getRotationMatrix2D((s / 2, s / 2), float(rng.uniform(-30, 30)), float(rng.uniform(0.9, 1.1)))
        patch = cv2.warpAffine(patch, M, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((s, s), np.uint8)
    cv2.ellipse(mask, (s // 2, s // 2), (int(s * 0.45), int(s * 0.45)), 0, 0, 360, 1, -1)
    for _ in range(20):  # a target that does not overlap the source
        y2, x2 = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
        if abs(y2 - y) >= s or abs(x2 - x) >= s:
            break
    out = rgb.copy()
    region = out[y2 : y2 + s, x2 : x2 + s]
    region[mask > 0] = patch[mask > 0]
    both = np.zeros((h, w), bool)
    both[y : y + s, x : x + s] |= mask > 0
    both[y2 : y2 + s, x2 : x2 + s] |= mask > 0
    return out, both


def calibration_items(d: Path, limit: int = 24):
    """The calibration split: scikit-image photos and the odd-indexed half of the multiview photos.

    Per photo: one clean re-save (label 0) and three forgeries (label 1): painted damage (bench.damage),
    an object-shaped splice from another photo (bench.splice.make_splice: the donor often resized, compressed,
    blurred, denoised or noisier), a textured region cloned elsewhere (copy_moved); each saved as JPEG
    (quality 70-95) or PNG.
    """
    from skimage import data as skd

    from bench.damage import BLENDS, DAMAGES, edit
    from bench.splice import POST, make_splice

    bases = [getattr(skd, n)() for n in ("coffee", "chelsea", "astronaut", "rocket")]
    for p in pristine(d, 1, limit=limit):
        try:
            bases.append(np.asarray(Image.open(p).convert("RGB")))
        except Exception:
            continue
    bases = [b for b in bases if min(b.shape[:2]) >= 128]
    for i, rgb in enumerate(bases):
        rng = np.random.default_rng([11, i])
        h, w = rgb.shape[:2]

        def save(img):
            return _png_bytes(img) if rng.random() < 0.25 else _jpeg_bytes(img, rng.integers(70, 96))

        yield f"clean{i}", save(rgb), 0, None
        try:
            painted, pmask = edit(rgb, DAMAGES[i % len(DAMAGES)], BLENDS[i % len(BLENDS)], rng)
            yield f"painted{i}", save(painted), 1, pmask
        except Exception:
            pass
        other = bases[(i + 1) % len(bases)]
        sp, smask = make_splice(rgb, other, rng, resized=bool(rng.random() < 0.5), donor_jpeg=bool(rng.random() < 0.7),
                            post=POST[int(rng.integers(0, len(POST)))])
        yield f"splice{i}", save(sp), 1, smask
        s = int(min(h, w) * rng.uniform(0.2, 0.35))
        cm, cmask = copy_moved(rgb, s, rng)
        yield f"copymove{i}", save(cm), 1, cmask


def calibration_pool(d: Path, seeds=(2, 3), corpus_n: int = 200):
    """Everything the fusion may be fitted on: the calibration split and corpus seeds other than those reported (0 here, 1 in bench.quality).

    Yields (group, name, bytes, label, mask or None); group = "<source>:<base photo>", so that a photo's clean and forged
    versions always fall in the same cross-validation fold."""
    for name, data, label, mask in calibration_items(d):
        yield f"synthetic:{re.sub(r'[a-z]+', '', name)}", name, data, label, mask
    try:
        from bench.corpus import generate
    except ImportError:
        return
    for seed in seeds:
        for c in generate(seed=seed, n=corpus_n):
            if c.transform == "no_reference" or c.case_id.endswith(("no_reference_edited", "no_reference_clean")):
                yield f"corpus{seed}:{c.case_id}", c.case_id, c.claim, int(c.edited), c.mask if c.edited else None


MAP_SIDE = 192  # the pool's maps and masks are kept at this size for the map-rule check


def _small(m: np.ndarray) -> np.ndarray:
    import cv2

    h, w = m.shape[:2]
    f = MAP_SIDE / max(h, w)
    return cv2.resize(m.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def trace_rows(items, names=None) -> tuple[list[dict], np.ndarray, list[str], list[str]]:
    """Trace features (fusion.trace_features) of (group, name, bytes, label, mask) items, their labels, groups,
    names. Forged items with a mask also keep the trace detectors' results with small maps ("_results") and
    the mask ("_mask"), for the map-rule check."""
    from claimlens.forensics.base import DetectorResult
    from claimlens.forensics.fusion import TRACE_DETECTORS, trace_features

    names = names or list(TRACE_DETECTORS)
    from claimlens.forensics.fusion import SEVERITY_FLOOR, reporting

    F, y, groups, ids = [], [], [], []
    for group, name, data, label, mask in items:
        try:
            a = analyze(Evidence.from_bytes(data, name), only=names)
        except Exception as exc:  # an unreadable file is reported, not fatal
            print(f"  skip {name}: {exc}", file=sys.stderr)
            continue
        F.append(trace_features(a.results))
        # the severity floor the trace detectors' own findings set (the fusion's risk is at least that)
        F[-1]["_floor"] = max((SEVERITY_FLOOR[f.severity] for r in a.results for f in r.findings), default=0.0)
        F[-1]["_found"] = reporting(a.results)  # the detectors with a finding of their own
        if not label or (mask is not None and mask.any()):
            F[-1]["_mask"] = _small(mask) >= 0.5 if label else None
            F[-1]["_results"] = [DetectorResult(r.detector, score=r.score, map=_small(r.map))
                                 for r in a.results if r.applicable and r.map is not None]
        y.append(label)
        groups.append(group)
        ids.append(name)
    return F, np.asarray(y, float), groups, ids


# The fit's loss is a class-balanced mean (it sums to about 0.69 for an uninformed model), so the L2 weight
# is on that scale: 0.1 already forbids any weight above ~1.
LAMBDAS = (1e-6, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
FOLDS = 5


def _balanced(y: np.ndarray) -> np.ndarray:
    return np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))


def fit_calibration(F: list[dict], y: np.ndarray, features: list[str], lam: float = 0.02) -> dict:
    """L2-regularised, class-balanced logistic regression with non-negative weights on scaled features.

    Scale of a feature: its 90th percentile over the pool (1 for detector scores, already in [0, 1]);
    reference: the median scaled feature of the clean photos (the fusion measures evidence from there)."""
    from scipy.optimize import minimize

    from claimlens.forensics.fusion import scaled

    scale = {}
    for k in features:
        if "." not in k:
            continue
        v = np.array([f.get(k, 0.0) for f in F])
        scale[k] = round(float(max(np.percentile(v, 90), 1e-3)), 4)
    cal = {"scale": scale}
    X = np.array([[scaled(k, f.get(k, 0.0), cal) for k in features] for f in F])
    sw = _balanced(y)  # balanced classes: prior 1/2

    def loss(wb):
        z = X @ wb[:-1] + wb[-1]
        return float(np.sum(sw * (np.logaddexp(0, z) - y * z)) + lam * np.sum(wb[:-1] ** 2))

    res = minimize(loss, np.zeros(X.shape[1] + 1), method="L-BFGS-B",
                   bounds=[(0, None)] * X.shape[1] + [(None, None)])
    w = res.x
    ref = np.median(X[y == 0], axis=0) if (y == 0).any() else np.zeros(X.shape[1])
    return {"bias": round(float(w[-1]), 3), "weights": {k: round(float(v), 3) for k, v in zip(features, w[:-1])},
            "scale": scale, "reference": {k: round(float(r), 4) for k, r in zip(features, ref) if r > 0}}


def model_probability(features: dict, cal: dict) -> float:
    """The fitted model's own probability (before the fusion measures it from the typical clean photo)."""
    from claimlens.forensics.fusion import scaled

    z = cal["bias"] + sum(w * scaled(k, features.get(k, 0.0), cal) for k, w in cal["weights"].items())
    return float(1.0 / (1.0 + np.exp(-z)))


# The learned edit map (fusion.MAP_MODEL) ----------------------------------------------------------
MAP_LAMBDAS = (1e-5, 1e-4, 1e-3)
MAP_OFFSETS = tuple(np.round(np.arange(-1.0, 4.01, 0.25), 2))  # log-odds the 0.5 threshold is moved up by
MAP_PIXELS = 400  # pixels sampled per pool photo for the fit


def map_rows(F: list[dict], idx, cal: dict, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel rows (terms of fusion.MAP_MODEL, mask label, weight) of pool photos `idx` that kept their maps:
    a forged photo's pixels labelled by its mask, a clean photo's all unmarked. Each photo weighs the same and,
    within a forged photo, its marked and unmarked pixels weigh the same."""
    from claimlens.forensics.fusion import MAP_TERMS, TRACE_DETECTORS, _fit, map_terms, measured_evidence

    rng = np.random.default_rng(seed)
    Xs, ys, ws = [], [], []
    for i in idx:
        if "_results" not in F[i] or not F[i]["_results"]:
            continue
        shares = measured_evidence(F[i], cal)[1]
        shape = F[i]["_results"][0].map.shape
        X = np.zeros((shape[0] * shape[1], len(TRACE_DETECTORS) * len(MAP_TERMS)), np.float32)
        for r in F[i]["_results"]:
            if r.detector not in TRACE_DETECTORS:
                continue
            j = TRACE_DETECTORS.index(r.detector) * len(MAP_TERMS)
            m = _fit(r.map, shape).ravel()
            for k, v in enumerate(map_terms(r, shares).values()):
                X[:, j + k] = m * v
        lab = F[i]["_mask"].ravel().astype(float) if F[i]["_mask"] is not None else np.zeros(len(X))
        pick = rng.choice(len(X), min(MAP_PIXELS, len(X)), replace=False)
        yy, w = lab[pick], np.ones(len(pick))
        pos = yy > 0
        w[pos], w[~pos] = 0.5 / max(1, pos.sum()), 0.5 / max(1, (~pos).sum())
        if not pos.any():
            w[:] = 1.0 / len(pick)
        Xs.append(X[pick])
        ys.append(yy)
        ws.append(w)
    return np.vstack(Xs), np.concatenate(ys), np.concatenate(ws)


def fit_map_model(X: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> dict:
    """Weighted logistic regression with non-negative weights on the map terms (fusion.MAP_MODEL's form)."""
    from scipy.optimize import minimize

    from claimlens.forensics.fusion import MAP_TERMS, TRACE_DETECTORS

    def loss(wb):
        z = X @ wb[:-1] + wb[-1]
        return float(np.sum(w * (np.logaddexp(0, z) - y * z)) / w.sum() + lam * np.sum(wb[:-1] ** 2))

    res = minimize(loss, np.zeros(X.shape[1] + 1), method="L-BFGS-B", bounds=[(0, None)] * X.shape[1] + [(None, None)])
    names = [d + t for d in TRACE_DETECTORS for t in MAP_TERMS]
    return {"bias": round(float(res.x[-1]), 3),
            "weights": {k: round(float(v), 3) for k, v in zip(names, res.x[:-1]) if round(float(v), 3) > 0}}


def learned_map_check(F: list[dict], fold: np.ndarray, fold_cals: list[dict], max_marked: float) -> dict:
    """Held-out IoU and clean-photo marking of the learned map for each regularisation and threshold offset;
    returns the best pair among those marking no more clean photos than `max_marked`, with its per-photo
    results. `fold_cals[f]`: the trace calibration fitted without fold f. (The pair is chosen on the same
    held-out predictions it is reported on.)"""
    from claimlens.forensics.fusion import TRACE_DETECTORS, learned_map, measured_evidence

    grid = {(lam, o): {"ious": [], "marked": []} for lam in MAP_LAMBDAS for o in MAP_OFFSETS}
    for f, cal in enumerate(fold_cals):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        rows = map_rows(F, tr, cal)
        for lam in MAP_LAMBDAS:
            model = fit_map_model(*rows, lam)
            for i in te:
                if "_results" not in F[i]:
                    continue
                shape = F[i]["_results"][0].map.shape if F[i]["_results"] else (1, 1)
                res = [r for r in F[i]["_results"] if r.detector in TRACE_DETECTORS]
                p, _ = learned_map(res, shape, measured_evidence(F[i], cal)[1], model)
                for o in MAP_OFFSETS:
                    m = (p >= 1.0 / (1.0 + np.exp(-o))) & (p > 0)
                    if F[i]["_mask"] is None:
                        grid[(lam, o)]["marked"].append(bool(m.any()))
                    else:
                        grid[(lam, o)]["ious"].append(f1_iou(m.astype(np.float32), F[i]["_mask"])[1])
    ok = [k for k, v in grid.items() if np.mean(v["marked"]) <= max_marked] or list(grid)
    lam, o = max(ok, key=lambda k: np.mean(grid[k]["ious"]))
    print(f"  learned map: lambda {lam}, threshold offset {o:+.2f} (held-out IoU {np.mean(grid[(lam, o)]['ious']):.3f}; "
          f"offset 0: {np.mean(grid[(lam, 0.0)]['ious']):.3f}, marking {np.mean(grid[(lam, 0.0)]['marked']):.1%} of clean photos)")
    return {"lambda": lam, "offset": float(o), **grid[(lam, o)]}


def calibrate(d: Path) -> dict:
    """Fit the fusion's trace calibration on the calibration pool; print held-out checks of the procedure.

    The regularisation is chosen by grouped k-fold cross-validation (a base photo's clean and forged versions
    in one fold) on the class-balanced log-loss: calibration is what the fusion needs, and a ranking measure
    (AUC) is blind to how strongly the weights are shrunk."""
    from claimlens.forensics.fusion import (
        CLEAN_SUSPICIOUS, FEATURES, LIKELY_FORGED, MAP_RULES, fuse_maps, measured_evidence, trace_evidence,
    )

    F, y, groups, ids = trace_rows(calibration_pool(d))
    source = np.array([g.split(":")[0] for g in groups])
    kind = np.array(["clean" if not lab else (s if s != "synthetic" else re.sub(r"\d+", "", n))
                     for lab, s, n in zip(y, source, ids)])
    bases = sorted(set(groups))
    fold = np.array([bases.index(g) % FOLDS for g in groups])
    print(f"calibration pool: {int(y.sum())} forged, {int((1 - y).sum())} clean; {len(bases)} base photos in "
          f"{FOLDS} folds; sources {sorted(set(source.tolist()))}")
    clean = kind == "clean"
    for k in FEATURES:
        v = np.array([f.get(k, 0.0) for f in F])
        per = ", ".join(f"{t} {auc(v[kind == t], v[clean]):.3f}" for t in sorted(set(kind.tolist()) - {"clean"}))
        print(f"  {k:<28} AUC {auc(v[y == 1], v[clean]):.3f} ({per})")
    best = None
    for lam in LAMBDAS:
        p = np.zeros(len(y))
        for f in range(FOLDS):
            tr, te = fold != f, fold == f
            cal = fit_calibration([F[i] for i in np.flatnonzero(tr)], y[tr], FEATURES, lam)
            p[te] = [model_probability(F[i], cal) for i in np.flatnonzero(te)]
        p = np.clip(p, 1e-6, 1 - 1e-6)
        ll = float(-np.sum(_balanced(y) * (y * np.log(p) + (1 - y) * np.log(1 - p))))
        per = ", ".join(f"{t} {auc(p[kind == t], p[clean]):.3f}" for t in sorted(set(kind.tolist()) - {"clean"}))
        print(f"  lambda {lam:<6} held-out log-loss {ll:.4f}, AUC {auc(p[y == 1], p[clean]):.3f} ({per})")
        if best is None or ll < best[0] - 1e-9:
            best = (ll, lam)
    print(f"  chosen lambda {best[1]} (lowest held-out log-loss)")
    # the model fitted without each fold, for every held-out check below
    fold_cals = [fit_calibration([F[i] for i in np.flatnonzero(fold != f)], y[fold != f], FEATURES, best[1])
                 for f in range(FOLDS)]
    # How the fusion turns that model into risk: a lone detector's evidence clipped at LONE_CAP or scaled
    # below it; judged by the held-out AUC of the resulting risk (with the findings' severity floors).
    # Agreement (what lifts the cap) is counted among the detectors with a finding of their own, as the fusion
    # does; "by share alone" is shown beside it for comparison.
    rules = {}
    for rule in ("clip", "scale"):
        for agree in ("findings", "share"):
            risk = np.zeros(len(y))
            for f, cal in enumerate(fold_cals):
                te = fold == f
                risk[te] = [max(F[i]["_floor"], trace_evidence(F[i], cal, lone=rule,
                                                               found=F[i]["_found"] if agree == "findings" else None)[0])
                            for i in np.flatnonzero(te)]
            if agree == "findings":
                rules[rule] = auc(risk[y == 1], risk[clean])
            per = ", ".join(f"{t} {auc(risk[kind == t], risk[clean]):.3f}" for t in sorted(set(kind.tolist()) - {"clean"}))
            print(f"  lone rule {rule:<5} agreement by {agree:<8} held-out risk AUC {auc(risk[y == 1], risk[clean]):.3f} "
                  f"({per}); likely forged: clean {np.mean(risk[clean] >= LIKELY_FORGED):.1%}, "
                  f"forged {np.mean(risk[y == 1] >= LIKELY_FORGED):.1%}")
    print(f"  chosen lone rule: {max(rules, key=rules.get)}")
    # The edit map (fusion.MAP_RULES): judged by the IoU of the map >= 0.5 with the forged region, held out,
    # among the rules that mark a region on no more clean photos than the confidence-scaled noisy-OR ("score").
    ious = {rule: [] for rule in MAP_RULES if rule != "learned"}
    marked = {rule: [] for rule in ious}
    for f, cal in enumerate(fold_cals):
        for i in np.flatnonzero(fold == f):
            if "_results" not in F[i]:
                continue
            shares = measured_evidence(F[i], cal)[1]
            for rule in ious:
                shape = F[i]["_results"][0].map.shape if F[i]["_results"] else (1, 1)
                m, _ = fuse_maps(F[i]["_results"], {}, shape, shares=shares, rule=rule)
                if F[i]["_mask"] is None:
                    marked[rule].append(m is not None and bool((m >= 0.5).any()))
                else:
                    ious[rule].append(f1_iou(m, F[i]["_mask"])[1] if m is not None else 0.0)
    learned = learned_map_check(F, fold, fold_cals, max_marked=float(np.mean(marked["score"])))
    ious["learned"], marked["learned"] = learned["ious"], learned["marked"]
    for rule in MAP_RULES:
        print(f"  map rule {rule:<8} held-out mean IoU {np.mean(ious[rule]):.3f} over {len(ious[rule])} forged photos; "
              f"a region marked on {np.mean(marked[rule]):.1%} of {len(marked[rule])} clean photos")
    allowed = [r for r in MAP_RULES if np.mean(marked[r]) <= np.mean(marked["score"])]
    print(f"  chosen map rule: {max(allowed, key=lambda r: np.mean(ious[r]))}")
    lam_map, offset = learned["lambda"], learned["offset"]
    model = fit_map_model(*map_rows(F, range(len(F)), fit_calibration(F, y, FEATURES, best[1])), lam_map)
    model["bias"] = round(model["bias"] - offset, 3)
    print("MAP_MODEL =", model)
    out = fit_calibration(F, y, FEATURES, best[1])
    # the verdict scale: held-out evidence of the clean photos (each scored by the fit without its fold)
    held = np.zeros(len(y))
    for f, cal in enumerate(fold_cals):
        held[fold == f] = [measured_evidence(F[i], cal)[0] for i in np.flatnonzero(fold == f)]
    out["suspicious_at"] = round(float(np.quantile(held[clean], 1.0 - CLEAN_SUSPICIOUS)), 4)
    print(f"  held-out evidence of the clean photos: median {np.median(held[clean]):.3f}, "
          f"{1 - CLEAN_SUSPICIOUS:.0%} quantile {out['suspicious_at']} -> suspicious_at; forged photos above it: "
          f"{np.mean(held[y == 1] >= out['suspicious_at']):.0%}")
    print("CALIBRATION =", out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--corpus-n", type=int, default=1000)
    ap.add_argument("--only", nargs="*", help="data set names to run")
    ap.add_argument("--map-rule", help="combine the maps by this fusion.MAP_RULES rule instead (to compare)")
    args = ap.parse_args(argv)
    if args.map_rule:
        import claimlens.forensics.fusion as fusion

        if args.map_rule not in fusion.MAP_RULES:
            ap.error(f"--map-rule: one of {', '.join(fusion.MAP_RULES)}")
        fusion.MAP_RULE = args.map_rule
    d = data_dir()
    if not d.is_dir():
        print(f"shared data not found at {d}", file=sys.stderr)
        return 1
    if args.calibrate:
        calibrate(d)
        return 0
    names = photo_only()
    print(f"photo-only detectors: {', '.join(names)}")
    for title, items, note in datasets(d, args.corpus_n):
        if args.only and title not in args.only:
            continue
        print_table(title, evaluate(items, names), note)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
