"""Noise-residual detector on synthetic splices of real photos: AUC, false alarms and IoU per subgroup.

PYTHONPATH=. .venv/bin/python -m bench.splice                     working tree vs the start revision (--rev)
PYTHONPATH=. .venv/bin/python -m bench.splice --rev REV           compare the working tree with REV
PYTHONPATH=. .venv/bin/python -m bench.splice --rev none          only the working tree

Needs CLAIMLENS_SHARED_DATA (the calibration photos). Photos: the calibration half of the real pristine photos
(bench.forensics.pristine(d, half=1), odd multiview photos; never reported by bench.forensics) and the
scikit-image photos of bench.forensics.calibration_items. Per host photo, SPLICES_PER_PHOTO splices: an
object-shaped region (irregular blob or polygon, 3-20 % of the area, feathered edge or not) from ANOTHER of these
photos, the donor optionally resized (0.6-1.5), optionally JPEG-compressed (q 50-90) before pasting and
optionally blurred, denoised or given extra noise; the result saved as JPEG q70-95 or PNG. Each splice has a
negative: the same host saved the same way without the splice. Flagged: score >= 0.5; IoU: map >= 0.5 vs the
pasted mask, averaged over the splices.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import cv2
import numpy as np
from PIL import Image
from skimage import data as skimage_data

from bench.forensics import data_dir, pristine
from bench.metrics import auc, iou
from bench.revisions import detector_at
from claimlens.forensics.base import run_detector
from claimlens.forensics.evidence import Evidence

START_REV = "cb614f7"  # noise_residual.py before the co-occurrence method
SKIMAGE_PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")  # as in bench.forensics.calibration_items
SPLICES_PER_PHOTO = 8
FLAGGED = 0.5
POST = ("none", "blur", "denoise", "noise")


def detector_class(rev: str | None):
    """NoiseResidual from the working tree, or from a git revision (loaded beside it, unregistered)."""
    if rev is None:
        from claimlens.forensics.detectors.noise_residual import NoiseResidual

        return NoiseResidual
    return detector_at(rev, "noise_residual", "NoiseResidual")


def photos(limit: int = 30) -> list[tuple[str, np.ndarray]]:
    out = []
    for n in SKIMAGE_PHOTOS:
        out.append((f"skimage:{n}", getattr(skimage_data, n)()[..., :3]))
    for p in pristine(data_dir(), half=1, limit=limit):
        out.append((p.name, np.asarray(Image.open(p).convert("RGB"))))
    return [(n, a) for n, a in out if min(a.shape[:2]) >= 128]


def encode(rgb: np.ndarray, quality: int | None) -> bytes:
    """JPEG at `quality`, or PNG when quality is None."""
    b = io.BytesIO()
    if quality is None:
        Image.fromarray(rgb).save(b, "PNG")
    else:
        Image.fromarray(rgb).save(b, "JPEG", quality=int(quality))
    return b.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def object_mask(h: int, w: int, frac: float, rng) -> np.ndarray:
    """A blob (smooth random radius) or a polygon of about `frac` of the h x w area, at a random place."""
    r0 = np.sqrt(frac * h * w / np.pi)
    cx = rng.uniform(r0 * 1.1, max(r0 * 1.1 + 1, w - r0 * 1.1))
    cy = rng.uniform(r0 * 1.1, max(r0 * 1.1 + 1, h - r0 * 1.1))
    m = np.zeros((h, w), np.uint8)
    if rng.random() < 0.5:  # irregular blob: radius with a few random harmonics
        t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
        r = np.ones_like(t)
        for k in range(2, 6):
            r += rng.uniform(0, 0.25 / k * 2) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
        pts = np.stack([cx + r0 * r * np.cos(t), cy + 0.8 * r0 * r * np.sin(t)], 1)
    else:  # polygon, 5-9 corners
        n = int(rng.integers(5, 10))
        t = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * 2 * np.pi / n
        r = rng.uniform(0.6, 1.3, n)
        pts = np.stack([cx + r0 * r * np.cos(t), cy + r0 * r * np.sin(t)], 1)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    # scale to the wanted area (the shape's own area differs from pi r0^2)
    a = m.sum()
    if a > 0:
        s = np.sqrt(frac * h * w / a)
        M = cv2.getRotationMatrix2D((float(cx), float(cy)), 0.0, float(s))
        m = cv2.warpAffine(m, M, (w, h), flags=cv2.INTER_NEAREST)
    return m.astype(bool)


def make_splice(host: np.ndarray, donor: np.ndarray, rng, resized: bool, donor_jpeg: bool, post: str):
    """Paste an object-shaped region of `donor` into `host`; returns (photo, mask)."""
    h, w = host.shape[:2]
    mask = object_mask(h, w, rng.uniform(0.03, 0.20), rng)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    bh, bw = y1 - y0, x1 - x0
    d = donor
    if resized:
        s = rng.uniform(0.6, 1.5)
        d = cv2.resize(d, (max(1, int(d.shape[1] * s)), max(1, int(d.shape[0] * s))),
                       interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    if d.shape[0] < bh or d.shape[1] < bw:  # too small for the region: tile it (no resampling)
        d = np.pad(d, ((0, max(0, bh - d.shape[0])), (0, max(0, bw - d.shape[1])), (0, 0)), mode="symmetric")
    oy, ox = rng.integers(0, d.shape[0] - bh + 1), rng.integers(0, d.shape[1] - bw + 1)
    patch = d[oy : oy + bh, ox : ox + bw]
    if donor_jpeg:
        patch = decode(encode(np.ascontiguousarray(patch), int(rng.integers(50, 91))))
    patch = patch.astype(np.float32)
    if post == "blur":
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.5, 1.2))
    elif post == "denoise":
        patch = cv2.bilateralFilter(patch, 5, 20, 3)
    elif post == "noise":
        patch = patch + rng.normal(0, rng.uniform(2, 6), patch.shape).astype(np.float32)
    alpha = mask.astype(np.float32)
    if rng.random() < 0.5:  # feathered edge
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(1, 3))
    out = host.astype(np.float32)
    a = alpha[y0:y1, x0:x1, None]
    out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - a) + patch * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mask


def quality_group(q: int | None) -> str:
    return "PNG" if q is None else "q70-79" if q < 80 else "q80-89" if q < 90 else "q90-95"


def make_cases(seed: int = 0, limit: int = 30, per_photo: int = SPLICES_PER_PHOTO):
    """[(key dict, splice bytes, mask, negative bytes)]: splices of the calibration photos and their negatives."""
    items = photos(limit)
    rng = np.random.default_rng(seed)
    cases = []
    for i, (name, host) in enumerate(items):
        for k in range(per_photo):
            j = (i + 1 + int(rng.integers(0, len(items) - 1))) % len(items)
            key = {"photo": name, "donor": items[j][0], "resized": bool(k % 2), "donor_jpeg": bool((k // 2) % 2),
                   "post": POST[int(rng.integers(0, len(POST)))]}
            q = None if rng.random() < 0.2 else int(rng.integers(70, 96))
            key["quality"] = quality_group(q)
            img, mask = make_splice(host, items[j][1], rng, key["resized"], key["donor_jpeg"], key["post"])
            cases.append((key, encode(img, q), mask, encode(host, q)))
    return cases


def evaluate(detector, cases) -> list[dict]:
    rows = []
    for key, data, mask, neg in cases:
        r = run_detector(detector, Evidence.from_bytes(data))
        n = run_detector(detector, Evidence.from_bytes(neg))
        j = iou(r.map >= 0.5, mask) if r.map is not None else 0.0
        rows.append(dict(key, pos=r.score or 0.0, neg=n.score or 0.0, iou=j, sec=r.seconds + n.seconds))
    return rows


def table(results: dict[str, list[dict]]) -> None:
    labels = list(results)
    groups = [("all", lambda r: True)]
    groups += [("resized", lambda r: r["resized"]), ("not resized", lambda r: not r["resized"])]
    groups += [("donor JPEG", lambda r: r["donor_jpeg"]), ("donor not JPEG", lambda r: not r["donor_jpeg"])]
    groups += [(f"post {p}", lambda r, p=p: r["post"] == p) for p in POST]
    groups += [(f"output {g}", lambda r, g=g: r["quality"] == g) for g in ("PNG", "q70-79", "q80-89", "q90-95")]
    groups += [("host short side < 300", lambda r: r["small"]), ("host short side >= 300", lambda r: not r["small"])]
    head = f"{'subgroup':<24}{'n':>5}" + "".join(f" | {lab[:10]:>10}: AUC  FA@0.5 det@0.5  IoU" for lab in labels)
    print(head)
    print("-" * len(head))
    for gname, sel in groups:
        line = ""
        n = 0
        for lab in labels:
            rows = [r for r in results[lab] if sel(r)]
            n = len(rows)
            if not rows:
                line += f" | {'':>10}  {'-':>4}"
                continue
            pos, neg = [r["pos"] for r in rows], [r["neg"] for r in rows]
            line += (f" | {'':>10}  {auc(pos, neg):.2f}  {np.mean(np.array(neg) >= FLAGGED):5.1%} "
                     f"{np.mean(np.array(pos) >= FLAGGED):6.1%}  {np.mean([r['iou'] for r in rows]):.3f}")
        print(f"{gname:<24}{n:>5}{line}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", default=START_REV, help="git revision of noise_residual.py to compare with ('none': skip)")
    ap.add_argument("--limit", type=int, default=30, help="multiview calibration photos to use (<= 30)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cases = make_cases(args.seed, args.limit)
    small = {name: min(a.shape[:2]) < 300 for name, a in photos(args.limit)}
    versions = {"new": detector_class(None)}
    if args.rev.lower() != "none":
        versions = {f"old {args.rev}": detector_class(args.rev), **versions}
    results = {}
    for label, cls in versions.items():
        rows = evaluate(cls(), cases)
        for r in rows:
            r["small"] = small[r["photo"]]
        results[label] = rows
        print(f"  {label}: {len(rows)} splices + {len(rows)} negatives, "
              f"{np.mean([r['sec'] for r in rows]) / 2 * 1000:.0f} ms per photo", file=sys.stderr, flush=True)
    print(f"splice bench: {len(cases)} splices of {len(small)} calibration photos (seed {args.seed}), "
          f"each with an unspliced negative saved the same way; AUC splice vs negative, FA = negatives with "
          f"score >= {FLAGGED}, det = splices with score >= {FLAGGED}, IoU of map >= 0.5; "
          f"{time.perf_counter() - t0:.0f} s")
    table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
