"""visible_label: a visible "AI generated" label drawn on the photo, read by OCR.

Text detection runs once on the whole photo at a small working size (cheap); only the
boxes near the edges and corners (and a few others when there are not many) are read by
the recogniser, on crops taken from the full-resolution photo. The OCR models come from
the rapidocr-onnxruntime wheel; nothing is downloaded.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path

import cv2
import numpy as np

from ..base import DetectorResult, Detector, register

WORK_SHORT = 480  # short side of the working image for text detection
WORK_LONG_MAX = 1280
EDGE_BAND = 0.2  # a box within this share of the width/height from an edge is "near the edge"
MAX_READ = 16  # boxes read by the recogniser at most
MIN_REC_SCORE = 0.5

_engine = None
_engine_lock = threading.Lock()


def _load_engine():
    """The OCR text detector and recogniser, loaded once from the rapidocr wheel."""
    global _engine
    with _engine_lock:
        if _engine is None:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
            from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
            from rapidocr_onnxruntime.utils import read_yaml
            from rapidocr_onnxruntime.utils.parse_parameters import update_model_path

            root = Path(rapidocr_onnxruntime.__file__).resolve().parent
            cfg = update_model_path(read_yaml(str(root / "config.yaml")))
            for part in ("Det", "Rec"):
                cfg[part]["intra_op_num_threads"] = 1
                cfg[part]["inter_op_num_threads"] = 1
                cfg[part]["use_cuda"] = False
                cfg[part]["use_dml"] = False
            # We size the image ourselves; the detector must not rescale it again.
            cfg["Det"]["limit_type"] = "max"
            cfg["Det"]["limit_side_len"] = 100000
            cfg["Det"]["box_thresh"] = 0.5
            _engine = (TextDetector(cfg["Det"]), TextRecognizer(cfg["Rec"]))
        return _engine


# Text matching --------------------------------------------------------------------------

# "AI" as OCR reads it: AI, Al, A1, A|, A! (after lower-casing); the recogniser also drops a
# thin "I" next to CJK characters or at the end of a line.
_AI = r"a[il1|!]"
_START = r"(?<![a-z0-9])"
_CJK_FIX = str.maketrans({"戍": "成", "城": "成", "仓": "创", "台": "合", "含": "合"})
LABEL_PATTERNS = [
    re.compile(p)
    for p in (
        _START + _AI + r" ?generated",
        r"generated ?(by|with|using) ?(" + _AI + r"(?![a-z])|a$)",
        r"(made|created) ?(with|by|using) ?(" + _AI + r"(?![a-z])|a$)",
        _START + _AI + r" ?(created|synthesi[sz]ed)(?![a-z])",
        _START + r"aigc(?![a-z])",
        _START + r"(" + _AI + r"|a) ?(生成|合成|创作|制作|绘制)",
        r"人工智能 ?(生成|合成|创作)",
        r"由 ?(" + _AI + r"|a) ?生",
        r"[工王土]智能 ?(生成|合成|创作)",
    )
]


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, punctuation (except | and !) to single spaces."""
    t = unicodedata.normalize("NFKC", text).lower().translate(_CJK_FIX)
    t = re.sub(r"[^0-9a-z|!\u3400-\u9fff]+", " ", t)
    return t.strip()


def is_ai_label(text: str) -> bool:
    t = normalise(text)
    return any(p.search(t) for p in LABEL_PATTERNS)


# Geometry ---------------------------------------------------------------------------------


def _side(a: float, b: float, size: float, low: str, high: str) -> str:
    """Which side a span [a, b] of an axis of `size` keeps to: low, high or ''."""
    gap_low, gap_high = a / size, (size - b) / size
    if gap_low < 0.15 and gap_low < 0.5 * gap_high:
        return low
    if gap_high < 0.15 and gap_high < 0.5 * gap_low:
        return high
    c = (a + b) / 2 / size
    return low if c < 1 / 3 else high if c > 2 / 3 else ""


def position_name(box, width: int, height: int) -> str:
    """Where a box [x0, y0, x1, y1] sits: a corner, an edge centre, or 'center'."""
    x0, y0, x1, y1 = box
    v = _side(y0, y1, height, "top", "bottom")
    h = _side(x0, x1, width, "left", "right")
    return "-".join(p for p in (v, h) if p) or "center"


def near_edge(box, width: int, height: int) -> bool:
    x0, y0, x1, y1 = box
    return x0 < EDGE_BAND * width or x1 > (1 - EDGE_BAND) * width or y0 < EDGE_BAND * height or y1 > (1 - EDGE_BAND) * height


