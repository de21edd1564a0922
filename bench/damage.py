"""Painting fake damage into a photo and blending it the ways AI image editors leave it.

Every painter takes an RGB float32 image (0..255), a centre (x, y), a size in pixels and a
numpy Generator, draws onto a copy, and returns (painted, footprint) where footprint is the
bool HxW set of pixels the damage itself covers. `edit()` then grows the footprint into the
"brush" region an editor would regenerate and blends it in; that region is the ground truth.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

DAMAGES = ("crack", "shatter", "stain", "scratch", "dent", "tear", "missing_part")
BLENDS = ("seamless_clone", "feather_alpha", "synth_texture", "regenerated_patch")


# Small drawing helpers -------------------------------------------------------------------
def _line_mask(shape, polylines, thickness: int) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    for pts in polylines:
        p = np.round(np.asarray(pts)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(m, [p], False, 255, thickness=max(1, int(thickness)), lineType=cv2.LINE_AA)
    return m.astype(np.float32) / 255.0


def _shade(img: np.ndarray, alpha: np.ndarray, colour) -> np.ndarray:
    """Mix `colour` (RGB or HxWx3) into img with per-pixel weight alpha."""
    a = np.clip(alpha, 0, 1)[..., None]
    return img * (1 - a) + np.asarray(colour, np.float32) * a


def _walk(rng, start, angle, length, step, wiggle):
    pts = [np.asarray(start, np.float64)]
    a = angle
    for _ in range(max(2, int(length / step))):
        a += rng.normal(0, wiggle)
        pts.append(pts[-1] + step * np.array([np.cos(a), np.sin(a)]))
    return np.array(pts), a


def _blob(shape, cx, cy, radius, rng, irregular=0.35, points=14) -> np.ndarray:
    """Irregular closed blob (smoothed random polygon) as a bool mask."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, points))
    rad = radius * (1 + irregular * rng.uniform(-1, 1, points))
    # smooth radii around the circle so the outline is organic, not spiky
    rad = np.convolve(np.r_[rad[-2:], rad, rad[:2]], np.ones(3) / 3, "same")[2:-2]
    pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang) * rng.uniform(0.6, 1.0)], 1)
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 255)
    k = max(3, int(radius * 0.3)) | 1
    m = cv2.GaussianBlur(m, (k, k), 0)
    return m > 127


# Painters --------------------------------------------------------------------------------
def paint_crack(img, cx, cy, size, rng):
    h, w = img.shape[:2]
    lines = []
    n_main = int(rng.integers(1, 3))
    for _ in range(n_main):
        a0 = rng.uniform(0, 2 * np.pi)
        main, _ = _walk(rng, (cx, cy), a0, size * rng.uniform(0.5, 1.0), max(2.0, size / 25), 0.25)
        lines.append(main)
        for _ in range(int(rng.integers(1, 4))):  # branches
            k = int(rng.integers(1, len(main)))
            br, _ = _walk(rng, main[k], a0 + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2),
                          size * rng.uniform(0.15, 0.4), max(2.0, size / 30), 0.3)
            lines.append(br)
    thick = max(1, int(round(size / 90)) + int(rng.integers(0, 2)))
    core = _line_mask(img.shape, lines, thick)
    shifted = [ln + np.array([1.2, 1.2]) for ln in lines]
    hi = _line_mask(img.shape, shifted, 1) * (1 - core)
    out = _shade(img, hi * 0.5, (245, 245, 240))
    out = out * (1 - core[..., None] * rng.uniform(0.55, 0.8))
    return out, (core + hi) > 0.15


