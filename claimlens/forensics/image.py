"""Safe decoding of untrusted image bytes into RGB pixels with EXIF orientation applied."""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageTooLarge, InputError

try:  # HEIC/HEIF from phones
    import pillow_heif

    pillow_heif.register_heif_opener()
except Exception:  # pragma: no cover - optional at run time
    pillow_heif = None

DEFAULT_MAX_PIXELS = int(os.environ.get("CLAIMLENS_MAX_PIXELS", 100_000_000))
# Pillow's own guard: we check the header ourselves, so keep Pillow's above ours.
Image.MAX_IMAGE_PIXELS = None

SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF", "MPO"}


@dataclass
class DecodedImage:
    """Pixels and the container facts detectors need; produced once per photo."""

    rgb: np.ndarray  # HxWx3 uint8, EXIF orientation applied
    format: str  # Pillow's format name: JPEG, PNG, ...
    mode: str  # original mode (RGB, L, P, RGBA, CMYK, I;16, ...)
    size: tuple[int, int]  # (width, height) after orientation
    alpha: np.ndarray | None = None  # HxW uint8 when the file has transparency
    orientation: int = 1
    n_frames: int = 1
    info: dict = field(default_factory=dict)  # Pillow's info (text chunks, icc, xmp, exif bytes)
    exif: dict = field(default_factory=dict)  # tag name -> value (base IFD, Exif IFD, GPS)
    exif_raw: bytes | None = None
    quantization: dict[int, list[int]] | None = None  # JPEG tables, natural (row-major) order


def decode(data: bytes, name: str = "<bytes>", max_pixels: int | None = None) -> DecodedImage:
    """Decode untrusted bytes; raise InputError / ImageTooLarge with a one-line reason."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if not data:
        raise InputError.refused("empty_file", name)
    # Some libraries (weasyprint) switch Pillow to accept truncated files process-wide; never here.
    accept_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = (im.format or "").upper()
            if fmt not in SUPPORTED_FORMATS:
                raise InputError.refused("unsupported_image", name, type=fmt or "unknown")
            w, h = im.size
            if w <= 0 or h <= 0:
                raise InputError.refused("no_pixels", name)
            if w * h > limit:
                raise ImageTooLarge.refused("too_many_pixels", name, size=f"{w}x{h}", mp=f"{w * h / 1e6:.1f}",
                                            limit=f"{limit / 1e6:.1f}")
            n_frames = getattr(im, "n_frames", 1)
            mode = im.mode
            info = dict(im.info)
            exif_obj = im.getexif()
            orientation = int(exif_obj.get(0x0112, 1) or 1)
            quant = getattr(im, "quantization", None)
            if n_frames > 1:
                im.seek(0)
            im.load()
    except (InputError, ImageTooLarge):
        raise
    except UnidentifiedImageError:
        raise InputError.refused("not_an_image", name) from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge.refused("decompression_bomb", name, detail=str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, Image.DecompressionBombWarning) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise InputError.refused("corrupt_image", name, detail=msg) from None
        raise InputError.refused("undecodable_image", name, detail=msg) from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = accept_truncated

    try:
        im = ImageOps.exif_transpose(im) if orientation != 1 else im
    except Exception:
        pass
    rgb, alpha = _to_rgb(im)
    exif = _read_exif(exif_obj)
    return DecodedImage(
        rgb=rgb,
        format=fmt,
        mode=mode,
        size=(rgb.shape[1], rgb.shape[0]),
        alpha=alpha,
        orientation=orientation,
        n_frames=n_frames,
        info=info,
        exif=exif,
        exif_raw=info.get("exif"),
        quantization={int(k): list(v) for k, v in quant.items()} if quant else None,
    )


def _to_rgb(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any mode (P, L, LA, RGBA, CMYK, I;16, F) to 8-bit RGB plus an optional alpha plane."""
    alpha = None
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        g = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.dstack([g, g, g]), None
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
        g = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
        return np.dstack([g, g, g]), None
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(im.convert("RGBA"))
        alpha = rgba[..., 3].copy()
        if alpha.min() == 255:
            alpha = None
        return np.ascontiguousarray(rgba[..., :3]), alpha
    if mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im)), None


_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825


def _read_exif(exif) -> dict:
    from PIL.ExifTags import GPSTAGS, TAGS

    out: dict = {}
    try:
        for tag, value in exif.items():
            out[TAGS.get(tag, str(tag))] = value
        for tag, value in exif.get_ifd(_EXIF_IFD).items():
            out[TAGS.get(tag, str(tag))] = value
        gps = exif.get_ifd(_GPS_IFD)
        if gps:
            out["GPSInfo"] = {GPSTAGS.get(k, str(k)): v for k, v in gps.items()}
    except Exception:
        pass
    return out
