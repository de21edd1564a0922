"""Checking uploaded files: what they are (by content, not by name) and whether they are within limits.

A file is checked while it is still a temp file in the blob store and only linked to its content address when
it passes, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..cases.errors import Invalid, TooLarge, UnsupportedType
from ..cases.media import probe_video
from ..forensics.errors import REFUSALS
from ..forensics.image import SUPPORTED_FORMATS
from .blobs import BlobStore, BlobWriter, StoredFile

Image.MAX_IMAGE_PIXELS = None  # we check the header ourselves

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                 "TIFF": "image/tiff", "BMP": "image/bmp", "HEIF": "image/heif", "AVIF": "image/avif",
                 "MPO": "image/jpeg"}


@dataclass
class Ingested:
    file: StoredFile
    kind: str  # photo or video
    content_type: str
    width: int | None = None
    height: int | None = None

    @property
    def sha256(self) -> str:
        return self.file.sha256


@dataclass
class Limits:
    max_bytes: int
    max_pixels: int
    max_video_seconds: float
    allow_video: bool = True


def refused(error, code: str, filename: str, **params):
    """A domain error for a refused file: "<name>: " and the English text of REFUSALS, with its code."""
    return error(f"{filename}: " + REFUSALS[code].format(**params), code, name=filename, **params)


def classify(path, filename: str, limits: Limits) -> tuple[str, str, int | None, int | None]:
    """(kind, content type, width, height) of a file; a 4xx domain error when it is refused."""
    try:
        with Image.open(path) as im:
            fmt = (im.format or "").upper()
            w, h = im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        fmt = None
    if fmt is not None:
        if fmt not in SUPPORTED_FORMATS:
            raise refused(UnsupportedType, "unsupported_image", filename, type=fmt)
        if w * h > limits.max_pixels:
            raise refused(TooLarge, "too_many_pixels", filename, size=f"{w}x{h}", mp=f"{w * h / 1e6:.1f}",
                          limit=f"{limits.max_pixels / 1e6:.1f}")
        return "photo", CONTENT_TYPES.get(fmt, "application/octet-stream"), w, h
    if not limits.allow_video:
        raise refused(UnsupportedType, "not_a_photo", filename)
    try:
        info = probe_video(path)
    except Invalid:
        raise refused(UnsupportedType, "unreadable", filename) from None
    if info["duration"] and info["duration"] > limits.max_video_seconds:
        raise refused(TooLarge, "video_too_long", filename, seconds=f"{info['duration']:.0f}",
                      limit=f"{limits.max_video_seconds:.0f}")
    if (info["width"] or 0) * (info["height"] or 0) > limits.max_pixels:
        raise refused(TooLarge, "video_too_many_pixels", filename)
    return "video", "video/" + (info["codec"] or "unknown"), info["width"], info["height"]


def finish(writer: BlobWriter, limits: Limits) -> Ingested:
    """Check a fully received upload and store it under its content address (dropped when refused)."""
    name = writer.filename or "file"
    try:
        if writer.size == 0:
            raise refused(Invalid, "empty_file", name)
        kind, ctype, w, h = classify(writer.path, name, limits)
        return Ingested(writer.commit(), kind, ctype, w, h)
    finally:
        writer.abort()


def ingest(blobs: BlobStore, fileobj, filename: str, *, max_bytes: int, max_pixels: int,
           max_video_seconds: float, allow_video: bool = True) -> Ingested:
    """Store a readable stream (content-addressed) and classify it; raise a 4xx domain error for bad files."""
    return finish(blobs.receive(fileobj, max_bytes, filename), Limits(max_bytes, max_pixels, max_video_seconds, allow_video))
