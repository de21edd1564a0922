"""The invisible watermark Stable Diffusion 1/2 and SDXL embed (invisible-watermark's "dwtDct" method).

A faithful re-implementation of that library's EmbedMaxDct (no torch needed): convert BGR to YUV, take the
Haar DWT of the U channel only (scales [0, 36, 36], but its loop covers channels 0 and 1 only), split the LL band
into 4x4 blocks, and in each block quantise the largest-magnitude coefficient other than the first one so that
(|v| mod 36) sits at 1/4 (bit 0) or 3/4 (bit 1) of the step. Bit k of the message goes into blocks k, k+n, k+2n...
in row-major order; the decoder averages each bit's votes and thresholds at 127/255. Despite the name, no DCT is
applied to the blocks. The encoder writes back with the library's swapped detail bands (v, h, d) as it does.

The mark is fragile by design of that algorithm: it survives lossless saving and JPEG q90 without chroma
subsampling on images with colour texture, but 4:2:0 chroma subsampling (most phones, chat apps, and Pillow's
default), resizing or cropping erase it, and flat-colour images hold it poorly. A missing mark is no evidence.
"""

from __future__ import annotations

import cv2
import numpy as np
import pywt

from ..base import Detector, DetectorResult, register

SCALE = 36.0
BLOCK = 4
CHANNEL = 1  # U of cv2's YUV
MIN_PIXELS = 256 * 256  # the library refuses smaller images
# The mark sits in the DWT/DCT coefficients at the generator's own size (at most about 2048x2048 for SDXL
# upscalers); a larger photo cannot carry it intact, so it is not read there.
MAX_PIXELS = 2048 * 2048

SD1_BITS = np.unpackbits(np.frombuffer(b"StableDiffusionV1", np.uint8))  # 136 bits
SDXL_BITS = np.array([int(b) for b in bin(0xB3EC907BB19E)[2:]], np.uint8)  # 48 bits
MARKS = {"Stable Diffusion 1/2": SD1_BITS, "Stable Diffusion XL": SDXL_BITS}

# Bit errors tolerated. A picture without the mark decodes to near-random bits: by chance, <= 30 of 136 errors
# happens with probability 2e-11 and <= 6 of 48 with 5e-8 (binomial, p = 0.5). On the 179 real photos and
# images in the shared test data the fewest errors seen were 60/136 and 16/48.
MAX_ERRORS = {"Stable Diffusion 1/2": 30, "Stable Diffusion XL": 6}


def _blocks(ll: np.ndarray) -> tuple[np.ndarray, int, int]:
    rows, cols = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    b = ll[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3)
    return b.reshape(rows * cols, BLOCK * BLOCK), rows, cols


def _u_band(bgr: np.ndarray):
    h, w = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ll, details = pywt.dwt2(yuv[: h // 4 * 4, : w // 4 * 4, CHANNEL], "haar")
    return yuv, ll, details


def decode_scores(bgr: np.ndarray, n_bits: int) -> np.ndarray:
    """Mean vote per message bit in [0, 1] (the library's avgScores)."""
    _, ll, _ = _u_band(bgr)
    blocks, _, _ = _blocks(ll)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(len(blocks)), pos])
    votes = ((val % SCALE) > 0.5 * SCALE).astype(np.float64)
    idx = np.arange(len(blocks)) % n_bits
    return np.bincount(idx, weights=votes, minlength=n_bits) / np.maximum(np.bincount(idx, minlength=n_bits), 1)


def decode_bits(bgr: np.ndarray, n_bits: int) -> np.ndarray:
    return (decode_scores(bgr, n_bits) * 255 > 127).astype(np.uint8)


def encode(bgr: np.ndarray, bits) -> np.ndarray:
    """Embed `bits` into a uint8 BGR image the way the library's dwtDct encoder does."""
    bits = np.asarray(bits, np.uint8)
    h, w = bgr.shape[:2]
    yuv, ll, (h1, v1, d1) = _u_band(bgr)
    blocks, rows, cols = _blocks(ll)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    n = np.arange(len(blocks))
    val = blocks[n, pos]
    bit = bits[n % len(bits)]
    mag = (np.abs(val) // SCALE + 0.25 + 0.5 * bit) * SCALE
    blocks[n, pos] = np.where(val >= 0, mag, -mag)
    ll2 = ll.copy()
    ll2[: rows * BLOCK, : cols * BLOCK] = (
        blocks.reshape(rows, cols, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(rows * BLOCK, cols * BLOCK)
    )
    plane = pywt.idwt2((ll2, (v1, h1, d1)), "haar")  # the library passes the detail bands swapped
    # The library assigns floats into the uint8 array (truncation); clip first so the result is defined.
    yuv[: h // 4 * 4, : w // 4 * 4, CHANNEL] = np.clip(plane, 0, 255).astype(np.uint8)
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)


def check(bgr: np.ndarray) -> dict[str, dict]:
    """Bit errors against each known mark."""
    out = {}
    for name, mark in MARKS.items():
        bits = decode_bits(bgr, len(mark))
        errors = int((bits != mark).sum())
        out[name] = {"bits": len(mark), "errors": errors, "found": errors <= MAX_ERRORS[name]}
    return out


@register
class SdWatermarkDetector(Detector):
    name = "sd_watermark"
    weight = 0.0  # a found mark sets the risk through its severity floor

    def run(self, evidence) -> DetectorResult:
        h, w = evidence.height, evidence.width
        if h * w < MIN_PIXELS:
            return self.not_applicable("image smaller than 256x256: the watermark cannot be read")
        if h * w > MAX_PIXELS:
            return self.not_applicable("image larger than a Stable Diffusion output: the watermark cannot be intact")
        bgr = np.ascontiguousarray(evidence.rgb[:, :, ::-1])
        result = check(bgr)
        findings = []
        for name, r in result.items():
            if r["found"]:
                findings.append(self.finding(
                    "sd_invisible_watermark", "critical",
                    f"The picture carries the invisible watermark that {name} puts into every image it generates: "
                    "it is AI-generated.",
                    model=name, bit_errors=r["errors"], bits=r["bits"]))
        return DetectorResult(self.name, findings=findings, score=0.92 if findings else None,
                              extra={"bit_errors": {k: v["errors"] for k, v in result.items()}})
