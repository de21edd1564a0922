"""EXIF: camera, capture time, editing software, AI makers, and an embedded thumbnail that shows another picture."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..base import Detector, DetectorResult, register
from ..metadata import classify_software, editor_severity, exif_ifd1_thumbnail, image_from_bytes, score_of, text_value

# Thumbnail comparison at thumbnail size, on brightness-matched grey levels (0-255).
THUMB_CELL = 8  # cells of 8x8 thumbnail pixels
THUMB_CELL_DIFF = 30.0  # a cell whose mean difference exceeds this shows other content (real previews: <= 21)
THUMB_MIN_CORR = 0.6  # global correlation below this: a different picture
THUMB_ASPECT_TOL = 0.06  # relative aspect-ratio difference tolerated (rounding, letterboxing)
THUMB_CROP_MATCH = 0.9  # the photo found inside the preview at a smaller scale: a crop

TIME_TAGS = ("DateTimeOriginal", "DateTimeDigitized", "DateTime")


def parse_exif_time(value) -> dt.datetime | None:
    s = text_value(value)
    if not s:
        return None
    s = s.strip()[:19]
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def _trim_borders(g: np.ndarray) -> np.ndarray:
    """Drop flat dark or light bands that cameras add to fit a thumbnail's fixed shape."""
    def flat(line):
        return line.std() < 3.0 and (line.mean() < 24 or line.mean() > 240)

    top, bottom, left, right = 0, g.shape[0], 0, g.shape[1]
    while bottom - top > 8 and flat(g[top, left:right]):
        top += 1
    while bottom - top > 8 and flat(g[bottom - 1, left:right]):
        bottom -= 1
    while right - left > 8 and flat(g[top:bottom, left]):
        left += 1
    while right - left > 8 and flat(g[top:bottom, right - 1]):
        right -= 1
    return g[top:bottom, left:right]


def _oriented_gray(thumb: Image.Image, orientation: int) -> np.ndarray:
    if orientation != 1:
        thumb = thumb.copy()
        ex = thumb.getexif()
        ex[0x0112] = orientation
        thumb.info["exif"] = ex.tobytes()
        thumb = ImageOps.exif_transpose(thumb)
    return np.asarray(thumb.convert("L"), dtype=np.float32)


def _aspect_diff(t: np.ndarray, h: int, w: int) -> float:
    return abs((t.shape[1] / t.shape[0]) / (w / h) - 1.0)


