"""Copy-move detector on synthetic clones of real photos: recall per rotation/scale, false alarms, speed.

PYTHONPATH=. .venv/bin/python -m bench.copy_move                 the detector as it is in the working tree
PYTHONPATH=. .venv/bin/python -m bench.copy_move --rev REV       the detector from a git revision (before/after)
PYTHONPATH=. .venv/bin/python -m bench.copy_move --time-against REV --timing-only   2 MP timing, two versions

Needs CLAIMLENS_SHARED_DATA (the calibration photos); takes a few minutes (1,800 detector runs).

Photos: the calibration half of the real pristine photos (bench.forensics.pristine(d, half=1), odd multiview
photos; never reported by bench.forensics) plus a few scikit-image photos. For every photo and every
condition (rotation 0/10/30/60 deg x scale 0.8/1.0/1.25 x mirrored or not x JPEG 75/90) the most textured
square or elliptical region (10-25 % of the short side) is pasted elsewhere, transformed, with a softly
anti-aliased edge, and the photo is saved as JPEG. Detected: score >= 0.3. Located: the map (>= 0.5) covers at
least a third of both the pasted target and its source. False alarms: the clean photos re-saved as JPEG 75/90.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import cv2
import numpy as np
from PIL import Image
from skimage import data as skimage_data

from bench.forensics import data_dir, pristine
from bench.revisions import detector_at
from claimlens.forensics.base import run_detector
from claimlens.forensics.evidence import Evidence

ROTATIONS = (0, 10, 30, 60)
SCALES = (0.8, 1.0, 1.25)
QUALITIES = (75, 90)
DETECTED = 0.3
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera", "hubble_deep_field")


def detector_class(rev: str | None):
    """CopyMove from the working tree, or from a git revision (loaded beside it, unregistered)."""
    if rev is None:
        from claimlens.forensics.detectors.copy_move import CopyMove

        return CopyMove
    return detector_at(rev, "copy_move", "CopyMove")


def photos() -> list[tuple[str, np.ndarray]]:
    out = []
    for p in pristine(data_dir(), half=1):
        out.append((p.name, np.asarray(Image.open(p).convert("RGB"))))
    for n in SKIMAGE_PHOTOS:
        a = getattr(skimage_data, n)()
        out.append((f"skimage:{n}", np.dstack([a] * 3) if a.ndim == 2 else a[..., :3]))
    return out


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=quality)
    return b.getvalue()


def most_textured_centre(gray: np.ndarray, size: int) -> tuple[float, float]:
    """Centre (x, y) of the size x size window with the most gradient energy."""
    g = gray.astype(np.float32)
    energy = cv2.Sobel(g, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(g, cv2.CV_32F, 0, 1) ** 2
    energy = np.sqrt(energy)
    energy[(g < 8) | (g > 247)] = 0  # clipped pixels carry no texture
    box = cv2.blur(energy, (size, size))
    h, w = g.shape
    half = size // 2 + 1
    box[:half], box[h - half :], box[:, :half], box[:, w - half :] = 0, 0, 0, 0
    y, x = np.unravel_index(int(np.argmax(box)), box.shape)
    return float(x), float(y)


def make_clone(rgb: np.ndarray, rotation: float, scale: float, mirrored: bool, rng, elliptical: bool):
    """Paste a transformed copy of the most textured region elsewhere.

    Returns (photo, target mask, source mask, 2x3 source -> target transform) or None when there is no room."""
    h, w = rgb.shape[:2]
    size = int(round(rng.uniform(0.10, 0.25) * min(h, w)))
    if size < 8:
        return None
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cx, cy = most_textured_centre(gray, size)
    region = np.zeros((h, w), np.float32)
    if elliptical:
        minor = size / 2 * rng.uniform(0.6, 1.0)
        cv2.ellipse(region, (int(cx), int(cy)), (size // 2, int(minor)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    else:
        region[int(cy - size / 2) : int(cy + size / 2), int(cx - size / 2) : int(cx + size / 2)] = 1.0
    reach = size * scale / np.sqrt(2) + 2  # radius of the transformed region
    for _ in range(300):
        tx, ty = rng.uniform(reach, w - reach), rng.uniform(reach, h - reach)
        if np.hypot(tx - cx, ty - cy) >= 1.1 * (size / np.sqrt(2) + reach):
            break
    else:
        return None
    a = np.deg2rad(rotation)
    linear = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    if mirrored:
        linear = linear @ np.diag([-1.0, 1.0])
    M = np.hstack([linear, (np.array([tx, ty]) - linear @ np.array([cx, cy]))[:, None]])
    moved = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.warpAffine(region, M, (w, h), flags=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)[..., None]
    out = np.clip(rgb * (1 - alpha) + moved * alpha, 0, 255).astype(np.uint8)
    return out, alpha[..., 0] > 0.5, region > 0.5, M


def located(result, target: np.ndarray, source: np.ndarray) -> bool:
    if result.map is None:
        return False
    marked = result.map >= 0.5
    return all((marked & m).sum() >= m.sum() / 3 for m in (target, source))


def timing_2mp(detectors: list, rgb: np.ndarray, repeats: int = 7) -> list[float]:
    """Median ms of one run of each detector on the photo resized to ~2 MP (decoding not counted). The
    detectors take turns, so that a shared, busy machine slows them alike."""
    h, w = rgb.shape[:2]
    s = (2_000_000 / (h * w)) ** 0.5
    big = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_CUBIC)
    data = jpeg(big, 90)
    times = [[] for _ in detectors]
    for _ in range(repeats):
        for d, out in zip(detectors, times):
            ev = Evidence.from_bytes(data)
            ev.gray  # shared by every detector; not this one's cost
            t0 = time.perf_counter()
            d.run(ev)
            out.append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


def report(hits: dict, clean: list, label: str, n_photos: int, skipped: int, seconds: float) -> None:
    def rate(select) -> str:
        v = [x for k, xs in hits.items() if select(k) for x in xs]
        if not v:
            return "   -     "
        return f"{np.mean([d for d, _ in v]):4.0%} {np.mean([l for _, l in v]):4.0%}"

    print(f"copy_move {label}: {n_photos} photos, "
          f"{sum(len(v) for v in hits.values())} clones ({skipped} skipped: no room), "
          f"{seconds:.0f} s")
    print("detected (score >= 0.3) / located, per rotation (rows) and scale (columns)")
    print("rotation " + "".join(f"  scale {s:<5}" for s in SCALES) + "  all")
    for rot in ROTATIONS:
        print(f"{rot:>6}   " + "".join(f"  {rate(lambda k, rot=rot, s=s: k[0] == rot and k[1] == s)}" for s in SCALES)
              + f"  {rate(lambda k, rot=rot: k[0] == rot)}")
    print(f"{'all':>6}   " + "".join(f"  {rate(lambda k, s=s: k[1] == s)}" for s in SCALES)
          + f"  {rate(lambda k: True)}")
    print(f"not mirrored {rate(lambda k: not k[2])}   mirrored {rate(lambda k: k[2])}")
    print(f"JPEG 75 {rate(lambda k: k[3] == 75)}   JPEG 90 {rate(lambda k: k[3] == 90)}")
    print(f"photos short side >= 400 px {rate(lambda k: k[4])}   smaller {rate(lambda k: not k[4])}")
    for q in QUALITIES:
        sc = [s for _, qq, s in clean if qq == q]
        print(f"false alarms on clean photos, JPEG {q}: {np.mean(np.array(sc) >= DETECTED):.1%} "
              f"({sum(s >= DETECTED for s in sc)}/{len(sc)}), max score {max(sc):.2f}")
    flagged = [f"{n}@{q}:{s:.2f}" for n, q, s in clean if s >= DETECTED]
    if flagged:
        print("  flagged: " + ", ".join(flagged))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", help="git revision of copy_move.py to measure instead of the working tree")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (quick look)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-against", metavar="REV", help="also time copy_move.py from this git revision (turn about)")
    ap.add_argument("--timing-only", action="store_true", help="skip the clones, only time at 2 MP")
    args = ap.parse_args(argv)
    detector = detector_class(args.rev)()
    rng = np.random.default_rng(args.seed)
    items = [] if args.timing_only else photos()
    if args.limit:
        items = items[: args.limit]
    hits: dict[tuple, list[tuple[bool, bool]]] = {}
    clean: list[tuple[str, int, float]] = []
    skipped = 0
    t_start = time.perf_counter()
    for pi, (name, rgb) in enumerate(items):
        for q in QUALITIES:
            r = run_detector(detector, Evidence.from_bytes(jpeg(rgb, q)))
            clean.append((name, q, r.score or 0.0))
        for rot in ROTATIONS:
            for sc in SCALES:
                for mir in (False, True):
                    for q in QUALITIES:
                        made = make_clone(rgb, rot, sc, mir, rng, elliptical=bool(rng.integers(2)))
                        if made is None:
                            skipped += 1
                            continue
                        img, tgt, src, _ = made
                        r = run_detector(detector, Evidence.from_bytes(jpeg(img, q)))
                        key = (rot, sc, mir, q, min(rgb.shape[:2]) >= 400)
                        hits.setdefault(key, []).append(((r.score or 0.0) >= DETECTED, located(r, tgt, src)))
        print(f"  {pi + 1}/{len(items)} {name}", file=sys.stderr, flush=True)

    if items:
        report(hits, clean, args.rev or "working tree", len(items), skipped, time.perf_counter() - t_start)
    timed = [detector] + ([detector_class(args.time_against)()] if args.time_against else [])
    labels = [args.rev or "working tree"] + ([args.time_against] if args.time_against else [])
    for name in ("astronaut", "rocket"):
        ms = timing_2mp(timed, getattr(skimage_data, name)())
        print(f"ms per image at 2 MP, {name} (median of 7 runs): "
              + ", ".join(f"{label} {m:.0f}" for label, m in zip(labels, ms)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
