"""Speed and memory per claim: python -m bench.speed [--repeat 7] [--repeat-large 3]

Photo-only pass: the same claim analysed alone (no reference, every photo-only detector), with the time
of each detector; goals every detector <= 0.3 s and the whole pass <= 1 s at 2 MP (judged on p50, the
machine is shared; p95 printed beside it).

One claim with 3 references (the listing it was forged from and two other product photos), made
from real photos upscaled to 2 MP and 12 MP, all JPEG. Each size runs in a fresh subprocess:
wall time of decode + analyze (p50/p95 over repeats, after one untimed warm-up run), peak RSS
(resource.getrusage) and the peak of traced allocations (tracemalloc, one extra run).
Baseline rows from the same processes: decoding alone, and a fixed OpenCV/numpy workload,
so that numbers from a noisy or slower machine can be put side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"2MP": (1632, 1224), "12MP": (4000, 3000)}
GOALS = {"2MP": 0.5, "12MP": 2.0}
PHOTO_ONLY_GOAL = 1.0  # s, whole photo-only pass at 2 MP
DETECTOR_GOAL = 0.3  # s, each detector at 2 MP


def make_inputs(size: tuple[int, int], folder: Path, sources: str = "all") -> list[Path]:
    """claim.jpg (forged from ref0) and ref0..ref2.jpg at `size` (w, h); returns the paths."""
    import cv2

    from .corpus import decode_rgb, encode_jpeg, plan_transform, pools, render_claim

    listing = pools(sources)["listing"]
    # the largest real photos first (Solidus 1360x1190 when the shared folder is there)
    photos = sorted(listing, key=lambda p: (-p.rgb().shape[0] * p.rgb().shape[1], p.name))[:3]
    w, h = size

    def up(rgb):
        return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC)

    refs = [encode_jpeg(up(p.rgb()), 90) for p in photos]
    base = decode_rgb(refs[0])
    rng = np.random.default_rng(0)
    plan = plan_transform("jpeg", h, w, rng)
    plan.update(quality=85, tag="jpeg85")
    claim, _ = render_claim(base, plan, "crack", "feather_alpha", rng)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "claim.jpg"] + [folder / f"ref{k}.jpg" for k in range(3)]
    for p, data in zip(paths, [claim] + refs):
        p.write_bytes(data)
    (folder / "sources.txt").write_text("\n".join(p.name for p in photos))
    return paths


# Child process: one size -------------------------------------------------------------------
def child(folder: Path, repeat: int) -> dict:
    import cv2

    from claimlens.forensics.analyze import analyze
    from claimlens.forensics.base import load_detectors
    from claimlens.forensics.evidence import Evidence

    load_detectors()
    claim_b = (folder / "claim.jpg").read_bytes()
    refs_b = [(folder / f"ref{k}.jpg").read_bytes() for k in range(3)]

    def once():
        refs = [Evidence.from_bytes(b, name=f"ref{k}") for k, b in enumerate(refs_b)]
        return analyze(Evidence.from_bytes(claim_b, name="claim", references=refs))

    def decode_only():
        for b in [claim_b] + refs_b:
            Evidence.from_bytes(b).rgb

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    dec = []
    for _ in range(max(3, repeat)):
        t = time.perf_counter()
        decode_only()
        dec.append(time.perf_counter() - t)
    rss_decode = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    work = []  # fixed workload: blur + sort, independent of claimlens
    img = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    for _ in range(3):
        t = time.perf_counter()
        cv2.GaussianBlur(img, (0, 0), 3)
        np.sort(np.random.default_rng(1).random(2_000_000))
        work.append(time.perf_counter() - t)
    del img

    t = time.perf_counter()
    first = once()
    first_s = time.perf_counter() - t
    times, per_det = [], {}
    for _ in range(repeat):
        t = time.perf_counter()
        a = once()
        times.append(time.perf_counter() - t)
        for r in a.results:
            per_det.setdefault(r.detector, []).append(r.seconds)
    rss_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def photo_only():
        return analyze(Evidence.from_bytes(claim_b, name="claim"))

    photo_only()  # warm-up
    po_times, po_det, po_app = [], {}, {}
    for _ in range(repeat):
        t = time.perf_counter()
        a = photo_only()
        po_times.append(time.perf_counter() - t)
        for r in a.results:
            po_det.setdefault(r.detector, []).append(r.seconds)
            po_app[r.detector] = r.applicable

    tracemalloc.start()
    once()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "pixels": first.claim.width * first.claim.height,
        "times": times, "first": first_s, "decode": dec, "work": work,
        "rss0_kb": rss0, "rss_decode_kb": rss_decode, "rss_run_kb": rss_run,
        "traced_peak": traced_peak, "per_detector": per_det,
        "applicable": {r.detector: r.applicable for r in first.results},
        "photo_only": po_times, "photo_only_detector": po_det, "photo_only_applicable": po_app,
    }


# Parent ----------------------------------------------------------------------------------
def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, float), q)) if xs else float("nan")


def run(sizes, repeat, repeat_large, sources, keep: Path | None) -> str:
    from .quality import table

    tmp = tempfile.TemporaryDirectory(prefix="claimlens-speed-")
    base = keep or Path(tmp.name)
    results = {}
    for name in sizes:
        folder = base / name
        make_inputs(SIZES[name], folder, sources)
        n = repeat if name == "2MP" else repeat_large
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        print(f"{name}: {n} runs ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", "bench.speed", "--child", str(folder), "--repeat", str(n)],
                              capture_output=True, text=True, cwd=ROOT, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{name} run failed:\n{proc.stderr[-3000:]}")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    tmp.cleanup()

    mb = lambda kb: f"{kb / 1024:.0f}"  # noqa: E731  (ru_maxrss is in KiB on Linux)
    rows = []
    for name, r in results.items():
        p50, p95 = pct(r["times"], 50), pct(r["times"], 95)
        rows.append([f"analyze {name} + 3 refs", f"{r['pixels'] / 1e6:.1f}", str(len(r["times"])),
                     f"{p50:.2f}", f"{p95:.2f}", f"{r['first']:.2f}", mb(r["rss_run_kb"]),
                     mb(r["rss_run_kb"] - r["rss_decode_kb"]), f"{r['traced_peak'] / 2**20:.0f}",
                     f"<= {GOALS[name]} s: {'met' if p95 <= GOALS[name] else 'NOT met'}"])
    for name, r in results.items():
        rows.append([f"baseline: decode only {name} (4 photos)", f"{r['pixels'] / 1e6:.1f}", str(len(r["decode"])),
                     f"{pct(r['decode'], 50):.2f}", f"{pct(r['decode'], 95):.2f}", "-", mb(r["rss_decode_kb"]),
                     "-", "-", ""])
    work = [x for r in results.values() for x in r["work"]]
    rows.append(["baseline: fixed workload (blur 12MP + sort 2M)", "-", str(len(work)),
                 f"{pct(work, 50):.2f}", f"{pct(work, 95):.2f}", "-", "-", "-", "-", ""])
    main = table(["what", "MP", "runs", "p50 s", "p95 s", "first run s", "peak RSS MB",
                  "RSS over decode MB", "traced peak MB", "goal (p95)"], rows)

    dets = sorted({d for r in results.values() for d in r["per_detector"]})
    drows = []
    for d in dets:
        cells = [d]
        for name in results:
            xs = results[name]["per_detector"].get(d, [])
            ok = results[name]["applicable"].get(d, False)
            cells += [f"{pct(xs, 50):.3f}" + ("" if ok else " (n/a)"), f"{pct(xs, 95):.3f}"]
        drows.append(cells)
    dhead = ["detector"] + [f"{n} {q}" for n in results for q in ("p50 s", "p95 s")]
    per = table(dhead, drows)
    return (f"## claimlens speed (cpu count {os.cpu_count()}, python {sys.version.split()[0]})\n\n{main}\n\n"
            f"### Per detector (DetectorResult.seconds; n/a = not applicable on this claim)\n\n{per}\n\n"
            f"{photo_only_tables(results)}\n")


def photo_only_tables(results: dict) -> str:
    """The claim analysed alone (no reference): the whole pass and each detector, against the goals at 2 MP."""
    from .quality import table

    rows = []
    for name, r in results.items():
        xs = r.get("photo_only", [])
        goal = ""
        if name == "2MP":
            goal = f"<= {PHOTO_ONLY_GOAL} s: {'met' if pct(xs, 50) <= PHOTO_ONLY_GOAL else 'NOT met'}"
        rows.append([f"photo-only pass {name} (no reference)", f"{r['pixels'] / 1e6:.1f}", str(len(xs)),
                     f"{pct(xs, 50):.2f}", f"{pct(xs, 95):.2f}", goal])
    whole = table(["what", "MP", "runs", "p50 s", "p95 s", "goal (p50)"], rows)
    dets = sorted({d for r in results.values() for d in r.get("photo_only_detector", {})})
    drows = []
    for d in dets:
        cells = [d]
        for name in results:
            xs = results[name].get("photo_only_detector", {}).get(d, [])
            ok = results[name].get("photo_only_applicable", {}).get(d, True)
            cells += [f"{pct(xs, 50):.3f}" + ("" if ok else " (n/a)"), f"{pct(xs, 95):.3f}"]
        if "2MP" in results:
            p50 = pct(results["2MP"].get("photo_only_detector", {}).get(d, []), 50)
            cells.append(f"{'met' if p50 <= DETECTOR_GOAL else 'NOT met'}")
        drows.append(cells)
    dhead = ["detector"] + [f"{n} {q}" for n in results for q in ("p50 s", "p95 s")]
    if "2MP" in results:
        dhead.append(f"<= {DETECTOR_GOAL} s at 2MP (p50)")
    return (f"### Photo-only pass (claim alone, no reference)\n\n{whole}\n\n"
            f"### Photo-only pass per detector\n\n{table(dhead, drows)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Time and memory per claim at 2 MP and 12 MP.")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs at 2 MP (default 7)")
    ap.add_argument("--repeat-large", type=int, default=3, help="timed runs at 12 MP (default 3)")
    ap.add_argument("--sizes", default="2MP,12MP")
    ap.add_argument("--sources", default="all", choices=("all", "skimage", "shared"))
    ap.add_argument("--keep", default=None, help="keep the generated photos in this folder")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "speed.md"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(Path(a.child), a.repeat)))
        return 0
    text = run([s for s in a.sizes.split(",") if s], a.repeat, a.repeat_large, a.sources,
               Path(a.keep) if a.keep else None)
    print(text)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
