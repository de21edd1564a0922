"""Generation metadata that AI image tools write: A1111, ComfyUI, NovelAI, InvokeAI, Fooocus, Midjourney, SwarmUI,
and A1111's "stealth pnginfo" hidden in the low bits of the alpha (or RGB) channel."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np

from ..base import Detector, DetectorResult, register
from ..metadata import classify_software, score_of, text_value, user_comment

MODEL_FILE = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx)$", re.I)
A1111_KEYS = ("Steps:", "Sampler:", "CFG scale:", "Seed:", "Negative prompt:", "Model hash:")
STEALTH_SIGS = {b"stealth_pnginfo": False, b"stealth_pngcomp": True}  # alpha channel; value: gzip
STEALTH_RGB_SIGS = {b"stealth_rgbinfo": False, b"stealth_rgbcomp": True}
MAX_STEALTH_BITS = 8 * 1024 * 1024


def _json(text):
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None


def comfy_models(prompt, workflow=None) -> list[str]:
    """Model files named in a ComfyUI graph (API 'prompt' or UI 'workflow')."""
    found = set()
    if isinstance(prompt, dict):
        for node in prompt.values():
            if isinstance(node, dict):
                for v in (node.get("inputs") or {}).values():
                    if isinstance(v, str) and MODEL_FILE.search(v.strip()):
                        found.add(v.strip().replace("\\", "/").split("/")[-1])
    if not found and isinstance(workflow, dict):
        for node in workflow.get("nodes") or []:
            if isinstance(node, dict):
                for v in node.get("widgets_values") or []:
                    if isinstance(v, str) and MODEL_FILE.search(v.strip()):
                        found.add(v.strip().replace("\\", "/").split("/")[-1])
    return sorted(found)


def _bits_to_bytes(bits: np.ndarray) -> bytes:
    n = len(bits) // 8 * 8
    return np.packbits(bits[:n].astype(np.uint8)).tobytes()


def _column_bits(arr: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Lowest bits in A1111's order: down each column, columns left to right (and R, G, B per pixel)."""
    part = arr[:, :columns] if columns else arr
    t = np.swapaxes(part, 0, 1)
    return (t.reshape(-1) & 1).astype(np.uint8)


