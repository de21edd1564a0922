"""ai_spectral: traces of image generators, found without downloaded weights.

Every photo is looked at the same way the classifier was trained: square crops of CROP
pixels at native resolution, each re-encoded as JPEG quality 90 (so that file format,
size and earlier compression say as little as possible), then hand-made features:

* spectrum of the high-pass residual: azimuthal average (shape of the fall-off) and the
  periodic peaks that 2x/4x/8x upsampling leaves at N/2, N/4, N/8;
* residual statistics: neighbour correlation, kurtosis, the noise left in flat areas;
* cross-channel residual correlations (camera demosaicing ties the channels together).

Saturation statistics were tried and left out: they separate our generated examples
(colourful renders) from real photos by content, not by how the pixels were made.

A logistic regression over these (weights in models/ai_spectral.json, written by
`python -m bench.train_ai_spectral`) gives a probability per crop; the photo's score is
the mean over up to MAX_CROPS crops.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..base import DetectorResult, Detector, register

CROP = 256
JPEG_QUALITY = 90
MAX_CROPS = 5
WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "ai_spectral.json"
N_RADIAL = 16

_yy, _xx = np.mgrid[0:CROP, 0:CROP]
_fy = np.minimum(_yy, CROP - _yy) / CROP
_fx = np.minimum(_xx, CROP - _xx) / CROP
_RADIUS = np.sqrt(_fx**2 + _fy**2)
_RADIAL_EDGES = np.linspace(0.02, 0.5, N_RADIAL + 1)
_RADIAL_MASKS = [(_RADIUS >= a) & (_RADIUS < b) for a, b in zip(_RADIAL_EDGES[:-1], _RADIAL_EDGES[1:])]
_HANN = np.outer(np.hanning(CROP), np.hanning(CROP)).astype(np.float32)


def reencode(crop: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """The crop after one JPEG round trip at `quality` (what training used for every image)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(crop)).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _residual(x: np.ndarray) -> np.ndarray:
    """High-pass residual: the pixel minus the mean of its 4 neighbours."""
    k = np.array([[0, -0.25, 0], [-0.25, 1, -0.25], [0, -0.25, 0]], np.float32)
    return cv2.filter2D(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)


def _peak_ratio(logp: np.ndarray, period: int) -> float:
    """Mean log power at the multiples of N/period (odd ones) minus their local median."""
    step = CROP // period
    vals = []
    for k in range(1, period):
        if period > 2 and k % 2 == 0:
            continue  # even multiples belong to the longer periods
        f = k * step
        for y, x in ((0, f), (f, 0), (f, f), (f, CROP - f)):
            ys = [(y + d) % CROP for d in range(-3, 4)]
            xs = [(x + d) % CROP for d in range(-3, 4)]
            patch = logp[np.ix_(ys, xs)].copy()
            centre = patch[3, 3]
            patch[2:5, 2:5] = np.nan
            vals.append(centre - np.nanmedian(patch))
    return float(np.mean(vals))


FEATURE_NAMES = (
    [f"radial_{i}" for i in range(N_RADIAL)]
    + ["peak_n2", "peak_n4", "peak_n8"]
    + ["res_lag1", "res_lag2", "res_kurtosis", "flat_noise", "res_level"]
    + ["xcorr_rg", "xcorr_gb", "xcorr_rb", "chroma_res"]
)