def crop_match(t: np.ndarray, gray: np.ndarray) -> tuple[float, float]:
    """Best match of the whole photo inside the thumbnail at smaller scales: (correlation, scale)."""
    th, tw = t.shape
    h, w = gray.shape
    best = (-1.0, 0.0)
    for s in np.arange(0.3, 0.91, 0.03):
        # fit the photo inside the thumbnail at this fraction of the thumbnail's size
        k = s * min(tw / w, th / h)
        pw, ph = int(round(w * k)), int(round(h * k))
        if pw < 12 or ph < 12 or pw > tw or ph > th:
            continue
        small = cv2.resize(gray, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
        if small.std() < 1:
            continue
        r = float(cv2.matchTemplate(t, small, cv2.TM_CCOEFF_NORMED).max())
        if r > best[0]:
            best = (r, float(s))
    return best


def compare_thumbnail(thumb: Image.Image, rgb: np.ndarray, orientation: int = 1) -> dict:
    """How a thumbnail relates to the photo: shape, correlation, worst local difference, crop match."""
    t = _oriented_gray(thumb, orientation)
    h, w = rgb.shape[:2]
    if _aspect_diff(t, h, w) > THUMB_ASPECT_TOL:
        t = _trim_borders(t)  # cameras letterbox previews to a fixed shape
    th, tw = t.shape
    aspect_diff = _aspect_diff(t, h, w)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    m = cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    t = cv2.GaussianBlur(t, (3, 3), 0)
    m = cv2.GaussianBlur(m, (3, 3), 0)
    corr = float(np.corrcoef(t.ravel(), m.ravel())[0, 1]) if t.std() > 1 and m.std() > 1 else 1.0
    # Match brightness and contrast (editors re-render previews slightly differently).
    a, b = np.polyfit(m.ravel(), t.ravel(), 1) if m.std() > 1 else (1.0, 0.0)
    diff = np.abs(t - (a * m + b))
    c = THUMB_CELL
    hh, ww = (th // c) * c, (tw // c) * c
    cells = diff[:hh, :ww].reshape(hh // c, c, ww // c, c).mean(axis=(1, 3)) if hh and ww else diff
    worst = float(cells.max()) if cells.size else 0.0
    out = {
        "thumbnail_size": [int(tw), int(th)],
        "aspect_difference": round(float(aspect_diff), 4),
        "correlation": round(corr, 4),
        "worst_cell_difference": round(worst, 2),
        "cells_over_threshold": int((cells > THUMB_CELL_DIFF).sum()),
    }
    out["differs"] = bool(corr < THUMB_MIN_CORR or worst > THUMB_CELL_DIFF)
    if out["differs"] or aspect_diff > THUMB_ASPECT_TOL:
        r, s = crop_match(t, gray)
        out["crop_match"] = round(r, 4)
        out["crop_scale"] = round(s, 2)
    return out


@register
class ExifDetector(Detector):
    name = "exif"
    weight = 0.0  # findings set the risk through their severity floors

    def run(self, evidence) -> DetectorResult:
        ex = evidence.exif or {}
        findings = []
        make = text_value(ex.get("Make"))
        model = text_value(ex.get("Model"))
        software = text_value(ex.get("Software"))
        times = {k: parse_exif_time(ex.get(k)) for k in TIME_TAGS}
        capture = times["DateTimeOriginal"] or times["DateTimeDigitized"]
        modified = times["DateTime"]

        # AI makers written as camera make/model/software (or artist/description).
        for tag in ("Make", "Model", "Software", "Artist", "ImageDescription", "HostComputer"):
            v = text_value(ex.get(tag))
            kind = classify_software(v)
            if kind and kind[0] == "ai":
                findings.append(
                    self.finding(
                        "exif_ai_generator",
                        "critical",
                        f"The photo's built-in data names an AI image generator ({kind[1]}) in its '{tag}' field: "
                        "it was made by AI, not taken with a camera.",
                        tag=tag,
                        value=v[:200],
                        generator=kind[1],
                    )
                )
                break

        if not software:  # PNG files name their software in a text chunk instead
            software = text_value(evidence.text_chunks.get("Software"))
        kind = classify_software(software)
        if kind and kind[0] == "editor":
            findings.append(
                self.finding(
                    "exif_editor_software",
                    editor_severity(kind[1]),
                    f"The photo was last saved by editing software ({kind[1]}). Editing is not proof of forgery, "
                    "but the picture may have been changed after it was taken.",
                    software=software[:200],
                    editor=kind[1],
                )
            )

        if make or model:
            findings.append(
                self.finding(
                    "exif_camera",
                    "info",
                    f"Camera recorded in the photo: {' '.join(x for x in (make, model) if x)}.",
                    make=make,
                    model=model,
                    software=software,
                    captured=capture.isoformat() if capture else None,
                    modified=modified.isoformat() if modified else None,
                    has_gps=bool(ex.get("GPSInfo")),
                )
            )
        else:
            findings.append(
                self.finding(
                    "exif_no_camera",
                    "info",
                    "The photo carries no camera make or model. Many chat and shopping apps remove this data, "
                    "so its absence is not evidence either way.",
                    has_exif=bool(ex),
                )
            )

        if capture and modified and capture - modified > dt.timedelta(minutes=2):
            findings.append(
                self.finding(
                    "exif_time_order",
                    "low",
                    "The recorded capture time is later than the time the file was last changed; "
                    "the device clock or the data was altered.",
                    captured=capture.isoformat(),
                    modified=modified.isoformat(),
                )
            )

        findings += self._thumbnail(evidence)
        return DetectorResult(self.name, findings=findings, score=score_of(findings))

    def _thumbnail(self, evidence) -> list:
        blob = exif_ifd1_thumbnail(evidence.image.exif_raw)
        if not blob:
            return []
        thumb = image_from_bytes(blob)
        if thumb is None or min(thumb.size) < 16:
            return []
        stats = compare_thumbnail(thumb, evidence.rgb, evidence.image.orientation)
        cropped = stats.get("crop_match", -1.0) >= THUMB_CROP_MATCH
        if stats["aspect_difference"] > THUMB_ASPECT_TOL or (stats["differs"] and cropped):
            return [
                self.finding(
                    "exif_thumbnail_cropped",
                    "medium",
                    "The small preview stored inside the file shows a wider view than the photo: "
                    "the photo was cropped or reframed after the preview was made.",
                    **stats,
                )
            ]
        if stats["differs"]:
            return [
                self.finding(
                    "exif_thumbnail_mismatch",
                    "high",
                    "The small preview stored inside the file shows a different picture than the photo itself: "
                    "the photo was changed after the preview was made.",
                    **stats,
                )
            ]
        return [self.finding("exif_thumbnail_match", "info", "The embedded preview matches the photo.", **stats)]
