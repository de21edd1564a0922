"""local_edit: a small learned model of painted, cloned or regenerated regions.

Per block of the photo (16 or 32 pixels at a working resolution of at most 0.6 MP) the detector measures
noise-residual statistics (several high-pass filters, Haar HH median, kurtosis, the residual at half
resolution, the spread of the noise over 8x8 sub-blocks), JPEG 8x8 blockiness at the stored grid and at
shifted grids, colour statistics (saturation, chroma noise, the correlation of the residuals across
channels), gradient sharpness and thin dark / light strokes (morphological black-hat / top-hat). Every
statistic also enters as its contrast with the photo's typical textured block (robust z; a product render's
flat background is not the reference) and with the block's neighbourhood, since an edit is a local anomaly
relative to the rest of the photo. A one-hidden-layer MLP (weights in models/local_edit.npz, written by
`python -m bench.train_local_edit`) turns these into a per-block edit logit; it is fitted on block labels
and then on whole photos (edited or not) through the image statistic below.

Score: the image statistic is a soft maximum (log-mean-exp, sharpness LSE_R) of the block logits, scaled
linearly so that held-out clean training photos give 0 at their median and 0.5 (the medium finding) at their
99th percentile.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..base import Detector, DetectorResult, register
from ..traces.common import downscale

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "local_edit.npz"
WORK_PIXELS = 600_000
MIN_SIDE = 96
MIN_BLOCKS = 24
EPS = 1e-3
TEXTURED = 3.0  # mean gradient magnitude of a block that counts as textured for the photo's reference
MAD_FLOOR = 0.1  # keeps robust z finite where the photo's blocks are all alike
LSE_R = 4.0

_HP = {
    "h2": np.array([[1, -2, 1]], np.float32),
    "v2": np.array([[1], [-2], [1]], np.float32),
    "sq": np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], np.float32) / 4.0,
    "kv": np.array([[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2],
                    [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]], np.float32) / 12.0,
}


def block_size(h: int, w: int) -> int:
    return 32 if min(h, w) >= 400 else 16


def _bmean(a: np.ndarray, hb: int, wb: int, b: int) -> np.ndarray:
    """Exact means of b x b blocks (ragged border dropped)."""
    return cv2.resize(np.ascontiguousarray(a[: hb * b, : wb * b], dtype=np.float32), (wb, hb),
                      interpolation=cv2.INTER_AREA)


def _grid_energy(gray_full: np.ndarray, hb: int, wb: int) -> list[np.ndarray]:
    """JPEG grid traces at the stored resolution, reduced to the block grid.

    Per direction: log of (energy of pixel differences across the 8x8 grid at phase 7 / mean over phases)
    and log of (the strongest other phase / mean): aligned and shifted blockiness.
    """
    g = gray_full.astype(np.float32)
    out = []
    for axis in (1, 0):
        d = np.abs(np.diff(g, axis=axis))
        if axis == 0:
            d = d.T
        n8 = d.shape[1] // 8
        if n8 < 2:
            out += [np.zeros((hb, wb), np.float32)] * 2
            continue
        ph = np.ascontiguousarray(d[:, : n8 * 8].reshape(d.shape[0], n8, 8))
        # the eight phases as channels of a (rows, n8) map, reduced to the block grid in one call
        if axis == 0:
            ph = np.ascontiguousarray(ph.transpose(1, 0, 2))
        maps = np.concatenate([cv2.resize(np.ascontiguousarray(ph[..., k : k + 4]), (wb, hb),
                                          interpolation=cv2.INTER_AREA) for k in (0, 4)], axis=2)
        maps = maps.transpose(2, 0, 1)
        mean = maps.mean(0) + 0.5
        other = np.delete(maps, 7, axis=0).max(0)
        out += [np.log((maps[7] + 0.5) / mean), np.log((other + 0.5) / mean)]
    return out


FEATURE_NAMES: list[str] = []


def block_features(rgb_full: np.ndarray, max_pixels: int = WORK_PIXELS):
    """Per-block feature tensor (hb, wb, F), the working scale and the block size; None when too small."""
    h0, w0 = rgb_full.shape[:2]
    rgb, scale = downscale(rgb_full, max_pixels)
    h, w = rgb.shape[:2]
    b = block_size(h, w)
    hb, wb = h // b, w // b
    if hb < 3 or wb < 3 or hb * wb < MIN_BLOCKS:
        return None
    f = rgb[: hb * b, : wb * b].astype(np.float32)
    g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
    raw: dict[str, np.ndarray] = {}
    # noise residuals
    for name, k in _HP.items():
        r = cv2.filter2D(g, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)
        r2 = r * r
        m1 = _bmean(np.abs(r), hb, wb, b)
        m2 = _bmean(r2, hb, wb, b)
        m4 = _bmean(r2 * r2, hb, wb, b)
        raw[f"{name}_l1"] = np.log(m1 + EPS)
        raw[f"{name}_kurt"] = np.log((m4 + EPS) / (m2 * m2 + EPS))
    hh = np.abs(g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    b2 = b // 2
    hv = hh.reshape(hb, b2, wb, b2).transpose(0, 2, 1, 3).reshape(hb, wb, -1)
    raw["hh_mad"] = np.log(np.median(hv, axis=2) / 0.6745 + 0.1)
    raw["hh_low"] = np.log(np.percentile(hv, 25, axis=2) + 0.1)
    # gradients
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    gm = np.sqrt(gx * gx + gy * gy)
    mg = _bmean(gm, hb, wb, b)
    raw["grad"] = np.log(mg + 1.0)
    raw["sharp"] = np.log((_bmean(gm * gm, hb, wb, b) + 1.0) / (mg * mg + 1.0))
    # colour
    chans = [f[..., i] for i in range(3)]
    mx = np.maximum(np.maximum(chans[0], chans[1]), chans[2])
    mn = np.minimum(np.minimum(chans[0], chans[1]), chans[2])
    raw["sat"] = _bmean((mx - mn) / (mx + 1.0), hb, wb, b)
    ycc = cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb)
    sq = _HP["sq"]
    for i, name in ((1, "cr"), (2, "cb")):
        r = cv2.filter2D(ycc[..., i], cv2.CV_32F, sq, borderType=cv2.BORDER_REFLECT)
        raw[f"{name}_l1"] = np.log(_bmean(np.abs(r), hb, wb, b) + EPS)
    res = [cv2.filter2D(f[..., i], cv2.CV_32F, sq, borderType=cv2.BORDER_REFLECT) for i in range(3)]
    e = [_bmean(r * r, hb, wb, b) for r in res]
    for (i, j), name in (((0, 1), "rg"), ((1, 2), "gb"), ((0, 2), "rb")):
        c = _bmean(res[i] * res[j], hb, wb, b) / np.sqrt(e[i] * e[j] + 1.0)
        raw[f"corr_{name}"] = c
    # noise over 8x8 sub-blocks, the residual at half resolution, thin strokes
    r = cv2.filter2D(g, cv2.CV_32F, sq, borderType=cv2.BORDER_REFLECT)
    s = b // 8
    e8 = cv2.resize(r * r, (wb * s, hb * s), interpolation=cv2.INTER_AREA)
    e8 = e8.reshape(hb, s, wb, s).transpose(0, 2, 1, 3).reshape(hb, wb, -1)
    raw["sub_min"] = np.log(e8.min(2) + 0.05)
    raw["sub_spread"] = np.log(e8.max(2) + 0.05) - raw["sub_min"]
    r2 = cv2.filter2D(cv2.pyrDown(g), cv2.CV_32F, sq, borderType=cv2.BORDER_REFLECT)
    raw["ms_l1"] = np.log(cv2.resize(np.abs(r2), (wb, hb), interpolation=cv2.INTER_AREA) + EPS)
    raw["ms_ratio"] = raw["sq_l1"] - raw["ms_l1"]
    k5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    raw["blackhat"] = np.log(_bmean(cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, k5), hb, wb, b) + 0.1)
    raw["tophat"] = np.log(_bmean(cv2.morphologyEx(g, cv2.MORPH_TOPHAT, k5), hb, wb, b) + 0.1)
    lap = np.abs(cv2.Laplacian(cv2.GaussianBlur(g, (0, 0), 1.0), cv2.CV_32F))
    raw["lap_max"] = np.log(cv2.resize(lap, (wb * s, hb * s), interpolation=cv2.INTER_AREA)
                            .reshape(hb, s, wb, s).max((1, 3)) + 0.1)
    raw["bright"] = _bmean(g, hb, wb, b) / 255.0
    raw["clip"] = _bmean(((g >= 250) | (g <= 5)).astype(np.float32), hb, wb, b)
    # JPEG grid at the stored resolution, on the same block grid
    gray_full = cv2.cvtColor(rgb_full, cv2.COLOR_RGB2GRAY)
    ch = int(round(hb * b / scale))
    cw = int(round(wb * b / scale))
    gj = _grid_energy(gray_full[: min(ch, h0), : min(cw, w0)], hb, wb)
    for name, v in zip(("jpg_h_al", "jpg_h_sh", "jpg_v_al", "jpg_v_sh"), gj):
        raw[name] = v
    names = list(raw)
    X = np.stack([raw[k] for k in names], axis=-1).astype(np.float32)
    # contrast with the photo's typical textured block (robust z) and with the neighbourhood
    flat = X.reshape(-1, X.shape[-1])
    tex = flat[raw["grad"].ravel() > np.log(1.0 + TEXTURED)]
    ref = tex if len(tex) >= MIN_BLOCKS else flat
    med = np.median(ref, axis=0)
    mad = 1.4826 * np.median(np.abs(ref - med), axis=0) + MAD_FLOOR
    Z = (X - med) / mad
    Z = np.clip(Z, -8, 8)
    nb = np.stack([cv2.blur(np.ascontiguousarray(Z[..., i]), (5, 5), borderType=cv2.BORDER_REFLECT)
                   for i in range(Z.shape[-1])], axis=-1)
    L = np.clip(Z - nb, -8, 8)
    if not FEATURE_NAMES:
        FEATURE_NAMES.extend(names + [f"z_{k}" for k in names] + [f"loc_{k}" for k in names])
    feats = np.concatenate([X, Z, L], axis=-1)
    return feats, scale, b


# Model ---------------------------------------------------------------------------------------
def mlp_logits(params: dict, X: np.ndarray) -> np.ndarray:
    """Block logits for rows of X (N, F)."""
    x = (X - params["mu"]) / params["sd"]
    hdn = np.maximum(0.0, x @ params["w1"] + params["b1"])
    return (hdn @ params["w2"] + params["b2"])[:, 0]


def probability(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def mlp_forward(params: dict, X: np.ndarray) -> np.ndarray:
    """Block probabilities for rows of X (N, F)."""
    return probability(mlp_logits(params, X))


def smooth(prob: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(prob.astype(np.float32), (0, 0), 0.8, borderType=cv2.BORDER_REFLECT)


def image_stat(logits: np.ndarray, r: float = LSE_R) -> float:
    """Soft maximum of the block logits: log mean exp(r * z) / r."""
    z = np.asarray(logits, np.float64).ravel()
    m = float(z.max())
    return m + float(np.log(np.mean(np.exp(r * (z - m))))) / r


_PARAMS: dict | None = None


def load_params(path: Path = WEIGHTS) -> dict | None:
    global _PARAMS
    if _PARAMS is None and path.exists():
        with np.load(path) as z:
            _PARAMS = {k: z[k] for k in z.files}
    return _PARAMS


def predict(rgb: np.ndarray, params: dict):
    """(smoothed block probability map, image stat, scale, block) or None when the photo is too small."""
    bf = block_features(rgb)
    if bf is None:
        return None
    feats, scale, b = bf
    hb, wb, nf = feats.shape
    z = mlp_logits(params, feats.reshape(-1, nf))
    ps = smooth(probability(z).reshape(hb, wb))
    return ps, image_stat(z), scale, b


@register
class LocalEdit(Detector):
    name = "local_edit"
    weight = 1.0

    def run(self, evidence) -> DetectorResult:
        params = load_params()
        if params is None:
            return self.not_applicable("local_edit weights missing (run python -m bench.train_local_edit)")
        rgb = evidence.rgb
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            return self.not_applicable(f"photo too small for block statistics ({w}x{h}, needs {MIN_SIDE} px a side)")
        out = predict(rgb, params)
        if out is None:
            return self.not_applicable(f"photo too small for block statistics ({w}x{h})")
        ps, stat, scale, b = out
        if float(np.std(evidence.gray)) < 2.0:
            return DetectorResult(self.name, score=0.0, map=None, reason="flat photo: no texture to compare")
        a, c = float(params["score_a"]), float(params["score_b"])
        score = float(np.clip(a * (stat - c), 0.0, 1.0))
        hb, wb = ps.shape
        m = np.zeros((int(round(h * scale)), int(round(w * scale))), np.float32)
        # the map: how far each block stands above the photo's typical block
        rel = np.clip(2.0 * (ps - np.median(ps)), 0.0, 1.0).astype(np.float32)
        up = cv2.resize(rel, (wb * b, hb * b), interpolation=cv2.INTER_LINEAR)
        m[: up.shape[0], : up.shape[1]] = up[: m.shape[0], : m.shape[1]]
        findings = []
        if score >= float(params["medium"]):
            iy, ix = np.unravel_index(int(np.argmax(ps)), ps.shape)
            region = ps >= max(0.5 * ps[iy, ix], np.median(ps) + 0.5 * (ps[iy, ix] - np.median(ps)))
            n, lab = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
            ys, xs = np.nonzero(lab == lab[iy, ix])
            k = b / scale
            bbox = [int(xs.min() * k), int(ys.min() * k), int((xs.max() - xs.min() + 1) * k),
                    int((ys.max() - ys.min() + 1) * k)]
            # Weak evidence only: at image level this model separates edited from clean photos poorly
            # (held-out AUC about 0.6, see bench.train_local_edit), so it must never raise a verdict alone.
            findings.append(self.finding(
                "locally_edited_region", "low",
                f"A region's noise, compression and colour statistics differ from the rest of the photo, "
                f"as a painted or regenerated patch would (weak signal, confidence {score:.2f})",
                bbox=bbox, score=round(score, 3), area_fraction=round(len(ys) / ps.size, 4)))
        return DetectorResult(self.name, findings=findings, score=score, map=m,
                              extra={"block": b, "stat": round(stat, 4), "evidence": {"stat": round(stat, 4)}})
