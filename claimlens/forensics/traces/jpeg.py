"""JPEG compression traces: quality from tables, grid offset, quantisation lattice, double quantisation, ghosts.

All DCT work is on the 8x8 luma blocks of the decoded pixels (orthonormal DCT-II, as JPEG uses).
Quantisation tables from Pillow are in natural (row-major) order.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .common import block_reduce, robust_z

STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)

# Low/mid AC frequencies in zigzag order (row*8+col): the ones with enough non-zero coefficients.
ZIGZAG_AC = [1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40]

# DC and the lower AC frequencies (row + col <= 5): nearly all the recompression error of a photo, and
# its ghost, at less than half the work of all 64
GHOST_FREQS = [r * 8 + c for r in range(8) for c in range(8) if r + c <= 5]

_k = np.arange(8)
DCT8 = np.sqrt(2.0 / 8) * np.cos(np.pi * (2 * _k[None, :] + 1) * _k[:, None] / 16.0)
DCT8[0] /= np.sqrt(2.0)
# vec(D B D^T) = vec(B) @ kron(D, D)^T for row-major vectors
DCT64 = np.kron(DCT8, DCT8).T.astype(np.float32)


def ijg_table(quality: int) -> np.ndarray:
    q = max(1, min(100, int(quality)))
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return np.clip(np.floor((STD_LUMA * scale + 50.0) / 100.0), 1, 255)


def estimate_quality(table) -> tuple[int, float]:
    """Closest IJG quality for a luma table; returns (quality, mean absolute table difference)."""
    t = np.asarray(table, dtype=np.float64)[:64]
    errs = [float(np.abs(ijg_table(q) - t).mean()) for q in range(1, 101)]
    best = int(np.argmin(errs))
    return best + 1, errs[best]


def block_dct(gray: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """8x8 block DCT of gray (uint8 or float) on the grid starting at offset (y, x): (hb, wb, 64)."""
    oy, ox = offset
    g = gray[oy:, ox:].astype(np.float32) - 128.0
    hb, wb = g.shape[0] // 8, g.shape[1] // 8
    if hb == 0 or wb == 0:
        return np.zeros((hb, wb, 64), np.float32)
    b = g[: hb * 8, : wb * 8].reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
    return (b @ DCT64).reshape(hb, wb, 64)


def grid_offset(gray: np.ndarray) -> tuple[tuple[int, int], float]:
    """Blocking-grid offset (y, x) from the 8-periodic jumps across block borders, and its strength.

    Strength ~0 for photos never JPEG-compressed (or at very high quality), > 0.1 for visible blocking.
    """
    h, w = gray.shape
    cy, cx = max(0, (h - 1024) // 16 * 8), max(0, (w - 1024) // 16 * 8)  # central crop, grid-preserving
    g = gray[cy : cy + 1024, cx : cx + 1024].astype(np.float32)
    strength = []
    offs = []
    for axis in (0, 1):
        d = np.abs(np.diff(g, axis=axis))
        d = np.minimum(d, 12.0)  # strong edges say nothing about the grid
        prof = d.mean(axis=1 - axis)
        n = len(prof) // 8 * 8
        if n < 16:
            return (0, 0), 0.0
        per = prof[:n].reshape(-1, 8).mean(axis=0)
        b = int(np.argmax(per))
        rest = np.delete(per, b)
        strength.append(float((per[b] - np.median(rest)) / (np.median(rest) + 1e-6)))
        offs.append((b + 1) % 8)
    return (offs[0], offs[1]), float(min(strength))


def estimate_steps(coefs: np.ndarray, freqs=ZIGZAG_AC, qmax: int = 64, min_count: int = 40) -> dict[int, float]:
    """Quantisation step per frequency from the lattice of decoded DCT coefficients (0 = none found).

    For candidate q, the lattice score is mean cos(2 pi c / q) over coefficients away from zero; the
    largest q scoring above 0.6 is the step (its divisors also score high, its multiples do not).
    """
    out = {}
    flat = coefs.reshape(-1, 64)
    rng = np.random.default_rng(0)
    for k in freqs:
        c = flat[:, k]
        c = c[np.abs(c) > 1.2]
        if c.size > 6000:  # a sample is plenty to find a lattice
            c = rng.choice(c, 6000, replace=False)
        best = 0
        for q in range(2, qmax + 1):
            sel = c[np.abs(c) > 0.6 * q]
            if sel.size < min_count:
                break
            if np.cos(2 * np.pi * sel / q).mean() > 0.6:
                best = q
        out[k] = best
    return out


def lattice_llr(coefs: np.ndarray, steps: dict[int, float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-block log-likelihood ratio 'off the JPEG lattice' vs 'on it', and the evidence count.

    On the lattice the residual c - q*round(c/q) is ~N(0, sigma) (pixel rounding); off it, uniform.
    """
    hb, wb, _ = coefs.shape
    llr = np.zeros((hb, wb), np.float64)
    cnt = np.zeros((hb, wb), np.float64)
    use = [(k, q) for k, q in steps.items() if q >= 3]
    if not use:
        return llr, cnt, 0.0
    res = []
    for k, q in use:
        c = coefs[:, :, k]
        res.append((c - q * np.round(c / q))[np.abs(c) > 0.6 * q])
    allres = np.concatenate(res) if res else np.zeros(0)
    sigma = float(np.clip(1.4826 * np.median(np.abs(allres)) if allres.size else 0.5, 0.3, 3.0))
    for k, q in use:
        c = coefs[:, :, k]
        e = c - q * np.round(c / q)
        informative = np.abs(c) > 0.6 * q
        # log(1/q) - log N(e; 0, sigma)
        l = -np.log(q) + 0.5 * (e / sigma) ** 2 + np.log(sigma * np.sqrt(2 * np.pi))
        l = np.clip(l, -3.0, 3.0)
        llr += np.where(informative, l, 0.0)
        cnt += informative
    return llr, cnt, sigma