def paint_shatter(img, cx, cy, size, rng):
    lines = []
    n = int(rng.integers(6, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    ends = []
    for a in angles:
        ln, _ = _walk(rng, (cx, cy), a, size * rng.uniform(0.35, 0.6), max(2.0, size / 20), 0.12)
        lines.append(ln)
        ends.append(ln)
    for frac in (0.3, 0.6):  # concentric rings joining the radial cracks
        ring = [e[min(len(e) - 1, int(len(e) * frac))] for e in ends]
        ring.append(ring[0])
        lines.append(np.array(ring) + rng.normal(0, 1.0, (len(ring), 2)))
    core = _line_mask(img.shape, lines, max(1, int(round(size / 120))))
    hi = _line_mask(img.shape, [ln + np.array([1.0, -1.0]) for ln in lines], 1) * (1 - core)
    centre = np.zeros(img.shape[:2], np.float32)
    cv2.circle(centre, (int(cx), int(cy)), max(2, int(size / 25)), 1.0, -1, cv2.LINE_AA)
    out = _shade(img, hi * 0.55, (250, 250, 250))
    out = out * (1 - np.maximum(core, centre)[..., None] * rng.uniform(0.5, 0.75))
    return out, (core + hi + centre) > 0.15


def paint_stain(img, cx, cy, size, rng):
    blob = _blob(img.shape, cx, cy, size * rng.uniform(0.25, 0.45), rng, 0.45)
    soft = cv2.GaussianBlur(blob.astype(np.float32), (0, 0), max(1.0, size / 40))
    edge = np.clip(soft - cv2.GaussianBlur(blob.astype(np.float32), (0, 0), max(2.0, size / 15)), 0, 1)
    tint = np.array([(120, 80, 40), (150, 120, 50), (90, 60, 50), (160, 140, 90)][int(rng.integers(0, 4))], np.float32)
    strength = rng.uniform(0.35, 0.65)
    mult = 1 - strength * soft[..., None] * (1 - tint / 255.0)
    out = img * mult
    out = out * (1 - 0.35 * edge[..., None])  # darker drying rim
    return out, soft > 0.15


def paint_scratch(img, cx, cy, size, rng):
    a = rng.uniform(0, np.pi)
    lines = []
    for _ in range(int(rng.integers(2, 6))):
        off = rng.normal(0, size * 0.08, 2)
        start = np.array([cx, cy]) + off - 0.5 * size * np.array([np.cos(a), np.sin(a)])
        ln, _ = _walk(rng, start, a + rng.normal(0, 0.05), size * rng.uniform(0.5, 1.0), max(2.0, size / 30), 0.02)
        lines.append(ln)
    core = _line_mask(img.shape, lines, 1 + int(size > 200))
    core *= rng.uniform(0.7, 1.0)
    out = _shade(img, core, (235, 235, 230))
    return out, core > 0.1


def paint_dent(img, cx, cy, size, rng):
    h, w = img.shape[:2]
    rx, ry = size * rng.uniform(0.18, 0.35), size * rng.uniform(0.12, 0.3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    th = rng.uniform(0, np.pi)
    u = ((xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)) / rx
    v = (-(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)) / ry
    bump = np.exp(-(u * u + v * v) * 1.5)
    # light from one side: shading is the derivative of the bump along the light direction
    la = rng.uniform(0, 2 * np.pi)
    shade = (np.cos(la) * np.gradient(bump, axis=1) + np.sin(la) * np.gradient(bump, axis=0)) * min(rx, ry)
    shade = shade / (np.abs(shade).max() + 1e-6)
    # slight inward warp of the surface
    k = 0.12 * min(rx, ry) * bump
    mx = xx + k * np.cos(th) * np.sign(u)
    my = yy + k * np.sin(th) * np.sign(u)
    warped = cv2.remap(img.astype(np.float32), mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
    out = warped * (1 + 0.35 * shade[..., None]) * (1 - 0.12 * bump[..., None])
    return out, bump > 0.2


def paint_tear(img, cx, cy, size, rng):
    a = rng.uniform(0, np.pi)
    d = np.array([np.cos(a), np.sin(a)])
    nrm = np.array([-d[1], d[0]])
    n = int(rng.integers(8, 16))
    t = np.linspace(-0.5, 0.5, n) * size * rng.uniform(0.6, 1.0)
    width = size * rng.uniform(0.03, 0.08) * np.sin(np.linspace(0, np.pi, n)) + 0.5
    jag = rng.normal(0, size * 0.02, n)
    centre = np.array([cx, cy]) + t[:, None] * d + jag[:, None] * nrm
    upper = centre + width[:, None] * nrm + rng.normal(0, 1.0, (n, 2))
    lower = centre - width[:, None] * nrm + rng.normal(0, 1.0, (n, 2))
    poly = np.round(np.vstack([upper, lower[::-1]])).astype(np.int32)
    gap = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(gap, [poly], 255, cv2.LINE_AA)
    gap = gap.astype(np.float32) / 255
    rim = _line_mask(img.shape, [upper, lower], 2) * (1 - gap)
    inside = np.array([40, 35, 30], np.float32) + rng.uniform(0, 30)
    out = _shade(img, gap, inside)
    out = _shade(out, rim * 0.5, (250, 248, 240))  # frayed light edge
    return out, (gap + rim) > 0.15


def paint_missing_part(img, cx, cy, size, rng):
    blob = _blob(img.shape, cx, cy, size * rng.uniform(0.2, 0.35), rng, 0.5, points=9)
    bg = background_colour(img)
    # fill with the photo's background, made to continue the surroundings (OpenCV inpainting)
    u8 = np.clip(img, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(u8, blob.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA).astype(np.float32)
    mix = 0.6
    fill = filled * (1 - mix) + bg * mix + rng.normal(0, 1.5, img.shape).astype(np.float32)
    out = np.where(blob[..., None], fill, img)
    # a thin dark broken edge along the remaining part
    edge = cv2.morphologyEx(blob.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out = np.where(edge[..., None], out * 0.7, out)
    return out, blob | edge


PAINTERS = {
    "crack": paint_crack,
    "shatter": paint_shatter,
    "stain": paint_stain,
    "scratch": paint_scratch,
    "dent": paint_dent,
    "tear": paint_tear,
    "missing_part": paint_missing_part,
}


# Where to paint ---------------------------------------------------------------------------
def background_colour(img: np.ndarray) -> np.ndarray:
    border = np.concatenate([img[:4].reshape(-1, 3), img[-4:].reshape(-1, 3),
                             img[:, :4].reshape(-1, 3), img[:, -4:].reshape(-1, 3)])
    return np.median(border, axis=0).astype(np.float32)


def pick_centre(img: np.ndarray, rng, window=None, margin: int = 0) -> tuple[float, float]:
    """A point on the object: differs from the background colour and has some texture.

    window: (x0, y0, x1, y1) the point must lie in (e.g. the part a later crop keeps).
    """
    h, w = img.shape[:2]
    x0, y0, x1, y1 = window or (0, 0, w, h)
    x0, y0 = x0 + margin, y0 + margin
    x1, y1 = max(x0 + 1, x1 - margin), max(y0 + 1, y1 - margin)
    small = max(1, int(max(h, w) / 256))
    sub = img[::small, ::small]
    diff = np.abs(sub - background_colour(img)).sum(axis=2) > 40
    ys, xs = np.nonzero(diff)
    xs, ys = xs * small, ys * small
    keep = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    if keep.sum() >= 20:
        k = int(rng.integers(0, int(keep.sum())))
        return float(xs[keep][k]), float(ys[keep][k])
    return float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))


# Blending ---------------------------------------------------------------------------------
def _brush(footprint: np.ndarray, size: float, rng) -> np.ndarray:
    """The region an editor's brush would cover around the damage."""
    r = max(3, int(size * rng.uniform(0.04, 0.09)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(footprint.astype(np.uint8), k) > 0


def _texture_fill(img, region, rng):
    """Texture from elsewhere in the photo for the region (a shifted patch, tone-matched).

    Returns (ys, xs, values): float32 RGB values for the region's pixels.
    """
    h, w = img.shape[:2]
    ys, xs = np.nonzero(region)
    here = img[ys, xs].astype(np.float32)
    if len(ys) == 0:
        return ys, xs, here
    bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    best = None
    for _ in range(12):
        dx = int(rng.integers(-w // 3, w // 3 + 1))
        dy = int(rng.integers(-h // 3, h // 3 + 1))
        if abs(dx) < bw and abs(dy) < bh:
            continue
        sx, sy = xs + dx, ys + dy
        if sx.min() < 0 or sy.min() < 0 or sx.max() >= w or sy.max() >= h:
            continue
        src = img[sy, sx].astype(np.float32)
        cost = float(np.abs(src.mean(0) - here.mean(0)).sum())
        if best is None or cost < best[0]:
            best = (cost, src)
    if best is None:
        return ys, xs, here
    src = best[1]
    return ys, xs, src - src.mean(0) + here.mean(0)  # match the local tone


def _jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(np.float32)


def edit(rgb: np.ndarray, damage: str, blend: str, rng, centre=None, size=None):
    """Paint `damage` into uint8 RGB and blend it with `blend`. Returns (uint8 RGB, bool mask)."""
    h, w = rgb.shape[:2]
    if size is None:
        size = float(min(h, w) * rng.uniform(0.18, 0.35))
    if centre is None:
        centre = pick_centre(rgb.astype(np.float32), rng, margin=int(size * 0.3))
    cx, cy = centre
    # work in a window around the damage: painters and blending stay local
    r = int(size * 0.9) + 16
    x0, y0 = max(0, int(cx) - r), max(0, int(cy) - r)
    x1, y1 = min(w, int(cx) + r + 1), min(h, int(cy) + r + 1)
    win = rgb[y0:y1, x0:x1]
    img = win.astype(np.float32)
    lx, ly = cx - x0, cy - y0
    state = int(rng.integers(1 << 31))
    painted, fp = PAINTERS[damage](img, lx, ly, size, np.random.default_rng(state))
    region = _brush(fp, size, rng)
    # keep a border of the window free so blending never reaches its edge
    region[:2], region[-2:], region[:, :2], region[:, -2:] = False, False, False, False
    if blend == "synth_texture":
        # the editor first synthesises surface texture over the region, then the damage on it
        # (same painter state, so the damage has the same shape)
        full = np.zeros((h, w), bool)
        full[y0:y1, x0:x1] = region
        ys, xs, values = _texture_fill(rgb, full, rng)
        base = img.copy()
        base[ys - y0, xs - x0] = values
        painted, _ = PAINTERS[damage](base, lx, ly, size, np.random.default_rng(state))
    out, mask = _blend(win, img, painted, region, blend, size, rng)
    # the truth is the brush region, less any part where the pixels did not change at all
    # (e.g. a stain tint over pure black): no detector can see an edit that changed nothing
    changed = (np.abs(out.astype(np.int16) - win.astype(np.int16)).max(axis=2) > 3).astype(np.uint8)
    rad = max(2, int(size * 0.02))
    changed = cv2.dilate(changed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rad + 1, 2 * rad + 1)))
    mask &= changed > 0
    result = rgb.copy()
    result[y0:y1, x0:x1] = out
    full_mask = np.zeros((h, w), bool)
    full_mask[y0:y1, x0:x1] = mask
    return result, full_mask


def _blend(rgb, img, painted, region, blend, size, rng):
    if blend == "seamless_clone":
        pad = 8
        src = cv2.copyMakeBorder(np.clip(painted, 0, 255).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_REFLECT)
        dst = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT)
        m = cv2.copyMakeBorder(region.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        m[:pad + 1], m[-pad - 1:], m[:, :pad + 1], m[:, -pad - 1:] = 0, 0, 0, 0
        x, y, bw, bh = cv2.boundingRect(m)
        centre_pt = (x + bw // 2, y + bh // 2)
        # seamlessClone writes into the mask it is given (OpenCV 5): pass a copy
        cloned = cv2.seamlessClone(src, dst, m.copy(), centre_pt, cv2.NORMAL_CLONE)
        out = cloned[pad:-pad, pad:-pad].astype(np.float32)
        mask = m[pad:-pad, pad:-pad] > 0
        out = np.where(mask[..., None], out, img)
    elif blend == "feather_alpha":
        sigma = max(1.5, size * 0.02)
        alpha = cv2.GaussianBlur(region.astype(np.float32), (0, 0), sigma)
        alpha = np.clip(alpha * 1.6, 0, 1)  # soft edge, solid interior
        out = painted * alpha[..., None] + img * (1 - alpha[..., None])
        mask = alpha >= 0.5
    elif blend == "synth_texture":
        alpha = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 1.2)
        alpha = np.clip(alpha * 2, 0, 1)
        out = painted * alpha[..., None] + img * (1 - alpha[..., None])
        mask = alpha >= 0.5
    elif blend == "regenerated_patch":
        # the region is re-rendered: smoother, its own noise, a slight colour drift, other compression
        regen = cv2.GaussianBlur(painted, (0, 0), rng.uniform(0.8, 1.6))
        regen = regen * rng.uniform(0.96, 1.04, 3).astype(np.float32) + rng.uniform(-4, 4)
        regen = regen + rng.normal(0, rng.uniform(1.5, 4.0), img.shape).astype(np.float32)
        regen = _jpeg_roundtrip(regen, int(rng.integers(55, 80)))
        alpha = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 1.5)
        alpha = np.clip(alpha * 2, 0, 1)
        out = regen * alpha[..., None] + img * (1 - alpha[..., None])
        mask = alpha >= 0.5
    else:
        raise ValueError(f"unknown blend {blend!r}")
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mask
