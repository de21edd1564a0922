"""What a chat app or a fraudster does to a reused photo, for tests and the benchmark."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def jpeg(rgb: np.ndarray, quality: int = 70) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def reencode(rgb, rng=None, quality: int = 55):
    return decode(jpeg(rgb, quality))


def resize(rgb, rng=None, factor: float = 0.5):
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)


def mirror(rgb, rng=None):
    return np.ascontiguousarray(rgb[:, ::-1])


def crop(rgb, rng=None, area: float = 0.5):
    """A crop keeping `area` of the photo, of random aspect and position."""
    rng = rng or np.random.default_rng(0)
    h, w = rgb.shape[:2]
    a = float(rng.uniform(0.8, 1.25))  # width share / height share
    fw = min(1.0, np.sqrt(area * a))
    fh = min(1.0, area / fw)
    cw, ch = round(w * fw), round(h * fh)
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])


def rotate(rgb, rng=None, degrees: float = 5.0):
    """Rotate and crop to the largest upright rectangle without empty corners."""
    h, w = rgb.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    out = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    t = abs(np.sin(np.radians(degrees)))
    dx, dy = int(h * t / 2) + 1, int(w * t / 2) + 1
    return np.ascontiguousarray(out[dy : h - dy, dx : w - dx])


def brightness(rgb, rng=None, gain: float = 1.25, bias: float = 15.0):
    return np.clip(rgb.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def border(rgb, rng=None, frac: float = 0.08, color=(255, 255, 255)):
    h, w = rgb.shape[:2]
    p = max(2, int(max(h, w) * frac))
    return cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT, value=color)


def screenshot(rgb, rng=None):
    """The photo inside a phone screenshot: dark bars above and below, a status line with text."""
    h, w = rgb.shape[:2]
    bar = max(12, h // 5)
    out = cv2.copyMakeBorder(rgb, bar, bar, 0, 0, cv2.BORDER_CONSTANT, value=(18, 18, 18))
    scale = max(0.3, w / 700)
    cv2.putText(out, "12:41  4G  87%", (4, int(bar * 0.6)), cv2.FONT_HERSHEY_SIMPLEX, scale, (240, 240, 240), 1)
    return reencode(out, quality=85)


def overlay(rgb, rng=None):
    """A sticker and a line of text drawn over the photo."""
    rng = rng or np.random.default_rng(0)
    out = rgb.copy()
    h, w = out.shape[:2]
    r = max(4, min(h, w) // 7)
    cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
    cv2.circle(out, (cx, cy), r, (250, 210, 30), -1)
    cv2.circle(out, (cx, cy), r, (30, 30, 30), 2)
    scale = max(0.4, w / 600)
    cv2.putText(out, "refund pls", (w // 10, h - h // 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 0, 0), 2)
    return out


TRANSFORMS = {
    "reencode": reencode,
    "resize": resize,
    "mirror": mirror,
    "crop50": crop,
    "rotate5": rotate,
    "brightness": brightness,
    "border": border,
    "screenshot": screenshot,
    "overlay": overlay,
}


def apply(name: str, rgb: np.ndarray, rng=None) -> np.ndarray:
    """One transformation, then the JPEG re-encode every chat app adds."""
    out = TRANSFORMS[name](rgb, rng)
    return out if name in ("reencode", "screenshot") else reencode(out, quality=80)
