"""Detection quality on the generated corpus and on a real AI-inpainting pair.

python -m bench.quality [--seed 1] [--n 160] [--sources all] [--jobs 2]

Per transformation family: AUC of the analysis risk (edited vs unedited claims), false-alarm rate
at the threshold that catches 95 % of edited claims, false alarms at the product's "suspicious"
threshold, mean IoU of the fused mask on edited claims, and accuracy of the reported relation to
each reference. Then per damage kind and blend, per detector, a relation confusion table, and the
ComfyUI SD2-inpainting example. The tables are printed and written to bench/results/quality.md,
one line per case to bench/results/quality_cases.csv. The default n = 160 takes about 2-3 minutes
on 2 idle cores with the detectors of this writing.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from claimlens.forensics.analyze import analyze, mask_image
from claimlens.forensics.evidence import Evidence
from claimlens.forensics.fusion import SUSPICIOUS

from .corpus import Case, encode_png, family, generate, shared_dir
from .metrics import auc, far_at_detection, iou

ROOT = Path(__file__).resolve().parents[1]
GOALS = "goals: AUC >= 0.99, IoU >= 0.7, relation accuracy >= 0.98"


@dataclass
class Row:
    case_id: str
    source: str
    family: str
    edited: bool
    damage: str | None
    blend: str | None
    risk: float
    iou: float | None
    relations: list[tuple[str, str]]  # (truth, reported)
    seconds: float
    detectors: dict[str, tuple[float | None, float | None, float]] = field(default_factory=dict)
    # detector -> (score, IoU of its own map >= 0.5 on edited cases, seconds)
    error: str = ""


def run_case(case: Case, exclude=None) -> Row:
    t0 = time.perf_counter()
    row = Row(case.case_id, case.source, family(case.transform), case.edited, case.damage, case.blend,
              float("nan"), None, [], 0.0)
    try:
        refs = [Evidence.from_bytes(r, name=f"ref{k}") for k, r in enumerate(case.references)]
        claim = Evidence.from_bytes(case.claim, name=case.case_id, references=refs)
        a = analyze(claim, exclude=exclude)
    except Exception as exc:  # a crash is a result too: count it, keep going
        row.error = f"{type(exc).__name__}: {exc}"
        row.seconds = time.perf_counter() - t0
        row.relations = [(t, "error") for t in case.reference_relations]
        return row
    row.seconds = time.perf_counter() - t0
    row.risk = float(a.risk)
    if case.edited:
        pred = mask_image(a) > 0
        row.iou = iou(pred, case.mask) if pred.shape == case.mask.shape else 0.0
    reported = a.references
    by_name = {r.get("path"): r for r in reported}
    for k, truth in enumerate(case.reference_relations):
        r = by_name.get(f"ref{k}", reported[k] if k < len(reported) else {})
        row.relations.append((truth, str(r.get("relation", "missing"))))
    for r in a.results:
        map_iou = None
        if case.edited and r.applicable and r.map is not None and r.map.shape == case.mask.shape:
            map_iou = iou(r.map >= 0.5, case.mask)
        row.detectors[r.detector] = (r.score if r.applicable else None, map_iou, r.seconds)
    return row


# Tables ----------------------------------------------------------------------------------
def fmt(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def summary(rows: list[Row]) -> list[str]:
    pos = [r.risk for r in rows if r.edited and not math.isnan(r.risk)]
    neg = [r.risk for r in rows if not r.edited and not math.isnan(r.risk)]
    ious = [r.iou for r in rows if r.edited and r.iou is not None]
    rels = [t == p for r in rows for t, p in r.relations]
    return [
        str(len(rows)),
        f"{len(pos)}/{len(neg)}",
        fmt(auc(pos, neg)),
        fmt(far_at_detection(pos, neg)),
        fmt(np.mean([x >= SUSPICIOUS for x in neg]) if neg else None),
        fmt(np.mean([x >= SUSPICIOUS for x in pos]) if pos else None),
        fmt(float(np.mean(ious)) if ious else None),
        f"{fmt(float(np.mean(rels)) if rels else None)} ({len(rels)})",
        fmt(float(np.mean([r.seconds for r in rows])), 2),
    ]


SUMMARY_HEADER = ["n", "edited/clean", "AUC", "FAR@95%det", f"FA@{SUSPICIOUS}", f"det@{SUSPICIOUS}",
                  "IoU", "relation acc (refs)", "s/case"]


def corpus_tables(rows: list[Row]) -> str:
    out = []
    groups = defaultdict(list)
    for r in rows:
        groups[r.family].append(r)
    body = [[fam] + summary(groups[fam]) for fam in sorted(groups)]
    with_ref = [r for r in rows if r.family != "no_reference"]
    body.append(["ALL with reference"] + summary(with_ref))
    body.append(["ALL"] + summary(rows))
    out.append("### By transformation\n\n" + table(["transform"] + SUMMARY_HEADER, body))

    for attr in ("damage", "blend"):
        g = defaultdict(list)
        for r in rows:
            if r.edited:
                g[getattr(r, attr)].append(r)
        neg = [r.risk for r in rows if not r.edited and not math.isnan(r.risk)]
        body = []
        for k in sorted(g):
            pos = [r.risk for r in g[k] if not math.isnan(r.risk)]
            ious = [r.iou for r in g[k] if r.iou is not None]
            body.append([k, str(len(g[k])), fmt(auc(pos, neg)),
                         fmt(np.mean([x >= SUSPICIOUS for x in pos]) if pos else None),
                         fmt(float(np.mean(ious)) if ious else None)])
        out.append(f"### Edited claims by {attr} (AUC against all clean claims)\n\n"
                   + table([attr, "n", "AUC", f"det@{SUSPICIOUS}", "IoU"], body))

    names = sorted({d for r in rows for d in r.detectors})
    body = []
    for d in names:
        have = [r for r in rows if d in r.detectors]
        scored = [r for r in have if r.detectors[d][0] is not None]
        pos = [r.detectors[d][0] for r in scored if r.edited]
        neg = [r.detectors[d][0] for r in scored if not r.edited]
        ious = [r.detectors[d][1] for r in have if r.edited and r.detectors[d][1] is not None]
        secs = [r.detectors[d][2] for r in have]
        body.append([d, f"{len(scored)}/{len(have)}", fmt(auc(pos, neg)),
                     fmt(float(np.mean(ious)) if ious else None), f"{len(ious)}",
                     fmt(float(np.median(secs)) if secs else None, 3)])
    out.append("### Per detector (AUC of its own score on the cases where it gave one; IoU of its map >= 0.5)\n\n"
               + table(["detector", "scored/run", "AUC", "map IoU", "maps", "median s"], body))

    conf = Counter((t, p) for r in rows for t, p in r.relations)
    truths = ["derived", "same_item", "unrelated"]
    preds = sorted({p for _, p in conf} | set(truths))
    body = [[t] + [str(conf.get((t, p), 0)) for p in preds] for t in truths]
    out.append("### Reference relations (rows: truth, columns: reported)\n\n" + table(["truth"] + preds, body))

    errors = [r for r in rows if r.error]
    if errors:
        out.append(f"{len(errors)} cases raised: " + "; ".join(f"{r.case_id}: {r.error}" for r in errors[:5]))
    return "\n\n".join(out)


# The real inpainting example ---------------------------------------------------------------
def _locate(screen_gray: np.ndarray, photo_gray: np.ndarray, box, scales=np.arange(0.15, 0.55, 0.002)):
    """Where (x, y, w, h) a scaled copy of the photo sits inside `box` of the screenshot."""
    x0, y0, x1, y1 = box
    sub = screen_gray[y0:y1, x0:x1]
    best = None
    for s in scales:
        t = cv2.resize(photo_gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        if t.shape[0] >= sub.shape[0] or t.shape[1] >= sub.shape[1]:
            break
        r = cv2.matchTemplate(sub, t, cv2.TM_CCOEFF_NORMED)
        _, v, _, loc = cv2.minMaxLoc(r)
        if best is None or v > best[0]:
            best = (v, (loc[0] + x0, loc[1] + y0, t.shape[1], t.shape[0]))
    return best


def inpaint_cases() -> list[tuple[str, bytes, bytes, np.ndarray, float]]:
    """ComfyUI's SD2-inpainting example (a screenshot of the UI with the output in the SaveImage node).

    Returns (name, claim bytes, reference bytes, truth mask, match score) for
      - the output image cut out of the screenshot at its own pixels, and
      - the whole UI screenshot (it also shows the input, with the masked area greyed).
    """
    d = shared_dir() / "comfyui_examples" / "inpaint"
    src, out = d / "yosemite_inpaint_example.png", d / "inpaint_example.png"
    if not (src.is_file() and out.is_file()):
        return []
    rgba = np.asarray(Image.open(src).convert("RGBA"))
    ref_rgb = np.ascontiguousarray(rgba[..., :3])
    hole = rgba[..., 3] < 128  # transparent = regenerated
    screen = np.asarray(Image.open(out).convert("RGB"))
    sg = cv2.cvtColor(screen, cv2.COLOR_RGB2GRAY).astype(np.float32)
    pg = cv2.cvtColor(ref_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    H, W = sg.shape
    # search areas: the SaveImage node (top right) and the LoadImage node (bottom left)
    out_v, (x, y, w, h) = _locate(sg, pg, (int(W * 0.85), int(H * 0.3), W, int(H * 0.55)))
    in_v, (xi, yi, wi, hi) = _locate(sg, pg, (int(W * 0.03), int(H * 0.63), int(W * 0.26), H))

    def fit(mask, size):
        return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5

    ref = encode_png(ref_rgb)
    cut = np.ascontiguousarray(screen[y:y + h, x:x + w])
    cases = [("SD2 inpaint output (cut out)", encode_png(cut), ref, fit(hole, (w, h)), out_v)]
    whole = np.zeros((H, W), bool)
    whole[y:y + h, x:x + w] = fit(hole, (w, h))
    whole[yi:yi + hi, xi:xi + wi] |= fit(hole, (wi, hi))
    cases.append(("ComfyUI screenshot (whole)", out.read_bytes(), ref, whole, min(out_v, in_v)))
    return cases


def inpaint_table(exclude=None) -> str:
    cases = inpaint_cases()
    if not cases:
        return "### Real AI inpainting (ComfyUI SD2 example)\n\nnot found under the shared data folder"
    body = []
    for name, claim_bytes, ref_bytes, truth, match in cases:
        t0 = time.perf_counter()
        ref = Evidence.from_bytes(ref_bytes, name="yosemite_input")
        a = analyze(Evidence.from_bytes(claim_bytes, name=name, references=[ref]), exclude=exclude)
        pred = mask_image(a) > 0
        rel = a.references[0].get("relation", "unknown") if a.references else "missing"
        body.append([name, f"{truth.shape[1]}x{truth.shape[0]}", fmt(match, 2), fmt(a.risk), a.verdict,
                     fmt(iou(pred, truth)), f"{rel} (truth: derived)", fmt(time.perf_counter() - t0, 2)])
    return ("### Real AI inpainting (ComfyUI SD2 example; reference = the RGB input, truth = its alpha hole)\n\n"
            + table(["claim", "size", "locate r", "risk", "verdict", "IoU", "relation", "s"], body))


# Main ------------------------------------------------------------------------------------
def _worker(args):
    case, exclude = args
    return run_case(case, exclude)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Detection quality on the generated corpus.")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=160)
    ap.add_argument("--sources", default="all", choices=("all", "skimage", "shared"))
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes (default: 2, or 1 on a single core)")
    ap.add_argument("--exclude", action="append", default=None, help="leave a detector out (repeatable)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "quality.md"))
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    rows: list[Row] = []
    cases = generate(a.seed, a.n, a.sources)
    if a.jobs > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(a.jobs) as pool:
            for row in pool.imap(_worker, ((c, a.exclude) for c in cases)):
                rows.append(row)
                _progress(len(rows), a.n, t0)
    else:
        for c in cases:
            rows.append(run_case(c, a.exclude))
            _progress(len(rows), a.n, t0)
    print(file=sys.stderr)

    head = (f"## claimlens quality: corpus seed {a.seed}, n {a.n}, sources {a.sources}\n\n"
            f"{GOALS}. FAR@95%det = share of clean claims flagged at the risk threshold that catches 95 % of "
            f"edited ones; FA/det@{SUSPICIOUS} = share flagged at the 'suspicious' verdict threshold.")
    text = "\n\n".join([head, corpus_tables(rows), inpaint_table(a.exclude),
                        f"total {time.perf_counter() - t0:.0f} s"]) + "\n"
    print(text)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    write_cases(rows, out.with_name(out.stem + "_cases.csv"))
    print(f"written to {out} and {out.stem}_cases.csv")
    return 0


def write_cases(rows: list[Row], path: Path) -> None:
    """One line per case, to find the failures behind a number."""
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "source", "transform", "edited", "damage", "blend", "risk", "iou",
                    "relations_truth", "relations_reported", "seconds", "error"])
        for r in rows:
            w.writerow([r.case_id, r.source, r.family, int(r.edited), r.damage or "", r.blend or "",
                        fmt(r.risk, 4), fmt(r.iou), " ".join(t for t, _ in r.relations),
                        " ".join(p for _, p in r.relations), fmt(r.seconds, 2), r.error])


def _progress(i, n, t0):
    if sys.stderr.isatty() or i % 10 == 0 or i == n:
        print(f"\r{i}/{n} cases, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
