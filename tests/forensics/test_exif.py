"""EXIF detector: camera data, editors, AI makers, capture-time order and the embedded preview."""

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.exif import ExifDetector
from claimlens.forensics.evidence import Evidence
from claimlens.forensics.metadata import classify_software


def jpeg_bytes(rgb: np.ndarray, quality=92, exif: bytes | None = None) -> bytes:
    b = io.BytesIO()
    kw = {"exif": exif} if exif else {}
    Image.fromarray(rgb).save(b, "JPEG", quality=quality, **kw)
    return b.getvalue()


def exif_with_thumbnail(thumb: bytes, make: bytes = b"Canon\x00") -> bytes:
    """A little-endian EXIF block: IFD0 (Make) then IFD1 pointing at a JPEG preview."""
    ifd0_off = 8
    ifd0_len = 2 + 12 * 1 + 4
    make_off = ifd0_off + ifd0_len
    ifd1_off = make_off + len(make)
    ifd1_len = 2 + 12 * 2 + 4
    thumb_off = ifd1_off + ifd1_len
    out = b"II*\x00" + struct.pack("<I", ifd0_off)
    out += struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, len(make), make_off) + struct.pack("<I", ifd1_off)
    out += make
    out += struct.pack("<H", 2)
    out += struct.pack("<HHII", 0x0201, 4, 1, thumb_off)
    out += struct.pack("<HHII", 0x0202, 4, 1, len(thumb))
    out += struct.pack("<I", 0)
    out += thumb
    return b"Exif\x00\x00" + out


def preview(rgb: np.ndarray, width=160) -> bytes:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    return jpeg_bytes(small, quality=75)


def run(data: bytes):
    return run_detector(ExifDetector(), Evidence.from_bytes(data, "t"))


def codes(result) -> dict:
    return {f.code: f.severity for f in result.findings}


def test_matching_preview_is_info(coffee):
    r = run(jpeg_bytes(coffee, exif=exif_with_thumbnail(preview(coffee))))
    assert r.applicable, r.reason
    assert codes(r)["exif_thumbnail_match"] == "info"
    assert r.score is None


def test_painted_photo_differs_from_its_preview(coffee):
    edited = coffee.copy()
    # Paint a dark "damage" blotch into the photo after the camera wrote the preview.
    cv2.ellipse(edited, (300, 200), (70, 45), 20, 0, 360, (25, 20, 15), -1)
    r = run(jpeg_bytes(edited, exif=exif_with_thumbnail(preview(coffee))))
    c = codes(r)
    assert c.get("exif_thumbnail_mismatch") == "high", [f.to_dict() for f in r.findings]
    f = next(f for f in r.findings if f.code == "exif_thumbnail_mismatch")
    assert f.details["worst_cell_difference"] > 30


def test_cropped_photo_is_a_crop_not_a_forgery(coffee):
    crop = np.ascontiguousarray(coffee[60:340, 90:510])  # same aspect (3:2) as the preview
    r = run(jpeg_bytes(crop, exif=exif_with_thumbnail(preview(coffee))))
    c = codes(r)
    assert c.get("exif_thumbnail_cropped") == "medium", [f.to_dict() for f in r.findings]
    assert "exif_thumbnail_mismatch" not in c


def make_exif(**tags) -> bytes:
    ex = Image.Exif()
    ids = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "DateTime": 0x0132}
    sub = {"DateTimeOriginal": 0x9003}
    for k, v in tags.items():
        if k in ids:
            ex[ids[k]] = v
        else:
            ex.get_ifd(0x8769)[sub[k]] = v
    return ex.tobytes()


@pytest.mark.parametrize(
    "software,editor",
    [("Snapseed 2.0", "Snapseed"), ("PicsArt", "PicsArt"), ("MeituXiuXiu", "Meitu"), ("GIMP 2.10.34", "GIMP")],
)
def test_editor_software_is_medium(coffee, software, editor):
    r = run(jpeg_bytes(coffee, exif=make_exif(Software=software)))
    f = next(f for f in r.findings if f.code == "exif_editor_software")
    assert f.severity == "medium" and f.details["editor"] == editor


def test_png_software_chunk_names_editor(coffee):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", "GIMP 2.10")
    b = io.BytesIO()
    Image.fromarray(coffee).save(b, "PNG", pnginfo=info)
    assert codes(run(b.getvalue()))["exif_editor_software"] == "medium"


@pytest.mark.parametrize("tag,value", [("Make", "Google AI"), ("Software", "Midjourney v6"), ("Model", "DALL-E 3")])
def test_ai_maker_is_critical(coffee, tag, value):
    r = run(jpeg_bytes(coffee, exif=make_exif(**{tag: value})))
    f = next(f for f in r.findings if f.code == "exif_ai_generator")
    assert f.severity == "critical" and f.details["tag"] == tag


def test_capture_after_modify_is_low(coffee):
    r = run(jpeg_bytes(coffee, exif=make_exif(Make="Canon", DateTime="2024:01:01 10:00:00",
                                               DateTimeOriginal="2024:03:05 09:00:00")))
    assert codes(r)["exif_time_order"] == "low"
    r = run(jpeg_bytes(coffee, exif=make_exif(Make="Canon", DateTime="2024:03:05 10:00:00",
                                               DateTimeOriginal="2024:03:05 09:00:00")))
    assert "exif_time_order" not in codes(r)


def test_missing_camera_data_is_only_info(coffee):
    r = run(jpeg_bytes(coffee))
    assert codes(r) == {"exif_no_camera": "info"}
    assert r.score is None


def test_software_names():
    assert classify_software("美图秀秀") == ("editor", "Meitu")
    assert classify_software("醒图") == ("editor", "Xingtu / Hypic")
    assert classify_software("Adobe Firefly") == ("ai", "Adobe Firefly")
    assert classify_software("HDR+ 1.0.540104767zd") is None
    assert classify_software("J320FXXU0AQL1") is None


def test_real_camera_photos(shared_data):
    fx = shared_data / "c2pa-rs/sdk/tests/fixtures"
    # Pixel 7 Pro photo: camera data only.
    r = run_detector(ExifDetector(), Evidence.from_path(shared_data / "TruFor/test_docker/images/pristine2.jpg"))
    assert codes(r) == {"exif_camera": "info"}
    cam = next(f for f in r.findings if f.code == "exif_camera")
    assert (cam.details["make"], cam.details["model"]) == ("Google", "Pixel 7 Pro")
    # Samsung phone photo with a real preview: nothing above info.
    r = run_detector(ExifDetector(), Evidence.from_path(fx / "no_alg.jpg"))
    assert codes(r) == {"exif_camera": "info", "exif_thumbnail_match": "info"}
    # Canon photo exported by Lightroom: its raw-developer tag is the only finding above info.
    r = run_detector(ExifDetector(), Evidence.from_path(fx / "IMG_0003.jpg"))
    c = codes(r)
    assert c.pop("exif_editor_software") == "low"  # a raw developer, not a painting tool
    assert c == {"exif_camera": "info", "exif_thumbnail_match": "info"}
