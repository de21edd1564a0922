"""Generator metadata of AI image tools, on the real sample files and on files written here."""

import ast
import gzip
import io
import re

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.generator_traces import GeneratorTracesDetector
from claimlens.forensics.evidence import Evidence

SDP = "sd-parsers/tests/resources/parsers"


def run_path(path):
    return run_detector(GeneratorTracesDetector(), Evidence.from_path(path))


def run_bytes(data):
    return run_detector(GeneratorTracesDetector(), Evidence.from_bytes(data, "t.png"))


def tools(result):
    return [f.details["tool"] for f in result.findings]


@pytest.mark.parametrize(
    "name,tool,model",
    [
        ("AUTOMATIC1111/automatic1111_cropped.png", "Stable Diffusion web UI", "realistic_realisticVisionV20_v20"),
        ("AUTOMATIC1111/automatic1111_cropped.jpg", "Stable Diffusion web UI", "realistic_realisticVisionV20_v20"),
        ("AUTOMATIC1111/automatic1111_stealth.png", "stealth pnginfo", "realisticVisionV51_v51VAE"),
        ("Fooocus/fooocus1_cropped.png", "Fooocus", "juggernautXL_v8Rundiffusion"),
        ("InvokeAI/invokeai_dream1.png", "InvokeAI", None),
        ("InvokeAI/invokeai_sdmeta1.png", "InvokeAI", "deliberateForInvoke_v08"),
        ("InvokeAI/invokeai_imeta1.png", "InvokeAI", "juggernautXL"),
        ("NovelAI/novelai1_cropped.png", "NovelAI", None),
    ],
)
def test_sd_parsers_samples(shared_data, name, tool, model):
    r = run_path(shared_data / SDP / name)
    assert len(r.findings) == 1, [f.to_dict() for f in r.findings]
    f = r.findings[0]
    assert f.severity == "critical" and tool in f.details["tool"]
    assert f.details.get("model") == model


def test_sd_parsers_comfyui_samples(shared_data):
    files = sorted((shared_data / SDP / "ComfyUI").glob("*.png"))
    assert len(files) == 4
    for p in files:
        r = run_path(p)
        assert tools(r) == ["ComfyUI"], p.name
        assert r.findings[0].details["models"], p.name


def comfy_source_listing(shared_data) -> dict[str, list[str]]:
    """The model files SOURCE.txt names for each ComfyUI example ('path | [models] | [prompt]')."""
    out = {}
    for line in (shared_data / "comfyui_examples/SOURCE.txt").read_text().splitlines():
        m = re.match(r"\s+(\S+\.png) \| (\[.*?\]) \|", line)
        if m:
            out[m.group(1)] = ast.literal_eval(m.group(2))
    return out


def test_comfyui_examples_models_match_source(shared_data):
    listing = comfy_source_listing(shared_data)
    assert len(listing) >= 15
    for rel, models in listing.items():
        r = run_path(shared_data / "comfyui_examples" / rel)
        assert tools(r) == ["ComfyUI"], rel
        assert sorted(r.findings[0].details["models"]) == sorted(models), rel
    # The GIMP-edited input photo of the inpainting pair carries no generator data.
    assert run_path(shared_data / "comfyui_examples/inpaint/yosemite_inpaint_example.png").findings == []


def test_real_photos_carry_no_generator_data(shared_data):
    names = [
        "TruFor/test_docker/images/pristine2.jpg",
        "c2pa-rs/sdk/tests/fixtures/IMG_0003.jpg",
        "c2pa-rs/sdk/tests/fixtures/sample1.png",
        "solidus_products/sample/db/samples/images/solidus_tote.png",  # RGBA: stealth check runs
        "solidus_products/sample/db/samples/images/solidus_mug_set.png",
        "CNNDetection/examples/fake.png",  # a GAN image without metadata: nothing to read
    ]
    for n in names:
        assert run_path(shared_data / n).findings == [], n


def stealth_png(text: str, compressed: bool, mode: str, size=(96, 64)) -> bytes:
    """A1111 stealth pnginfo writer: signature, 32-bit length, payload, down each column."""
    rng = np.random.default_rng(3)
    h, w = size[1], size[0]
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    payload = gzip.compress(text.encode()) if compressed else text.encode()
    sig = {("alpha", False): b"stealth_pnginfo", ("alpha", True): b"stealth_pngcomp",
           ("rgb", False): b"stealth_rgbinfo", ("rgb", True): b"stealth_rgbcomp"}[(mode, compressed)]
    bits = np.unpackbits(np.frombuffer(sig, np.uint8))
    bits = np.concatenate([bits, np.array([int(b) for b in f"{len(payload) * 8:032b}"], np.uint8),
                           np.unpackbits(np.frombuffer(payload, np.uint8))])
    if mode == "alpha":
        alpha = np.full((h, w), 255, np.uint8)
        col = alpha.T.copy().reshape(-1)
        col[: len(bits)] = (col[: len(bits)] & 0xFE) | bits
        alpha = col.reshape(w, h).T
        im = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    else:
        col = np.swapaxes(rgb, 0, 1).copy().reshape(-1)
        col[: len(bits)] = (col[: len(bits)] & 0xFE) | bits
        im = Image.fromarray(np.swapaxes(col.reshape(w, h, 3), 0, 1).copy(), "RGB")
    b = io.BytesIO()
    im.save(b, "PNG")
    return b.getvalue()


@pytest.mark.parametrize("mode", ["alpha", "rgb"])
@pytest.mark.parametrize("compressed", [False, True])
def test_stealth_roundtrip(mode, compressed):
    text = "a red mug\nNegative prompt: blur\nSteps: 20, Sampler: Euler, Seed: 1, Model: mugModel_v1"
    r = run_bytes(stealth_png(text, compressed, mode))
    [f] = r.findings
    assert f.details["model"] == "mugModel_v1"
    assert mode in f.details["carrier"]
    assert f.details["parameters"] == text


def test_random_low_bits_are_not_stealth():
    rng = np.random.default_rng(7)
    im = Image.fromarray(rng.integers(0, 256, (80, 120, 4), dtype=np.uint8), "RGBA")
    b = io.BytesIO()
    im.save(b, "PNG")
    assert run_bytes(b.getvalue()).findings == []


def text_png(**chunks) -> bytes:
    info = PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    b = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 150)).save(b, "PNG", pnginfo=info)
    return b.getvalue()


def test_midjourney_description():
    data = text_png(Author="someone", Description="a mug with a crack --ar 3:2 Job ID: 7a3bd1e2-0f4c-4d7e-9b1a-1234567890ab")
    assert tools(run_bytes(data)) == ["Midjourney"]
    assert run_bytes(text_png(Description="a mug on a table")).findings == []


def test_a1111_needs_real_parameters():
    assert run_bytes(text_png(parameters="just a caption")).findings == []
    data = text_png(parameters="a mug\nNegative prompt: x\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 5")
    assert "Stable Diffusion web UI" in tools(run_bytes(data))[0]
