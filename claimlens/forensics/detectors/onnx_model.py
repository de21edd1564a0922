"""onnx_model: learned AI-generation classifiers plugged in as ONNX files with a model card.

Models are found in CLAIMLENS_ONNX_MODELS (paths to .onnx files or folders, separated by
os.pathsep) and in the models folder (CLAIMLENS_MODELS_DIR, default the package's
models/onnx/). Each model needs a card beside it: `<stem>.json`, `<stem>.yaml`/`.yml`, or
`<file>.onnx.json`. Card fields:

    name            shown in findings (default: the file stem)
    input_size      [height, width]; default: the model's fixed input size
    channel_order   "RGB" (default) or "BGR"
    layout          "NCHW" (default) or "NHWC"
    scale           pixels are divided by this first (default 255.0)
    mean, std       per channel, after scaling (default 0 and 1)
    crop            "resize" (whole photo stretched, default), "center" (centre crop of the
                    shorter side) or "tiles" (up to max_tiles crops at input size, averaged)
    max_tiles       for crop = "tiles" (default 4)
    output          which output tensor, by name or index (default 0)
    ai_index        index of the "AI-generated" value in that output (default: last)
    output_type     "logits" (softmax over the classes, sigmoid for a single value) or
                    "probabilities" (used as they are)
    threshold       probability above which the model's verdict is a finding (default 0.5)
    weight          scales this model's score (default 1.0)

A broken model or card is reported in the result, never raised.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..base import DetectorResult, Detector, register

ENV_MODELS = "CLAIMLENS_ONNX_MODELS"
ENV_DIR = "CLAIMLENS_MODELS_DIR"
ENV_THREADS = "CLAIMLENS_ONNX_THREADS"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "models" / "onnx"


class ModelError(Exception):
    """A model file or its card cannot be used."""


@dataclass
class Card:
    name: str
    input_size: tuple[int, int] | None = None
    channel_order: str = "RGB"
    layout: str = "NCHW"
    scale: float = 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop: str = "resize"
    max_tiles: int = 4
    output: int | str = 0
    ai_index: int = -1
    output_type: str = "logits"
    threshold: float = 0.5
    weight: float = 1.0


def find_card(model: Path) -> Path | None:
    for cand in (
        model.with_suffix(".json"),
        model.with_suffix(".yaml"),
        model.with_suffix(".yml"),
        model.with_name(model.name + ".json"),
    ):
        if cand.is_file():
            return cand
    return None


def _triple(v, what: str) -> tuple[float, float, float]:
    if isinstance(v, (int, float)):
        v = [v] * 3
    if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(isinstance(x, (int, float)) for x in v):
        raise ModelError(f"card field {what!r} must be a number or a list of 3 numbers, got {v!r}")
    return tuple(float(x) for x in v)


def load_card(model: Path) -> Card:
    path = find_card(model)
    if path is None:
        raise ModelError(f"no model card beside {model.name} (expected {model.stem}.json or {model.stem}.yaml)")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text)
    except Exception as exc:
        raise ModelError(f"model card {path.name} cannot be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"model card {path.name} must be a mapping of fields")
    known = set(Card.__dataclass_fields__)
    unknown = sorted(set(raw) - known - {"description", "license", "source", "labels", "notes"})
    if unknown:
        raise ModelError(f"model card {path.name}: unknown field(s) {', '.join(unknown)}")
    card = Card(name=str(raw.get("name") or model.stem))
    try:
        if raw.get("input_size") is not None:
            s = raw["input_size"]
            if isinstance(s, int):
                s = [s, s]
            if not (isinstance(s, (list, tuple)) and len(s) == 2 and all(isinstance(x, int) and x > 0 for x in s)):
                raise ModelError(f"card field 'input_size' must be [height, width], got {s!r}")
            card.input_size = (int(s[0]), int(s[1]))
        card.channel_order = str(raw.get("channel_order", "RGB")).upper()
        if card.channel_order not in ("RGB", "BGR"):
            raise ModelError(f"card field 'channel_order' must be RGB or BGR, got {card.channel_order!r}")
        card.layout = str(raw.get("layout", "NCHW")).upper()
        if card.layout not in ("NCHW", "NHWC"):
            raise ModelError(f"card field 'layout' must be NCHW or NHWC, got {card.layout!r}")
        card.scale = float(raw.get("scale", 255.0))
        card.mean = _triple(raw.get("mean", 0.0), "mean")
        card.std = _triple(raw.get("std", 1.0), "std")
        if card.scale == 0 or any(s == 0 for s in card.std):
            raise ModelError("card fields 'scale' and 'std' must not be 0")
        card.crop = str(raw.get("crop", "resize")).lower()
        if card.crop not in ("resize", "center", "tiles"):
            raise ModelError(f"card field 'crop' must be resize, center or tiles, got {card.crop!r}")
        card.max_tiles = max(1, int(raw.get("max_tiles", 4)))
        out = raw.get("output", 0)
        if not isinstance(out, (int, str)):
            raise ModelError(f"card field 'output' must be a name or an index, got {out!r}")
        card.output = out
        card.ai_index = int(raw.get("ai_index", -1))
        card.output_type = str(raw.get("output_type", "logits")).lower()
        if card.output_type in ("logit",):
            card.output_type = "logits"
        if card.output_type in ("probability", "probs", "prob"):
            card.output_type = "probabilities"
        if card.output_type not in ("logits", "probabilities"):
            raise ModelError(f"card field 'output_type' must be logits or probabilities, got {card.output_type!r}")
        card.threshold = float(raw.get("threshold", 0.5))
        card.weight = float(raw.get("weight", 1.0))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model card {path.name}: {exc}") from None
    return card


def configured_models() -> list[Path]:
    """Model files named in the environment, then those in the models folder."""
    out: list[Path] = []
    entries = [e for e in os.environ.get(ENV_MODELS, "").split(os.pathsep) if e.strip()]
    folder = Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)
    for e in entries + ([str(folder)] if folder.is_dir() else []):
        p = Path(e.strip()).expanduser()
        if p.is_dir():
            out += sorted(p.glob("*.onnx"))
        else:
            out.append(p)  # a missing file is reported when it is loaded
    seen, uniq = set(), []
    for p in out:
        key = str(p.resolve()) if p.exists() else str(p)
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


class Model:
    """One ONNX classifier and its card, ready to score photos."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        self.path = path
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        self.card = load_card(path)
        opts = ort.SessionOptions()
        threads = int(os.environ.get(ENV_THREADS, "1") or 1)
        opts.intra_op_num_threads = max(1, min(2, threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"ONNX model {path.name} cannot be loaded: {type(exc).__name__}: {str(exc)[:300]}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"model {path.name} has {len(inputs)} inputs; one image input is expected")
        self.input = inputs[0]
        shape = list(self.input.shape)
        if len(shape) != 4:
            raise ModelError(f"model {path.name} input has shape {shape}; a 4-D image tensor is expected")
        hw = (shape[2], shape[3]) if self.card.layout == "NCHW" else (shape[1], shape[2])
        ch = shape[1] if self.card.layout == "NCHW" else shape[3]
        if isinstance(ch, int) and ch != 3:
            raise ModelError(f"model {path.name} input has {ch} channels in layout {self.card.layout}; 3 expected")
        fixed = tuple(hw) if all(isinstance(x, int) and x > 0 for x in hw) else None
        if self.card.input_size is None:
            if fixed is None:
                raise ModelError(f"model {path.name} has a dynamic input size; give 'input_size' in its card")
            self.card.input_size = fixed
        elif fixed is not None and fixed != self.card.input_size:
            raise ModelError(f"card input_size {list(self.card.input_size)} does not match the model's {list(fixed)}")
        self.batch_fixed = isinstance(shape[0], int) and shape[0] > 0
        outputs = [o.name for o in self.session.get_outputs()]
        out = self.card.output
        if isinstance(out, int):
            if not -len(outputs) <= out < len(outputs):
                raise ModelError(f"card output index {out} but the model has {len(outputs)} output(s)")
            self.output = outputs[out]
        elif out in outputs:
            self.output = out
        else:
            raise ModelError(f"card output {out!r} is not one of the model's outputs {outputs}")

    def tensors(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = self.card.input_size
        H, W = rgb.shape[:2]
        crops = []
        if self.card.crop == "resize":
            crops.append(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if H * W > h * w else cv2.INTER_LINEAR))
        elif self.card.crop == "center":
            s = min(H, W) / min(h, w)
            ch, cw = min(H, int(round(h * s))), min(W, int(round(w * s)))
            y, x = (H - ch) // 2, (W - cw) // 2
            crops.append(cv2.resize(rgb[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA))
        else:  # tiles at native resolution, spread over the photo
            if H < h or W < w:
                rgb = cv2.resize(rgb, (max(W, w), max(H, h)), interpolation=cv2.INTER_LINEAR)
                H, W = rgb.shape[:2]
            ny, nx = max(1, H // h), max(1, W // w)
            ys = np.linspace(0, H - h, ny).astype(int)
            xs = np.linspace(0, W - w, nx).astype(int)
            pos = [(y, x) for y in ys for x in xs]
            pick = np.linspace(0, len(pos) - 1, min(len(pos), self.card.max_tiles)).round().astype(int)
            crops += [rgb[pos[i][0] : pos[i][0] + h, pos[i][1] : pos[i][1] + w] for i in sorted(set(pick))]
        out = []
        for c in crops:
            x = c.astype(np.float32)
            if self.card.channel_order == "BGR":
                x = x[:, :, ::-1]
            x = (x / self.card.scale - np.array(self.card.mean, np.float32)) / np.array(self.card.std, np.float32)
            if self.card.layout == "NCHW":
                x = x.transpose(2, 0, 1)
            out.append(np.ascontiguousarray(x[None], dtype=np.float32))
        return out

    def probability(self, rgb: np.ndarray) -> float:
        """Probability that the photo is AI-generated, averaged over the crops."""
        probs = []
        for x in self.tensors(rgb):
            try:
                y = self.session.run([self.output], {self.input.name: x})[0]
            except Exception as exc:
                raise ModelError(f"model {self.path.name} failed to run: {type(exc).__name__}: {str(exc)[:300]}") from None
            y = np.asarray(y, dtype=np.float64).reshape(-1)
            if y.size == 0:
                raise ModelError(f"model {self.path.name} gave an empty output")
            if not -y.size <= self.card.ai_index < y.size:
                raise ModelError(f"card ai_index {self.card.ai_index} but the model output has {y.size} value(s)")
            if self.card.output_type == "logits":
                if y.size == 1:
                    p = 1.0 / (1.0 + np.exp(-y[0]))
                else:
                    e = np.exp(y - y.max())
                    p = (e / e.sum())[self.card.ai_index]
            else:
                p = y[self.card.ai_index]
            if not np.isfinite(p):
                raise ModelError(f"model {self.path.name} gave a non-finite output")
            probs.append(float(np.clip(p, 0.0, 1.0)))
        return float(np.mean(probs))


_cache: dict[tuple, Model] = {}
_cache_lock = threading.Lock()


def load_model(path: Path) -> Model:
    """A model, cached while neither the file nor its card changes."""
    card = find_card(path)
    def stamp(p):
        if p is None or not p.is_file():
            return None
        st = p.stat()
        return (st.st_mtime_ns, st.st_size)

    key = (str(path), stamp(path), str(card), stamp(card))
    with _cache_lock:
        m = _cache.get(key)
    if m is None:
        m = Model(path)
        with _cache_lock:
            _cache[key] = m
    return m


@register
class OnnxModel(Detector):
    name = "onnx_model"
    weight = 1.0

    def run(self, evidence) -> DetectorResult:
        paths = configured_models()
        if not paths:
            return self.not_applicable(
                f"no ONNX model configured (set {ENV_MODELS} to model files or put a model and its card in {DEFAULT_DIR})"
            )
        models, errors, findings = [], [], []
        for p in paths:
            try:
                m = load_model(p)
                prob = m.probability(evidence.rgb)
            except ModelError as exc:
                errors.append({"model": str(p), "error": str(exc)})
                findings.append(self.finding("model_error", "info", str(exc), model=str(p)))
                continue
            except Exception as exc:  # never let one model stop the others
                msg = f"model {p.name} failed: {type(exc).__name__}: {str(exc)[:300]}"
                errors.append({"model": str(p), "error": msg})
                findings.append(self.finding("model_error", "info", msg, model=str(p)))
                continue
            c = m.card
            models.append(
                {"name": c.name, "path": str(p), "probability": round(prob, 4), "threshold": c.threshold, "weight": c.weight}
            )
            if prob >= c.threshold:
                sev = "high" if prob >= max(0.9, c.threshold) else "medium"
                findings.append(
                    self.finding(
                        "model_ai_generated",
                        sev,
                        f"model {c.name} rates the photo AI-generated (p={prob:.2f})",
                        model=c.name,
                        probability=round(prob, 4),
                        threshold=c.threshold,
                    )
                )
        if not models:
            reason = "; ".join(e["error"] for e in errors)
            return DetectorResult(self.name, findings=findings, applicable=False, reason=reason, extra={"errors": errors})
        # The strongest model speaks; each model's score scaled by its card weight.
        score = max(min(1.0, max(0.0, x["weight"])) * x["probability"] for x in models)
        return DetectorResult(self.name, findings=findings, score=score, extra={"models": models, "errors": errors})
