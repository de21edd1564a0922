"""Train the ai_spectral classifier from the shared data and write claimlens/forensics/models/ai_spectral.json.

    python -m bench.train_ai_spectral            (data from CLAIMLENS_SHARED_DATA, default ../shared/data)

Like-for-like protocol, the same for AI-generated and real photos, so that the classifier
cannot learn PNG-vs-JPEG or generator sizes: every image gets one JPEG pass at a random
quality 75-95 at its own size (claims arrive as JPEG; camera photos already were), then
random CROPxCROP crops at native resolution, each re-encoded at JPEG 90 before features.

Split: a fixed hash of the file path puts about 30 % of the images of each class in a
held-out test split (the weights file lists the training files); the shipped weights see
only the training split. Reported: leave-one-image-out AUC over all images, and the
held-out split's AUC, plus Adobe Firefly (c2pa-rs ocsp.jpg), never used in training.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from claimlens.forensics.detectors import ai_spectral as spec

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "claimlens" / "forensics" / "models" / "ai_spectral.json"
CROPS_AI = 8
CROPS_REAL = 3
TEST_SHARE = 0.3
LAMBDAS = (0.3, 1.0, 3.0, 10.0)
LAMBDA = 1.0

# comfyui_examples files that are not generated pixels: UI screenshots and the real input photo.
NOT_GENERATED = {"img2img/img2img_workflow.png", "inpaint/inpaint_example.png", "inpaint/yosemite_inpaint_example.png"}
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def shared_data() -> Path:
    return Path(os.environ.get("CLAIMLENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def dataset(root: Path) -> list[dict]:
    """Every usable image: key, label (1 = AI-generated), source, and how to load it."""
    items = []

    def add(path: Path, label: int, source: str):
        items.append({"key": str(path.relative_to(root)), "label": label, "source": source, "path": path})

    comfy = root / "comfyui_examples"
    for p in sorted(comfy.rglob("*.png")):
        if str(p.relative_to(comfy)) not in NOT_GENERATED:
            add(p, 1, "comfyui")
    cnn = root / "CNNDetection" / "examples"
    if (cnn / "fake.png").exists():
        add(cnn / "fake.png", 1, "cnndetection_gan")
        add(cnn / "real.png", 0, "cnndetection_real")
    for n in SKIMAGE_PHOTOS:
        items.append({"key": f"skimage/{n}", "label": 0, "source": "skimage", "path": None})
    mv = root / "multiview"
    for sub, src in (
        ("superglue/assets", "superglue"),
        ("oxford_affine_mllab/data", "oxford"),
        ("middlebury_xland16", "middlebury"),
        ("crackforest/image", "crackforest"),
    ):
        for p in sorted((mv / sub).rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".ppm", ".pgm") and "mask" not in p.name:
                add(p, 0, src)
    for p in sorted((root / "solidus_products").rglob("*")):
        if p.suffix.lower() in (".jpg", ".png"):
            add(p, 0, "solidus")
    fx = root / "c2pa-rs" / "sdk" / "tests" / "fixtures"
    for n in ("IMG_0003.jpg", "P1000827.jpg", "earth_apollo17.jpg"):
        if (fx / n).exists():
            add(fx / n, 0, "c2pa_plain")
    for n in ("pristine1.jpg", "pristine2.jpg"):
        p = root / "TruFor" / "test_docker" / "images" / n
        if p.exists():
            add(p, 0, "trufor_pristine")
    return items


def holdout_items(root: Path) -> list[dict]:
    """AI images never used in training: Adobe Firefly output (C2PA fixture)."""
    p = root / "c2pa-rs" / "sdk" / "tests" / "fixtures" / "ocsp.jpg"
    return [{"key": str(p.relative_to(root)), "label": 1, "source": "firefly", "path": p}] if p.exists() else []


def is_test(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < TEST_SHARE


def load_rgb(item: dict) -> np.ndarray:
    if item["path"] is None:
        from skimage import data

        return getattr(data, item["key"].split("/", 1)[1])()
    im = Image.open(item["path"])
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"))


def like_for_like(rgb: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The protocol: JPEG at a random quality 75-95 at full size, then n random crops re-encoded at 90."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(rng.integers(75, 96)))
    buf.seek(0)
    rgb = np.asarray(Image.open(buf).convert("RGB"))
    return spec.photo_features(rgb, n=n, rng=rng)


def seed_of(key: str) -> int:
    return int(hashlib.sha1(("crop:" + key).encode()).hexdigest()[:8], 16)


def featurise(items: list[dict], log=print) -> list[dict]:
    out = []
    for it in items:
        try:
            rgb = load_rgb(it)
        except Exception as exc:
            log(f"  skip {it['key']}: {exc}")
            continue
        if min(rgb.shape[:2]) < spec.CROP:
            continue
        f = like_for_like(rgb, CROPS_AI if it["label"] else CROPS_REAL, seed_of(it["key"]))
        if len(f) == 0:
            log(f"  skip {it['key']}: no textured crop")
            continue
        out.append({**it, "feats": f})
    return out


# Logistic regression ---------------------------------------------------------------------


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton's method on standardised X."""
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    reg = np.full(d + 1, lam)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(A @ beta, -30, 30)))
        g = A.T @ (w * (p - y)) + reg * beta
        H = (A * (w * p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def train(rows: list[dict], lam: float) -> dict:
    X = np.vstack([r["feats"] for r in rows])
    y = np.concatenate([np.full(len(r["feats"]), r["label"], float) for r in rows])
    # Each class weighs the same in total, and each image the same within its class.
    w = np.concatenate([np.full(len(r["feats"]), 1.0 / len(r["feats"])) for r in rows])
    for c in (0, 1):
        w[y == c] *= 0.5 * len(rows) / w[y == c].sum()
    mean, std = X.mean(0), X.std(0) + 1e-9
    coef, b = fit_logistic((X - mean) / std, y, w, lam)
    return {"mean": mean, "std": std, "coef": coef, "intercept": b}


def image_scores(model: dict, rows: list[dict]) -> np.ndarray:
    return np.array([spec.crop_probabilities(r["feats"], model).mean() for r in rows])


def auc(pos, neg) -> float:
    from bench.metrics import auc as _auc

    return _auc(pos, neg)


def loo_scores(rows: list[dict], lam: float, real_folds: int = 10) -> np.ndarray:
    """Leave-one-out for each AI image; real images in `real_folds` folds. Out-of-fold image scores."""
    scores = np.zeros(len(rows))
    ai = [i for i, r in enumerate(rows) if r["label"] == 1]
    real = [i for i, r in enumerate(rows) if r["label"] == 0]
    folds = [[i] for i in ai] + [real[k::real_folds] for k in range(real_folds)]
    for held in folds:
        hs = set(held)
        model = train([r for i, r in enumerate(rows) if i not in hs], lam)
        scores[held] = image_scores(model, [rows[i] for i in held])
    return scores


def main(argv=None) -> int:
    root = shared_data()
    if not root.is_dir():
        print(f"shared data not found at {root}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    rows = featurise(dataset(root))
    hold = featurise(holdout_items(root))
    n_ai = sum(r["label"] for r in rows)
    print(f"{len(rows)} images ({n_ai} AI-generated, {len(rows) - n_ai} real), features in {time.perf_counter() - t0:.0f} s")
    y = np.array([r["label"] for r in rows])

    print("\nleave-one-image-out over all images (image score = mean of its crops):")
    best = None
    for lam in LAMBDAS:
        s = loo_scores(rows, lam)
        a = auc(s[y == 1], s[y == 0])
        far = float((s[y == 0] >= 0.5).mean())
        det = float((s[y == 1] >= 0.5).mean())
        print(f"  lambda {lam:>5}: AUC {a:.3f}  detection@0.5 {det:.2f}  false alarms@0.5 {far:.3f}")
        if lam == LAMBDA:
            best = s
    for src in sorted({r["source"] for r in rows}):
        sel = [i for i, r in enumerate(rows) if r["source"] == src]
        print(f"    {src:<18} n={len(sel):>3}  mean score {best[sel].mean():.2f}  share >= 0.5: {(best[sel] >= 0.5).mean():.2f}")

    train_rows = [r for r in rows if not is_test(r["key"])]
    test_rows = [r for r in rows if is_test(r["key"])]
    model = train(train_rows, LAMBDA)
    tr_real = image_scores(model, [r for r in train_rows if r["label"] == 0])
    threshold = float(max(0.5, np.quantile(tr_real, 0.97)))
    st = image_scores(model, test_rows)
    yt = np.array([r["label"] for r in test_rows])
    print(f"\nheld-out split: {int(yt.sum())} AI, {int((yt == 0).sum())} real (training: {len(train_rows)} images)")
    print(f"  AUC {auc(st[yt == 1], st[yt == 0]):.3f}  threshold {threshold:.3f}: detection {(st[yt == 1] >= threshold).mean():.2f}"
          f"  false alarms {(st[yt == 0] >= threshold).mean():.3f}")
    for r, s in zip(test_rows, st):
        if r["label"] == 1:
            print(f"    AI  {r['key']:<60} {s:.3f}")
    for r, s in zip(hold, image_scores(model, hold)):
        print(f"  never trained on: {r['source']} {r['key']} score {s:.3f}")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "features": spec.FEATURE_NAMES,
        "mean": [round(float(v), 6) for v in model["mean"]],
        "std": [round(float(v), 6) for v in model["std"]],
        "coef": [round(float(v), 6) for v in model["coef"]],
        "intercept": round(model["intercept"], 6),
        "threshold": round(threshold, 4),
        "threshold_high": 0.9,
        "lambda": LAMBDA,
        "crop": spec.CROP,
        "jpeg_quality": spec.JPEG_QUALITY,
        "training_files": sorted(r["key"] for r in train_rows),
        "note": "written by python -m bench.train_ai_spectral; like-for-like protocol in its docstring",
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\nwrote {OUT.relative_to(ROOT)} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