def _lines(boxes: list[list[float]]) -> list[list[int]]:
    """Group boxes that sit on one text line, close together, left to right."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][0])
    lines: list[list[int]] = []
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        for line in lines:
            lx0, ly0, lx1, ly1 = boxes[line[-1]]
            hmin = min(y1 - y0, ly1 - ly0)
            overlap = min(y1, ly1) - max(y0, ly0)
            if overlap > 0.5 * hmin and x0 - lx1 < 2.0 * max(y1 - y0, ly1 - ly0):
                line.append(i)
                break
        else:
            lines.append([i])
    return [line for line in lines if len(line) > 1]


def _crop(rgb: np.ndarray, box, pad_frac: float = 0.15, pad_x: float = 0.6) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    pad = pad_frac * (y1 - y0)
    padx = pad_x * (y1 - y0)
    xa, ya = max(0, int(x0 - padx)), max(0, int(y0 - pad))
    xb, yb = min(w, int(np.ceil(x1 + padx))), min(h, int(np.ceil(y1 + pad)))
    crop = rgb[ya:yb, xa:xb, ::-1]  # the recogniser wants BGR
    if crop.shape[0] > 96:  # the recogniser works at 48 px height; shrink big crops first
        s = 96 / crop.shape[0]
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), 96), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def read_labels(rgb: np.ndarray) -> tuple[list[dict], int]:
    """OCR the photo; return every text read near the edges (and a few elsewhere) and the box count."""
    det, rec = _load_engine()
    H, W = rgb.shape[:2]
    scale = WORK_SHORT / min(H, W)
    if max(H, W) * scale > WORK_LONG_MAX:
        scale = WORK_LONG_MAX / max(H, W)
    ww, wh = max(32, int(round(W * scale / 32)) * 32), max(32, int(round(H * scale / 32)) * 32)
    sx, sy = W / ww, H / wh
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = np.ascontiguousarray(cv2.resize(rgb, (ww, wh), interpolation=interp)[:, :, ::-1])  # BGR
    polys, _ = det(small)
    if polys is None or len(polys) == 0:
        return [], 0
    boxes = []
    for p in polys:
        x0, y0 = p.min(0)
        x1, y1 = p.max(0)
        boxes.append([float(x0 * sx), float(y0 * sy), float((x1 + 1) * sx), float((y1 + 1) * sy)])
    # Boxes near an edge first, then the rest by size; read at most MAX_READ.
    keyed = sorted(range(len(boxes)), key=lambda i: (not near_edge(boxes[i], W, H), -(boxes[i][3] - boxes[i][1])))
    keep = [i for i in keyed if (boxes[i][2] - boxes[i][0]) >= 0.5 * (boxes[i][3] - boxes[i][1])][:MAX_READ]
    if not keep:
        return [], len(boxes)
    crops = [_crop(rgb, boxes[i]) for i in keep]
    texts, _ = rec(crops)
    reads = []
    for i, (text, conf) in zip(keep, texts):
        reads.append({"text": text, "score": float(conf), "box": boxes[i], "idx": [i]})
    # Also read whole lines whose words the detector split into several boxes.
    by_idx = {r["idx"][0]: r for r in reads}
    for line in _lines([boxes[i] for i in keep]):
        idx = [keep[j] for j in line]
        parts = [by_idx[i] for i in idx]
        box = [min(boxes[i][0] for i in idx), min(boxes[i][1] for i in idx), max(boxes[i][2] for i in idx), max(boxes[i][3] for i in idx)]
        reads.append(
            {"text": " ".join(p["text"] for p in parts), "score": min(p["score"] for p in parts), "box": box, "idx": idx}
        )
    reads += _reread_fragments(rec, rgb, reads)
    return reads, len(boxes)


# Part of a label read alone: the detector's box often stops where the text's contrast with the
# background drops (e.g. black "AI" over a dark patch next to "生成" over a light one).
FRAGMENT = re.compile(r"生成|合成|创作|制作|绘制|人工智能|generated|created|synthesi[sz]ed|made with|made by")
MAX_REREAD = 4


def _reread_fragments(rec, rgb: np.ndarray, reads: list[dict]) -> list[dict]:
    """Read again, wider and with local contrast evened out, the boxes that hold only part of a label."""
    H, W = rgb.shape[:2]
    todo = [r for r in reads if len(r["idx"]) == 1 and FRAGMENT.search(normalise(r["text"])) and not is_ai_label(r["text"])]
    crops, boxes = [], []
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(1, 4))
    for r in todo[:MAX_REREAD]:
        x0, y0, x1, y1 = r["box"]
        h = y1 - y0
        box = [max(0.0, x0 - 3 * h), y0, min(float(W), x1 + 3 * h), y1]
        crop = _crop(rgb, box, pad_x=0.2)
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        even = cv2.cvtColor(clahe.apply(grey), cv2.COLOR_GRAY2BGR)
        crops += [crop, np.ascontiguousarray(even)]
        boxes += [(box, r), (box, r)]
    if not crops:
        return []
    texts, _ = rec(crops)
    return [{"text": text, "score": float(conf), "box": box, "idx": r["idx"]}
            for (box, r), (text, conf) in zip(boxes, texts)]


@register
class VisibleLabel(Detector):
    name = "visible_label"
    weight = 1.0

    def run(self, evidence) -> DetectorResult:
        rgb = evidence.rgb
        H, W = rgb.shape[:2]
        if min(H, W) < 32:
            return self.not_applicable(f"photo too small for OCR ({W}x{H})")
        reads, n_boxes = read_labels(rgb)
        labels = []
        for r in reads:
            if r["score"] < MIN_REC_SCORE or not is_ai_label(r["text"]):
                continue
            if any(set(r["idx"]) & set(lab["idx"]) for lab in labels):
                continue
            labels.append(r)
        findings = []
        fmap = None
        score = 0.0
        for lab in labels:
            box = [int(round(v)) for v in lab["box"]]
            edge = near_edge(lab["box"], W, H)
            where = position_name(lab["box"], W, H)
            severity = "critical" if edge else "high"
            findings.append(
                self.finding(
                    "visible_ai_label",
                    severity,
                    f'visible AI label "{lab["text"]}" at the {where}' + ("" if edge else " (away from the edges)"),
                    text=lab["text"],
                    box=[box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    corner=where,
                    near_edge=edge,
                    ocr_score=round(lab["score"], 3),
                )
            )
            if fmap is None:
                fmap = np.zeros((H, W), np.float32)
            fmap[max(0, box[1]) : box[3], max(0, box[0]) : box[2]] = 1.0
            score = max(score, 1.0 if edge else 0.8)
        return DetectorResult(
            self.name,
            findings=findings,
            score=score,
            map=fmap,
            extra={"texts": [{"text": r["text"], "score": round(r["score"], 3)} for r in reads], "text_boxes": n_boxes},
        )
