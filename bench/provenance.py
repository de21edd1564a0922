"""Evaluation of the provenance detectors (exif, xmp, aigc_label, generator_traces, c2pa, sd_watermark).

Runs them over the shared test data (CLAIMLENS_SHARED_DATA, default ../shared/data) and prints, per detector:
AI-generated and edited/tampered files it flags (a finding of medium or above) against the labels in each
folder's SOURCE.txt, and false alarms (medium or above) on real, untouched photos. Then the C2PA invalid
manifests, and a synthetic check of the Stable Diffusion watermark (the shared data has no SD-watermarked file).

    .venv/bin/python -m bench.provenance
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from claimlens.forensics.base import SEVERITIES, load_detectors, run_detector
from claimlens.forensics.evidence import Evidence

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = ["exif", "xmp", "aigc_label", "generator_traces", "c2pa", "sd_watermark"]
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".avif", ".heif"}
C2PA_PLAIN = {"no_manifest.jpg", "IMG_0003.jpg", "P1000827.jpg", "earth_apollo17.jpg", "libpng-test.png",
              "sample1.png", "sample1.webp", "sample1.avif", "sample1.heif", "test.tiff"}
C2PA_INVALID = {"XCA.jpg", "E-sig-CA.jpg", "CIE-sig-CA.jpg", "no_alg.jpg"}
INVALID_CODES = {"c2pa_edited_after_signing", "c2pa_invalid", "c2pa_ingredient_invalid", "c2pa_unreadable"}
RANK = {s: i for i, s in enumerate(SEVERITIES)}


def data_dir() -> Path:
    return Path(os.environ.get("CLAIMLENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def label_of(rel: str) -> str | None:
    """'ai', 'edited', 'real' or None (not counted), from the folder layout described in SOURCE.txt."""
    name = rel.rsplit("/", 1)[-1]
    if "_gt." in name or "/masks_png_from_seg/" in rel or "/Gt/" in rel:
        return None
    if rel.startswith("comfyui_examples/"):
        return None if name == "yosemite_inpaint_example.png" else "ai"
    if rel.startswith("sd-parsers/"):
        return "ai"
    if rel.startswith("CNNDetection/"):
        return "ai" if name == "fake.png" else "real"
    if rel.startswith(("casia2groundtruth/", "IML-ViT/")):
        return "edited"
    if rel.startswith("TruFor/"):
        return "edited" if name.startswith("tampered") else "real"
    if rel.startswith("c2pa-rs/"):
        if name == "ocsp.jpg":
            return "ai"  # Firefly, trainedAlgorithmicMedia
        if name == "XCA.jpg":
            return "edited"  # pixels changed after signing
        return "real" if name in C2PA_PLAIN else None
    if rel.startswith(("multiview/", "solidus_products/")):
        return "real"
    return None


def flagged(result) -> list:
    return [f for f in result.findings if RANK[f.severity] >= RANK["medium"]]


def run_all(root: Path):
    registry = load_detectors()
    dets = {n: registry[n]() for n in DETECTORS}
    rows = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in IMAGE_EXT or not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        label = label_of(rel)
        if label is None and not rel.startswith("c2pa-rs/"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = Evidence.from_path(p)
        except Exception as exc:
            print(f"  skipped {rel}: {exc}")
            continue
        results = {n: run_detector(d, ev) for n, d in dets.items()}
        rows.append((rel, label, results))
    return rows


def report(rows):
    counts = Counter(label for _, label, _ in rows if label)
    print(f"files: {len(rows)}  (AI-generated {counts['ai']}, edited/tampered {counts['edited']}, "
          f"real photos {counts['real']}, other C2PA fixtures {sum(1 for _, l, _ in rows if l is None)})\n")
    head = f"{'detector':<17} {'AI found':>10} {'recall':>7} {'edited found':>13} {'recall':>7} " \
           f"{'false alarms':>13} {'rate':>6} {'ms/file':>8} {'errors':>6}"
    print(head)
    print("-" * len(head))
    fa_codes: dict[str, Counter] = defaultdict(Counter)
    fa_files: dict[str, list] = defaultdict(list)
    for name in DETECTORS + ["any"]:
        hit = Counter()
        secs, errors = 0.0, 0
        for rel, label, results in rows:
            rs = list(results.values()) if name == "any" else [results[name]]
            got = [f for r in rs for f in flagged(r)]
            if name != "any":
                secs += results[name].seconds
                errors += results[name].reason.startswith("internal error")
            if label and got:
                hit[label] += 1
                if label == "real" and name != "any":
                    fa_codes[name].update(f.code for f in got)
                    fa_files[name].append(rel)

        def frac(k):
            return f"{hit[k]}/{counts[k]}", f"{hit[k] / counts[k]:.0%}" if counts[k] else "-"

        a, ar = frac("ai")
        e, er = frac("edited")
        fa, far = frac("real")
        ms = f"{1000 * secs / len(rows):.1f}" if name != "any" else ""
        print(f"{name:<17} {a:>10} {ar:>7} {e:>13} {er:>7} {fa:>13} {far:>6} {ms:>8} "
              f"{errors if name != 'any' else '':>6}")
    print("\nfalse alarms (medium or above on real photos), by finding code:")
    for name in DETECTORS:
        if fa_codes[name]:
            files = ", ".join(sorted({f.split("/")[0] for f in fa_files[name]}))
            print(f"  {name}: {dict(fa_codes[name])}  (folders: {files})")
    print("  (each is a tag the file truly carries: these photos were saved by Photoshop or Lightroom)"
          if fa_codes else "  none")

    print("\nC2PA manifests deliberately invalid (SOURCE.txt): found with an invalid/edited-after-signing finding")
    for rel, _, results in rows:
        name = rel.rsplit("/", 1)[-1]
        if rel.startswith("c2pa-rs/") and name in C2PA_INVALID:
            codes = [f"{f.code}({f.severity})" for f in results["c2pa"].findings if f.code in INVALID_CODES]
            print(f"  {name:<16} {'found' if codes else 'MISSED':<7} {', '.join(codes)}")
    print("\nC2PA digital source types found:")
    for rel, _, results in rows:
        for f in results["c2pa"].findings:
            if f.details.get("digital_source_type"):
                print(f"  {rel.rsplit('/', 1)[-1]:<28} {f.code:<18} {f.severity:<8} {f.details['digital_source_type']}")


def watermark_synthetic(rows, root: Path):
    """Embed each SD mark into the AI images of the data set (ComfyUI outputs) and read it back."""
    from PIL import Image

    from claimlens.forensics.detectors import sd_watermark as W

    carriers = [root / rel for rel, label, _ in rows if label == "ai" and rel.startswith("comfyui_examples/")]
    tally = Counter()
    n = 0
    for p in carriers:
        rgb = np.asarray(Image.open(p).convert("RGB"))
        if rgb.shape[0] * rgb.shape[1] < W.MIN_PIXELS:
            continue
        n += 1
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        for model, mark in W.MARKS.items():
            enc = W.encode(bgr, mark)
            for tag, kw in (("PNG", {"format": "PNG"}),
                            ("JPEG q90 4:4:4", {"format": "JPEG", "quality": 90, "subsampling": 0}),
                            ("JPEG q90 4:2:0", {"format": "JPEG", "quality": 90, "subsampling": 2})):
                b = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(enc[:, :, ::-1])).save(b, **kw)
                dec = np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))
                found = W.check(np.ascontiguousarray(dec[:, :, ::-1]))[model]["found"]
                tally[(model, tag)] += found
    print(f"\nsd_watermark, synthetic: each mark embedded into the {n} ComfyUI images, saved, read back")
    for (model, tag), k in sorted(tally.items()):
        print(f"  {model:<22} {tag:<16} found {k}/{n}")
    real = [r["sd_watermark"] for _, label, r in rows if label == "real" and r["sd_watermark"].applicable]
    low1 = min(r.extra["bit_errors"]["Stable Diffusion 1/2"] for r in real)
    low2 = min(r.extra["bit_errors"]["Stable Diffusion XL"] for r in real)
    print(f"  real photos read: {len(real)}; fewest bit errors seen: {low1}/136 (SD 1/2, alarm at <= "
          f"{W.MAX_ERRORS['Stable Diffusion 1/2']}), {low2}/48 (SDXL, alarm at <= {W.MAX_ERRORS['Stable Diffusion XL']})")


def main():
    root = data_dir()
    if not root.is_dir():
        raise SystemExit(f"shared data not found at {root} (set CLAIMLENS_SHARED_DATA)")
    t0 = time.perf_counter()
    rows = run_all(root)
    report(rows)
    watermark_synthetic(rows, root)
    print(f"\n{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
