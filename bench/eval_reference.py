"""Quick evaluation of the reference-consistency check.

Synthetic derived claims are made from scikit-image photos (crops, scales, rotations, mirrors,
filters, screenshots, JPEG re-encodes, painted cracks and stains); independent captures come from
/work/shared/data/multiview/pairs.csv. Prints relation accuracy and mask IoU per transformation,
false `derived` calls on independent pairs, and time per claim.

    .venv/bin/python -m bench.eval_reference [--seed N] [--split calib|test|all] [--features out.csv]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from claimlens.forensics.evidence import Evidence

SHARED = Path(os.environ.get("CLAIMLENS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PHOTOS = ["coffee", "chelsea", "astronaut", "rocket", "immunohistochemistry", "motorcycle_left", "hubble_deep_field"]


def skimage_photos() -> dict[str, np.ndarray]:
    from skimage import data

    out = {}
    for n in PHOTOS:
        try:
            img = getattr(data, n)()
        except Exception:
            continue
        if img.ndim == 3 and img.shape[2] == 3:
            out[n] = img
    return out


# Edits ------------------------------------------------------------------------------------
def paint_crack(img, rng):
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    x, y = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
    ang = rng.uniform(0, 2 * np.pi)
    step = max(h, w) / 40
    thick = max(2, round(max(h, w) / rng.uniform(150, 300)))
    pts = []
    for _ in range(int(rng.integers(10, 18))):
        pts.append((x, y))
        ang += rng.normal(0, 0.5)
        x += step * np.cos(ang)
        y += step * np.sin(ang)
    pts = np.array(pts, np.int32)
    cv2.polylines(layer, [pts], False, 1.0, thick, cv2.LINE_AA)
    b = pts[len(pts) // 2]
    cv2.polylines(layer, [np.array([b, b + rng.normal(0, step * 2, 2)], np.int32)], False, 1.0, max(1, thick - 1), cv2.LINE_AA)
    return _blend(img, layer, np.array([25, 20, 18], np.float32), blur=1.0, alpha=0.9)


def paint_stain(img, rng):
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    c = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h))
    ax = (int(rng.uniform(0.05, 0.12) * max(h, w)), int(rng.uniform(0.03, 0.08) * max(h, w)))
    cv2.ellipse(layer, c, ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    color = np.array([110, 75, 35], np.float32) * rng.uniform(0.6, 1.1)
    return _blend(img, layer, color, blur=max(h, w) / 150, alpha=0.75)


def _blend(img, layer, color, blur, alpha):
    soft = cv2.GaussianBlur(layer, (0, 0), blur) * alpha
    out = img.astype(np.float32) * (1 - soft[..., None]) + color * soft[..., None]
    return np.clip(out, 0, 255).astype(np.uint8), soft > 0.25


# Transforms (applied to photo and mask alike) ----------------------------------------------
def jpeg(img, q):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=int(q))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def t_scale(img, m, s):
    h, w = img.shape[:2]
    size = (max(8, round(w * s)), max(8, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0


def t_crop(img, m, frac, rng):
    h, w = img.shape[:2]
    side = np.sqrt(frac)
    cw, ch = int(w * side), int(h * side)
    ys, xs = np.nonzero(m)
    if len(xs):  # keep the edit inside the crop
        x0 = int(np.clip(xs.mean() - cw / 2 + rng.uniform(-0.15, 0.15) * cw, 0, w - cw))
        y0 = int(np.clip(ys.mean() - ch / 2 + rng.uniform(-0.15, 0.15) * ch, 0, h - ch))
    else:
        x0, y0 = int(rng.uniform(0, w - cw)), int(rng.uniform(0, h - ch))
    return img[y0:y0 + ch, x0:x0 + cw], m[y0:y0 + ch, x0:x0 + cw]


def t_rotate(img, m, deg):
    if deg in (90, 180, 270):
        k = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[deg]
        return cv2.rotate(img, k), cv2.rotate(m.astype(np.uint8), k) > 0
    h, w = img.shape[:2]
    R = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return (cv2.warpAffine(img, R, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)),
            cv2.warpAffine(m.astype(np.uint8), R, (w, h), flags=cv2.INTER_NEAREST) > 0)


def t_mirror(img, m):
    return img[:, ::-1].copy(), m[:, ::-1].copy()


def t_filter(img, kind):
    f = img.astype(np.float32) / 255
    if kind == "brightness":
        f = f * 1.25 + 0.03
    elif kind == "contrast":
        f = (f - 0.5) * 1.4 + 0.5
    elif kind == "saturation":
        g = f.mean(2, keepdims=True)
        f = g + (f - g) * 1.6
    elif kind == "gamma":
        f = np.clip(f, 0, 1) ** 0.7
    elif kind == "warm":
        f = f * np.array([1.12, 1.0, 0.85])
    elif kind == "cool":
        f = f * np.array([0.85, 0.98, 1.15])
    elif kind == "desaturate":
        g = f.mean(2, keepdims=True)
        f = g + (f - g) * 0.4
    return (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)


def t_screenshot(img, m, rng):
    h, w = img.shape[:2]
    top, bottom, side = int(h * rng.uniform(0.06, 0.12)), int(h * rng.uniform(0.1, 0.2)), int(w * rng.uniform(0, 0.05))
    canvas = np.full((h + top + bottom, w + 2 * side, 3), 245, np.uint8)
    canvas[:top] = (30, 30, 30)
    cv2.putText(canvas, "12:41  4G  87%", (10, max(12, top - 8)), cv2.FONT_HERSHEY_SIMPLEX, top / 40, (255, 255, 255), 1)
    cv2.putText(canvas, "Send", (10, h + top + bottom // 2), cv2.FONT_HERSHEY_SIMPLEX, bottom / 60, (0, 120, 255), 2)
    canvas[top:top + h, side:side + w] = img
    mm = np.zeros(canvas.shape[:2], bool)
    mm[top:top + h, side:side + w] = m
    return canvas, mm


TRANSFORMS = [
    "reencode_q90", "jpeg_q50", "scale_0.3", "scale_0.6", "crop_0.4", "crop_0.7", "rot_90", "rot_180", "rot_270",
    "rot_7", "rot_-3", "mirror", "brightness", "contrast", "saturation", "gamma", "warm", "cool", "desaturate",
    "screenshot", "combo_phone",
]


def make_claim(ref, transform, edit, rng):
    """A derived claim from `ref`: optional edit, then the transform, then a JPEG save."""
    img, m = ref, np.zeros(ref.shape[:2], bool)
    if edit == "crack":
        img, m = paint_crack(img, rng)
    elif edit == "stain":
        img, m = paint_stain(img, rng)
    q = 88
    t = transform
    if t == "jpeg_q50":
        q = 50
    elif t.startswith("scale_"):
        img, m = t_scale(img, m, float(t.split("_")[1]))
    elif t.startswith("crop_"):
        img, m = t_crop(img, m, float(t.split("_")[1]), rng)
    elif t.startswith("rot_"):
        img, m = t_rotate(img, m, int(t.split("_")[1]))
    elif t == "mirror":
        img, m = t_mirror(img, m)
    elif t in ("brightness", "contrast", "saturation", "gamma", "warm", "cool", "desaturate"):
        img = t_filter(img, t)
    elif t == "screenshot":
        img, m = t_screenshot(img, m, rng)
        q = 75
    elif t == "combo_phone":
        img, m = t_crop(img, m, 0.6, rng)
        img, m = t_rotate(img, m, 4)
        img, m = t_scale(img, m, 0.5)
        img = t_filter(img, "warm")
        q = 60
    return jpeg(img, q), m


def to_evidence(img, name, refs=(), fmt="JPEG", q=95):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **({"quality": q} if fmt == "JPEG" else {}))
    return Evidence.from_bytes(buf.getvalue(), name, references=list(refs))


def iou(a, b):
    u = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / u) if u else 1.0


def multiview_pairs(split: str):
    path = SHARED / "multiview" / "pairs.csv"
    if not path.exists():
        return []
    rows = list(csv.DictReader(open(path)))
    # calibration split: every other pair; test split: the rest
    if split == "calib":
        rows = rows[0::2]
    elif split == "test":
        rows = rows[1::2]
    return rows


def main(argv=None):
    from claimlens.forensics.detectors.reference import ReferenceDetector

    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--split", default="test", choices=["calib", "test", "all"])
    ap.add_argument("--features", help="write per-case relation features to this CSV")
    ap.add_argument("--photos", type=int, default=len(PHOTOS))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    det = ReferenceDetector()
    photos = dict(list(skimage_photos().items())[: args.photos])
    # photos of the calibration split get even indices in PHOTOS order; the test split the odd ones
    names = list(photos)
    if args.split == "calib":
        names = names[0::2]
    elif args.split == "test":
        names = names[1::2]
    stats = defaultdict(lambda: {"n": 0, "ok": 0, "iou": [], "clean_regions": 0})
    feats = []
    times = []
    for name in names:
        ref = photos[name]
        ref_ev = to_evidence(ref, f"{name}.png", fmt="PNG")
        for t in TRANSFORMS:
            for edit in ("none", "crack", "stain"):
                claim, m = make_claim(ref, t, edit, rng)
                ev = to_evidence(claim, f"{name}-{t}-{edit}.jpg", [ref_ev], q=100)
                t0 = time.perf_counter()
                res = det.run(ev)
                times.append(time.perf_counter() - t0)
                rel = res.extra["references"][0]
                s = stats[t]
                s["n"] += 1
                s["ok"] += rel["relation"] == "derived"
                if edit == "none":
                    s["clean_regions"] += len(res.extra.get("edited_regions", []))
                elif res.map is not None:
                    s["iou"].append(iou(res.map >= 0.5, m))
                else:
                    s["iou"].append(0.0)
                feats.append({"case": ev.name, "label": "derived", **res.extra.get("features", [{}])[0]})
    indep = {"n": 0, "derived": 0, "same_item": 0}
    for row in multiview_pairs(args.split):
        a = Evidence.from_path(SHARED / "multiview" / row["image_a"])
        b = Evidence.from_path(SHARED / "multiview" / row["image_b"], references=[a])
        t0 = time.perf_counter()
        res = det.run(b)
        times.append(time.perf_counter() - t0)
        rel = res.extra["references"][0]["relation"]
        indep["n"] += 1
        indep["derived"] += rel == "derived"
        indep["same_item"] += rel == "same_item"
        if rel == "derived":
            print("FALSE DERIVED:", row["image_a"], row["image_b"])
        feats.append({"case": row["image_b"], "label": row["kind"], **res.extra.get("features", [{}])[0]})

    print(f"{'transform':16s} {'n':>3s} {'rel_acc':>7s} {'IoU':>6s} {'regions_on_clean':>16s}")
    accs, ious = [], []
    for t in TRANSFORMS:
        s = stats[t]
        if not s["n"]:
            continue
        acc = s["ok"] / s["n"]
        mi = float(np.mean(s["iou"])) if s["iou"] else float("nan")
        accs.append(acc)
        ious += s["iou"]
        print(f"{t:16s} {s['n']:3d} {acc:7.3f} {mi:6.3f} {s['clean_regions']:16d}")
    print(f"derived relation accuracy {np.mean(accs):.3f}, mean mask IoU {np.mean(ious):.3f}")
    print(f"independent pairs: {indep['n']}, called derived: {indep['derived']}, same_item: {indep['same_item']}")
    print(f"time per claim: median {np.median(times) * 1000:.0f} ms, max {np.max(times) * 1000:.0f} ms")
    if args.features:
        keys = sorted({k for f in feats for k in f})
        with open(args.features, "w", newline="") as fh:
            w = csv.DictWriter(fh, keys)
            w.writeheader()
            w.writerows(feats)


if __name__ == "__main__":
    main()
