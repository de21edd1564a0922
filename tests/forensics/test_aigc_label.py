"""GB 45438-2025 implicit AIGC labels in every carrier, written by the tests with Pillow."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.aigc_label import AigcLabelDetector
from claimlens.forensics.evidence import Evidence

TC260 = "http://www.tc260.org.cn/ns/AIGC/1.0/"


def label_json(label="1", producer="001191110108MA01KP2T5U00000", produce_id="20250901-abc-123"):
    return json.dumps(
        {
            "AIGC": {
                "Label": label,
                "ContentProducer": producer,
                "ProduceID": produce_id,
                "ReservedCode1": "rc1",
                "ContentPropagator": "propagator-9",
                "PropagateID": "p-77",
                "ReservedCode2": "",
            }
        }
    )


def picture(coffee):
    return Image.fromarray(np.ascontiguousarray(coffee[:96, :128]))


def xmp_element(value: str) -> bytes:
    esc = value.replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:TC260="{TC260}"><TC260:AIGC>{esc}</TC260:AIGC>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def xmp_attribute(value: str) -> bytes:
    esc = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:TC260="{TC260}" TC260:AIGC="{esc}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()


def jpeg(im, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, "JPEG", quality=90, **kw)
    return b.getvalue()


def png(im, info) -> bytes:
    b = io.BytesIO()
    im.save(b, "PNG", pnginfo=info)
    return b.getvalue()


def user_comment_exif(text: str, charset: str) -> bytes:
    ex = Image.Exif()
    if charset == "UNICODE":
        raw = b"UNICODE\x00" + text.encode("utf-16-be")
    else:
        raw = b"ASCII\x00\x00\x00" + text.encode("ascii")
    ex.get_ifd(0x8769)[0x9286] = raw
    return ex.tobytes()


def carriers(coffee, value):
    im = picture(coffee)
    tx = PngInfo()
    tx.add_text("AIGC", value)
    zt = PngInfo()
    zt.add_text("AIGC", value, zip=True)
    it = PngInfo()
    it.add_itxt("AIGC", value, lang="", tkey="", zip=True)
    xpng = PngInfo()
    xpng.add_itxt("XML:com.adobe.xmp", xmp_element(value).decode())
    return {
        "xmp_element_jpeg": jpeg(im, xmp=xmp_element(value)),
        "xmp_attribute_jpeg": jpeg(im, xmp=xmp_attribute(value)),
        "xmp_element_png": png(im, xpng),
        "png_text": png(im, tx),
        "png_ztxt": png(im, zt),
        "png_itxt": png(im, it),
        "exif_usercomment_ascii": jpeg(im, exif=user_comment_exif(value, "ASCII")),
        "exif_usercomment_unicode": jpeg(im, exif=user_comment_exif(value, "UNICODE")),
    }


def run(data: bytes):
    return run_detector(AigcLabelDetector(), Evidence.from_bytes(data, "t"))


CARRIER_NAMES = [
    "xmp_element_jpeg",
    "xmp_attribute_jpeg",
    "xmp_element_png",
    "png_text",
    "png_ztxt",
    "png_itxt",
    "exif_usercomment_ascii",
    "exif_usercomment_unicode",
]


@pytest.mark.parametrize("carrier", CARRIER_NAMES)
def test_label_found_in_every_carrier(coffee, carrier):
    data = carriers(coffee, label_json("1", producer="Producer-X", produce_id="ID-42"))[carrier]
    r = run(data)
    assert r.applicable, r.reason
    labels = [f for f in r.findings if f.code == "aigc_label"]
    assert len(labels) == 1, [f.to_dict() for f in r.findings]
    f = labels[0]
    assert f.severity == "critical"
    assert f.details["producer"] == "Producer-X"
    assert f.details["produce_id"] == "ID-42"
    assert f.details["propagate_id"] == "p-77"
    assert "AI-generated" in f.message


@pytest.mark.parametrize("label,severity", [("1", "critical"), ("2", "high"), ("3", "medium")])
def test_label_values_set_severity(coffee, label, severity):
    data = carriers(coffee, label_json(label))["png_text"]
    [f] = run(data).findings
    assert (f.details["label"], f.severity) == (label, severity)


@pytest.mark.parametrize("carrier", ["xmp_attribute_jpeg", "png_itxt", "exif_usercomment_ascii"])
def test_malformed_label_is_reported_not_crashing(coffee, carrier):
    data = carriers(coffee, '{"AIGC": {"Label": "1", "ContentProducer": ')[carrier]
    r = run(data)
    assert r.applicable
    assert [f.code for f in r.findings] == ["aigc_label_malformed"]
    assert r.findings[0].severity == "medium"


def test_no_label_no_finding(coffee):
    r = run(jpeg(picture(coffee)))
    assert r.applicable and r.findings == [] and r.score is None


def test_real_files_carry_no_label(shared_data):
    # Real photos, AI images from other tools and C2PA files: none carries a GB 45438 label.
    names = [
        "c2pa-rs/sdk/tests/fixtures/IMG_0003.jpg",
        "c2pa-rs/sdk/tests/fixtures/ocsp.jpg",
        "TruFor/test_docker/images/pristine2.jpg",
        "sd-parsers/tests/resources/parsers/AUTOMATIC1111/automatic1111_cropped.jpg",
        "comfyui_examples/flux/flux_dev_example.png",
    ]
    for n in names:
        r = run_detector(AigcLabelDetector(), Evidence.from_path(shared_data / n))
        assert r.applicable and r.findings == [], n