def read_stealth(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[str, str] | None:
    """Decode A1111 stealth pnginfo: (mode, text), or None."""
    head = 15 * 8 + 32
    for mode, arr, sigs in (("alpha", alpha, STEALTH_SIGS), ("rgb", rgb, STEALTH_RGB_SIGS)):
        if arr is None:
            continue
        per_col = arr.shape[0] * (3 if arr.ndim == 3 else 1)
        if per_col * arr.shape[1] < head:
            continue
        cols = -(-head // per_col)
        if _bits_to_bytes(_column_bits(arr, cols)[:120]) not in sigs:
            continue  # cheap check before reading the whole image
        hit = _read_stealth_stream(_column_bits(arr), sigs)
        if hit is not None:
            return mode, hit
    return None


def _read_stealth_stream(bits: np.ndarray, sigs: dict) -> str | None:
    sig_len = 15 * 8
    if len(bits) < sig_len + 32:
        return None
    sig = _bits_to_bytes(bits[:sig_len])
    if sig not in sigs:
        return None
    n = int("".join(map(str, bits[sig_len : sig_len + 32])), 2)
    if n <= 0 or n > MAX_STEALTH_BITS or sig_len + 32 + n > len(bits):
        return None
    payload = _bits_to_bytes(bits[sig_len + 32 : sig_len + 32 + n])
    try:
        if sigs[sig]:
            payload = gzip.decompress(payload)
        return payload.decode("utf-8", "replace")
    except (OSError, EOFError, ValueError):
        return None


@register
class GeneratorTracesDetector(Detector):
    name = "generator_traces"
    weight = 0.0  # findings set the risk through their severity floors

    def run(self, evidence) -> DetectorResult:
        chunks = dict(evidence.text_chunks)
        ex = evidence.exif or {}
        uc = user_comment(ex.get("UserComment"))
        findings = []

        def add(tool, carrier, **details):
            findings.append(self.finding(
                "ai_generator_metadata", "critical",
                f"The photo carries generation settings written by the AI image tool {tool}: "
                "it was made or changed by AI, not taken with a camera.",
                tool=tool, carrier=carrier, **details))

        # ComfyUI: the executed node graph and the UI workflow.
        prompt, workflow = _json(chunks.get("prompt")), _json(chunks.get("workflow"))
        if (isinstance(prompt, dict) and any(isinstance(n, dict) and "class_type" in n for n in prompt.values())) or (
            isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list)
        ):
            add("ComfyUI", "PNG text 'prompt'/'workflow'", models=comfy_models(prompt, workflow),
                nodes=len(prompt) if isinstance(prompt, dict) else None)

        # Fooocus writes 'parameters' as JSON plus a scheme marker.
        params = chunks.get("parameters")
        if "fooocus_scheme" in chunks or (params and '"Fooocus' in params):
            p = _json(params) or {}
            add("Fooocus", "PNG text 'parameters'", model=p.get("base_model") if isinstance(p, dict) else None,
                version=p.get("version") if isinstance(p, dict) else None)
        else:
            for carrier, text in (("PNG text 'parameters'", params), ("EXIF UserComment", uc),
                                  ("JPEG comment", chunks.get("comment"))):
                if text and sum(k in text for k in A1111_KEYS) >= 2:
                    m = re.search(r"Model: ([^,\n]+)", text)
                    add("Stable Diffusion web UI (AUTOMATIC1111 or a fork)", carrier,
                        model=m.group(1).strip() if m else None, parameters=text[:1000])
                    break

        # NovelAI: Software tag and a JSON Comment with sampler settings.
        if (chunks.get("Software") or "").strip().lower() == "novelai" or (
            (c := _json(chunks.get("Comment"))) and isinstance(c, dict) and {"sampler", "steps"} <= c.keys()
            and "uc" in c
        ):
            add("NovelAI", "PNG text 'Software'/'Comment'", source=chunks.get("Source"), title=chunks.get("Title"))

        # InvokeAI: old 'Dream' and 'sd-metadata', newer 'invokeai_metadata' / 'invokeai_graph'.
        inv = [k for k in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream") if k in chunks]
        if inv:
            meta = _json(chunks.get("invokeai_metadata")) or _json(chunks.get("sd-metadata")) or {}
            model = None
            if isinstance(meta, dict):
                model = meta.get("model_weights") or meta.get("model")
                if isinstance(model, dict):
                    model = model.get("name") or model.get("model_name")
            add("InvokeAI", f"PNG text {inv}", model=model if isinstance(model, str) else None)

        # Midjourney: the Description (or EXIF ImageDescription) carries the job id.
        for carrier, text in (("PNG text 'Description'", chunks.get("Description")),
                              ("EXIF ImageDescription", text_value(ex.get("ImageDescription")))):
            if text and re.search(r"Job ID:\s*[0-9a-f-]{8,}", text, re.I):
                add("Midjourney", carrier, description=text[:500])
                break

        # SwarmUI.
        if "sui_image_params" in chunks:
            add("SwarmUI", "PNG text 'sui_image_params'")

        # A 'Software' text chunk naming an AI tool (PNG files carry no EXIF Software tag).
        sw = chunks.get("Software")
        kind = classify_software(sw)
        if kind and kind[0] == "ai" and not any(f.details.get("tool") == "NovelAI" for f in findings):
            add(kind[1], "PNG text 'Software'", software=sw[:200])

        # Stealth pnginfo in pixel low bits (PNG/WebP lossless only: lossy formats destroy it).
        if evidence.format in ("PNG", "WEBP", "TIFF", "BMP"):
            hit = read_stealth(evidence.rgb, evidence.image.alpha)
            if hit is not None:
                mode, text = hit
                m = re.search(r"Model: ([^,\n]+)", text)
                add("Stable Diffusion web UI (stealth pnginfo)", f"hidden in the {mode} channel's lowest bits",
                    model=m.group(1).strip() if m else None, parameters=text[:1000])

        return DetectorResult(self.name, findings=findings, score=score_of(findings))
