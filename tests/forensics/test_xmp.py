"""XMP detector: IPTC digital source type, creator tool, history, remote C2PA reference, hostile XML."""

import io

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.xmp import XmpDetector
from claimlens.forensics.evidence import Evidence
from claimlens.forensics.metadata import parse_xmp

IPTC = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
HEAD = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
TAIL = "</rdf:RDF></x:xmpmeta>"


def dst_element(name):
    return (HEAD + f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{IPTC}">'
            f'<Iptc4xmpExt:DigitalSourceType>{DST}{name}</Iptc4xmpExt:DigitalSourceType>'
            "</rdf:Description>" + TAIL)


def dst_attribute(name):
    return (HEAD + f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{IPTC}" '
            f'Iptc4xmpExt:DigitalSourceType="{DST}{name}"/>' + TAIL)


def small(coffee):
    return Image.fromarray(np.ascontiguousarray(coffee[:80, :120]))


def as_jpeg(coffee, xmp: str) -> bytes:
    b = io.BytesIO()
    small(coffee).save(b, "JPEG", quality=90, xmp=xmp.encode())
    return b.getvalue()


def as_png(coffee, xmp: str) -> bytes:
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    b = io.BytesIO()
    small(coffee).save(b, "PNG", pnginfo=info)
    return b.getvalue()


def run(data: bytes):
    return run_detector(XmpDetector(), Evidence.from_bytes(data, "t"))


def codes(r):
    return {f.code: f.severity for f in r.findings}


@pytest.mark.parametrize("form", [dst_element, dst_attribute])
@pytest.mark.parametrize("writer", [as_jpeg, as_png])
@pytest.mark.parametrize(
    "name,code,severity",
    [
        ("trainedAlgorithmicMedia", "xmp_ai_generated", "critical"),
        ("algorithmicMedia", "xmp_ai_generated", "critical"),
        ("compositeWithTrainedAlgorithmicMedia", "xmp_ai_edited", "high"),
        ("compositeSynthetic", "xmp_ai_edited", "high"),
        ("composite", "xmp_composite", "high"),
        ("digitalCapture", "xmp_source_type", "info"),
    ],
)
def test_digital_source_type(coffee, form, writer, name, code, severity):
    r = run(writer(coffee, form(name)))
    assert r.applicable, r.reason
    f = next(f for f in r.findings if f.details.get("digital_source_type"))
    assert (f.code, f.severity, f.details["digital_source_type"]) == (code, severity, name)


def test_creator_tool_and_history(coffee):
    xmp = (HEAD + '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
           'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
           'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
           'xmp:CreatorTool="Adobe Photoshop 25.0 (Windows)"><xmpMM:History><rdf:Seq>'
           '<rdf:li stEvt:action="created" stEvt:softwareAgent="Adobe Photoshop 25.0 (Windows)"/>'
           '<rdf:li><stEvt:action>saved</stEvt:action><stEvt:softwareAgent>Meitu 9.1</stEvt:softwareAgent></rdf:li>'
           "</rdf:Seq></xmpMM:History></rdf:Description>" + TAIL)
    r = run(as_jpeg(coffee, xmp))
    f = next(f for f in r.findings if f.code == "xmp_editor")
    assert f.severity == "medium"
    assert f.details["history_agents"] == ["Adobe Photoshop 25.0 (Windows)", "Meitu 9.1"]
    assert f.details["history_actions"] == ["created", "saved"]


def test_ai_creator_tool_is_critical(coffee):
    xmp = (HEAD + '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
           "<xmp:CreatorTool>Adobe Firefly</xmp:CreatorTool></rdf:Description>" + TAIL)
    assert codes(run(as_png(coffee, xmp)))["xmp_ai_tool"] == "critical"


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    + HEAD + '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
    "<xmp:CreatorTool>&lol9;</xmp:CreatorTool></rdf:Description>" + TAIL
)


@pytest.mark.parametrize("writer", [as_jpeg, as_png])
def test_billion_laughs_is_refused(coffee, writer):
    assert parse_xmp(BILLION_LAUGHS).error == "unsafe"
    r = run(writer(coffee, BILLION_LAUGHS))
    assert r.applicable, r.reason
    assert codes(r) == {"xmp_unsafe": "low"}


def test_malformed_xmp_is_info(coffee):
    r = run(as_jpeg(coffee, HEAD + "<rdf:Description><broken></rdf:RDF>"))
    assert r.applicable and codes(r) == {"xmp_malformed": "info"}


def test_real_files(shared_data):
    fx = shared_data / "c2pa-rs/sdk/tests/fixtures"
    r = run_detector(XmpDetector(), Evidence.from_path(fx / "cloud.jpg"))
    remote = next(f for f in r.findings if f.code == "xmp_c2pa_remote")
    assert remote.severity == "info"
    assert remote.details["url"].startswith("https://cai-manifests.adobe.com/manifests/")
    assert next(f for f in r.findings if f.code == "xmp_editor").details["editor"] == "Adobe Photoshop"
    r = run_detector(XmpDetector(), Evidence.from_path(fx / "libpng-test_with_url.png"))
    assert codes(r) == {"xmp_c2pa_remote": "info"}
    # A Pixel photo's XMP holds a capture date only.
    r = run_detector(XmpDetector(), Evidence.from_path(shared_data / "TruFor/test_docker/images/pristine2.jpg"))
    assert r.applicable and all(f.severity == "info" for f in r.findings)
    # No XMP at all: nothing to say.
    r = run_detector(XmpDetector(), Evidence.from_path(fx / "C.jpg"))
    assert r.findings == [] and r.score is None
