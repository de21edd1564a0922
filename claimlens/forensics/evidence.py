"""Evidence: one claim photo decoded once, with everything detectors share, plus its references."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from .image import DecodedImage, decode

MAX_READ_BYTES = 200 * 1024 * 1024  # refuse absurd files before decoding


@dataclass
class Evidence:
    """A photo under analysis. Detectors read from it and never modify it."""

    data: bytes
    name: str
    image: DecodedImage
    references: list["Evidence"] = field(default_factory=list)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>", references=(), max_pixels: int | None = None):
        return cls(data=data, name=name, image=decode(data, name, max_pixels), references=list(references))

    @classmethod
    def from_path(cls, path, references=(), max_pixels: int | None = None):
        return cls.from_bytes(read_file(path), str(path), references, max_pixels)

    # Pixels -------------------------------------------------------------------------
    @property
    def rgb(self) -> np.ndarray:
        return self.image.rgb

    @property
    def height(self) -> int:
        return self.image.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.image.rgb.shape[1]

    @property
    def format(self) -> str:
        return self.image.format

    @cached_property
    def gray(self) -> np.ndarray:
        return cv2.cvtColor(self.image.rgb, cv2.COLOR_RGB2GRAY)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    # Metadata -----------------------------------------------------------------------
    @property
    def exif(self) -> dict:
        return self.image.exif

    @property
    def quantization(self):
        return self.image.quantization

    @cached_property
    def xmp(self) -> str | None:
        """Raw XMP packet text, from Pillow's info or found in the file bytes."""
        for key in ("xmp", "XML:com.adobe.xmp"):
            v = self.image.info.get(key)
            if v:
                return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        m = re.search(rb"<x:xmpmeta.*?</x:xmpmeta>", self.data, re.S)
        if m is None:
            m = re.search(rb"<rdf:RDF.*?</rdf:RDF>", self.data, re.S)
        return m.group(0).decode("utf-8", "replace") if m else None

    @cached_property
    def text_chunks(self) -> dict[str, str]:
        """PNG tEXt/zTXt/iTXt (and other string-valued container info), decoded."""
        out = {}
        for k, v in self.image.info.items():
            if k in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "transparency"):
                continue
            if isinstance(v, bytes):
                try:
                    v = v.decode("utf-8")
                except UnicodeDecodeError:
                    continue
            if isinstance(v, str):
                out[str(k)] = v
        return out


def read_file(path) -> bytes:
    """Read a file with a clear error; refuses files above MAX_READ_BYTES."""
    from .errors import InputError

    p = Path(path)
    try:
        if p.is_dir():
            raise InputError("is a directory, not an image", str(path))
        size = p.stat().st_size
        if size > MAX_READ_BYTES:
            raise InputError(f"file is {size / 1e6:.0f} MB, above the {MAX_READ_BYTES / 1e6:.0f} MB limit", str(path))
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", str(path)) from None
    except PermissionError:
        raise InputError("permission denied", str(path)) from None