def features(crop: np.ndarray) -> np.ndarray:
    """Feature vector of one CROPxCROP RGB uint8 crop (already re-encoded)."""
    rgb = crop.astype(np.float32)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    r = _residual(gray)
    # Spectrum of the residual.
    p = np.abs(np.fft.fft2((r - r.mean()) * _HANN)) ** 2 + 1e-6
    logp = np.log(p)
    overall = p[_RADIUS >= _RADIAL_EDGES[0]].mean()
    radial = [float(np.log(p[m].mean() / overall)) for m in _RADIAL_MASKS]
    peaks = [_peak_ratio(logp, 2), _peak_ratio(logp, 4), _peak_ratio(logp, 8)]
    # Residual statistics.
    rc = r - r.mean()
    var = float((rc**2).mean()) + 1e-6
    lag1 = float(((rc[:, 1:] * rc[:, :-1]).mean() + (rc[1:] * rc[:-1]).mean()) / (2 * var))
    lag2 = float(((rc[:, 2:] * rc[:, :-2]).mean() + (rc[2:] * rc[:-2]).mean()) / (2 * var))
    kurt = float(np.log(((rc**4).mean() + 1e-6) / var**2))
    # Noise in the flattest 8x8 blocks relative to all blocks.
    blk = (rc**2).reshape(CROP // 8, 8, CROP // 8, 8).mean(axis=(1, 3))
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    gb = (gx**2 + gy**2).reshape(CROP // 8, 8, CROP // 8, 8).mean(axis=(1, 3))
    flat = blk.ravel()[np.argsort(gb.ravel())[: max(4, blk.size // 10)]]
    flat_noise = float(np.log((flat.mean() + 1e-4) / var))
    level = float(np.log(var))
    # Cross-channel residual correlations.
    res = [_residual(rgb[:, :, c]) for c in range(3)]
    res = [x - x.mean() for x in res]

    def corr(a, b):
        return float((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean() + 1e-9))

    xc = [corr(res[0], res[1]), corr(res[1], res[2]), corr(res[0], res[2])]
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    chroma = float(np.log((_residual(ycc[:, :, 1]) ** 2).mean() + (_residual(ycc[:, :, 2]) ** 2).mean() + 1e-4) - level)
    return np.array(radial + peaks + [lag1, lag2, kurt, flat_noise, level] + xc + [chroma], np.float64)


def crop_positions(h: int, w: int, n: int, rng: np.random.Generator | None = None) -> list[tuple[int, int]]:
    """Top-left corners of candidate CROP squares, best first: centre, quadrant centres, then a
    grid; or n random ones when rng is given."""
    if h < CROP or w < CROP:
        return []
    if rng is not None:
        return [(int(rng.integers(0, h - CROP + 1)), int(rng.integers(0, w - CROP + 1))) for _ in range(n)]
    cands = [(0.5, 0.5), (0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)]
    cands += [(fy, fx) for fy in (0.1, 0.5, 0.9) for fx in (0.1, 0.5, 0.9)]
    out = []
    for fy, fx in cands:
        y = int(np.clip(round(fy * h - CROP / 2), 0, h - CROP))
        x = int(np.clip(round(fx * w - CROP / 2), 0, w - CROP))
        if (y, x) not in out:
            out.append((y, x))
    return out


def textured(crop: np.ndarray) -> bool:
    """False for nearly flat crops (studio backgrounds, sky): they carry no generator traces."""
    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(g.std()) > 4.0 and float(np.abs(_residual(g.astype(np.float32))).mean()) > 0.3


def photo_features(rgb: np.ndarray, n: int = MAX_CROPS, rng=None) -> np.ndarray:
    """Features of up to n textured, re-encoded crops of a photo (one row each)."""
    rows = []
    tries = crop_positions(rgb.shape[0], rgb.shape[1], 4 * n if rng is not None else n, rng)
    for y, x in tries:
        crop = rgb[y : y + CROP, x : x + CROP]
        if not textured(crop):
            continue
        rows.append(features(reencode(crop)))
        if len(rows) >= n:
            break
    return np.array(rows).reshape(len(rows), len(FEATURE_NAMES))


@lru_cache(maxsize=4)
def load_weights(path: str = str(WEIGHTS)) -> dict:
    with open(path, encoding="utf-8") as f:
        w = json.load(f)
    if list(w.get("features", [])) != list(FEATURE_NAMES):
        raise ValueError(f"{Path(path).name} was trained on other features; rerun python -m bench.train_ai_spectral")
    for k in ("mean", "std", "coef"):
        w[k] = np.asarray(w[k], np.float64)
    return w


def crop_probabilities(feats: np.ndarray, w: dict) -> np.ndarray:
    z = ((feats - w["mean"]) / w["std"]) @ w["coef"] + w["intercept"]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@register
class AiSpectral(Detector):
    name = "ai_spectral"
    # A weak cue on its own: trained on few generated images, so it only nudges the risk.
    weight = 0.5

    def run(self, evidence) -> DetectorResult:
        rgb = evidence.rgb
        if min(rgb.shape[:2]) < CROP:
            return self.not_applicable(f"photo smaller than {CROP}x{CROP} pixels")
        try:
            w = load_weights()
        except (OSError, ValueError) as exc:
            return self.not_applicable(f"ai_spectral weights unavailable: {exc}")
        feats = photo_features(rgb)
        if len(feats) == 0:
            return self.not_applicable("no textured region to measure (the photo is nearly flat)")
        probs = crop_probabilities(feats, w)
        prob = float(probs.mean())
        thr = float(w.get("threshold", 0.5))
        # Evidence only above the threshold (set at ~3 % false alarms on real training photos).
        score = max(0.0, (prob - thr) / (1.0 - thr)) if thr < 1 else 0.0
        findings = []
        if prob >= thr:
            sev = "medium" if prob >= float(w.get("threshold_high", 0.9)) else "low"
            findings.append(
                self.finding(
                    "ai_generation_traces",
                    sev,
                    f"pixel statistics resemble AI-generated images (probability {prob:.2f})",
                    probability=round(prob, 4),
                    crops=len(probs),
                )
            )
        return DetectorResult(
            self.name,
            findings=findings,
            score=score,
            extra={"probability": round(prob, 4), "crop_probabilities": [round(float(p), 4) for p in probs], "threshold": thr},
        )