@lru_cache(maxsize=4096)
def _dq_counts(q1: int, q2: int, R: int) -> np.ndarray:
    """n(v): how many multiples of q1 land in bin v after requantisation by q2, for v in [-R, R] (read-only)."""
    m = np.arange(-(R + 2) * q2 // max(q1, 1) - 2, (R + 2) * q2 // max(q1, 1) + 3)
    v = np.round(m * q1 / q2).astype(int)
    v = v[(v >= -R) & (v <= R)]
    out = np.bincount(v + R, minlength=2 * R + 1).astype(np.float64)
    out.flags.writeable = False
    return out


def double_quant_llr(coefs: np.ndarray, table, freqs=ZIGZAG_AC, R: int = 40) -> tuple[np.ndarray, np.ndarray, list]:
    """Aligned double JPEG (Bianchi-style): per-block LLR 'single compressed' vs 'double compressed'.

    For each frequency the histogram of quantised values v is fitted as n_q1(v) * smooth(v); where a
    primary step q1 explains the histogram clearly better than a smooth one, every coefficient gets
    log(P_single(v) / P_double(v)). Summed per block.
    """
    hb, wb, _ = coefs.shape
    llr = np.zeros((hb, wb), np.float64)
    cnt = np.zeros((hb, wb), np.float64)
    used = []
    t = np.asarray(table, dtype=np.float64)[:64]
    for k in freqs:
        q2 = int(t[k])
        if q2 < 2:
            continue
        v = np.clip(np.round(coefs[:, :, k] / q2).astype(int), -R, R)
        h = np.bincount(v.ravel() + R, minlength=2 * R + 1).astype(np.float64)
        h[R] = 0.0
        ntot = h.sum()
        if ntot < 200:
            continue
        # symmetric smooth envelope over |v|
        mag = h[R + 1 :] + h[:R][::-1]
        best = (0.0, None, None)
        p0s: dict[float, np.ndarray] = {}  # the smooth model depends on q1 only through the blur width
        for q1 in range(1, 3 * q2 + 1):
            if q1 == q2:
                continue
            n = _dq_counts(q1, q2, R).copy()
            n[R] = 0
            if np.all(n[R + 1 :] == n[R + 1]):
                continue
            sig = max(1.0, q1 / q2)
            nm = n[R + 1 :] + n[:R][::-1]
            env = cv2.GaussianBlur((mag / np.maximum(nm, 0.5)).reshape(1, -1).astype(np.float64), (0, 0), sig)[0]
            env = np.maximum(env, 1e-3)
            p1 = np.concatenate([(n[:R][::-1] * env)[::-1], [0.0], n[R + 1 :] * env])
            p0 = p0s.get(sig)
            if p0 is None:
                p0e = cv2.GaussianBlur(mag.reshape(1, -1).astype(np.float64), (0, 0), sig)[0]
                p0 = np.concatenate([p0e[::-1], [0.0], p0e])
                p0 = p0s[sig] = p0 / max(p0.sum(), 1e-9) + 1e-6
            # mixture: a share of coefficients is off-pattern (edited regions, rounding noise)
            p1 = 0.85 * p1 / max(p1.sum(), 1e-9) + 0.15 * p0
            gain = float((h * (np.log(p1) - np.log(p0))).sum() / ntot)
            if gain > best[0]:
                best = (gain, q1, np.log(p0) - np.log(p1))
        gain, q1, l = best
        if q1 is None or gain < 0.04:
            continue
        used.append({"freq": k, "q2": q2, "q1": q1, "gain": round(gain, 3)})
        lv = np.clip(l[v + R], -2.0, 3.0)
        nz = v != 0
        llr += np.where(nz, lv, 0.0)
        cnt += nz
    return llr, cnt, used


def jpeg_ghost(coefs: np.ndarray, qualities=(50, 60, 70, 80, 90), group: int = 2) -> np.ndarray:
    """Farid's JPEG ghosts from 8x8 block DCT coefficients: recompression error curve over qualities.

    Re-saving at quality q rounds each coefficient to the IJG luma table's step; with an orthonormal DCT
    the pixel error equals the coefficient error, so no encoder runs. Returns (hb, wb, nq) mean squared
    error per group x group blocks of 8x8 (16 px for group 2).
    """
    hb, wb = coefs.shape[0] // group, coefs.shape[1] // group
    c = np.ascontiguousarray(coefs[: hb * group, : wb * group].reshape(-1, 64)[:, GHOST_FREQS], dtype=np.float32)
    e = np.empty_like(c)
    curves = []
    for q in qualities:
        t = ijg_table(q)[GHOST_FREQS].astype(np.float32)
        np.multiply(c, 1.0 / t, out=e)
        np.round(e, out=e)
        e *= t
        np.subtract(c, e, out=e)
        e *= e
        m = e.sum(axis=1).reshape(hb, group, wb, group) / 64.0
        curves.append(m.mean(axis=(1, 3)))
    return np.stack(curves, axis=-1) if curves else np.zeros((hb, wb, 0), np.float32)


def ghost_qualities(file_quality: int | None) -> tuple[int, ...]:
    """Qualities to look for a ghost at: an earlier compression below the file's own quality."""
    top = 95 if file_quality is None else min(95, int(file_quality) - 4)
    qs = tuple(q for q in range(50, 100, 5) if q <= top)
    return qs if len(qs) >= 2 else ()


def ghost_z(curves: np.ndarray, floor: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block and quality, how much deeper the block's ghost dip is than in the rest of the photo.

    Each block's curve is divided by its own mean over qualities (texture cancels), then compared per
    quality with the photo's distribution (robust z, positive = lower error than the rest). Returns
    (z (hb, wb, nq), best z per block, valid blocks); flat blocks whose error is near zero are not valid.
    """
    mean = curves.mean(axis=-1, keepdims=True)
    valid = mean[..., 0] > floor
    r = np.log((curves + 0.05 * floor) / (mean + 0.05 * floor))
    z = np.zeros(curves.shape, np.float32)
    if valid.sum() < 8:
        return z, z[..., 0] if z.size else np.zeros(curves.shape[:2], np.float32), valid
    for k in range(curves.shape[-1]):
        v = r[..., k][valid]
        med = np.median(v)
        mad = max(1.4826 * float(np.median(np.abs(v - med))), 0.02)
        z[..., k] = np.where(valid, (med - r[..., k]) / mad, 0.0)
    return z, z.max(axis=-1), valid


def ela(gray: np.ndarray, quality: int = 90, block: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Error level analysis on luma: mean |resaved - original| per block, and a texture-normalised z map."""
    ok, enc = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, quality])
    r = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    diff = cv2.absdiff(r, gray).astype(np.float32)
    e = block_reduce(diff, block)
    g = gray.astype(np.float32)
    tex = block_reduce(np.abs(cv2.Laplacian(g, cv2.CV_32F)), block)
    # error level grows with texture: compare blocks by their ratio to texture in log space
    valid = tex > 1.0
    ratio = np.log((e + 0.05) / (tex + 1.0))
    return e, robust_z(ratio, valid)
