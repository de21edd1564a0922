"""Command line: `claimlens analyze`, `claimlens batch`, and the subcommands of the other layers.

Exit codes (documented in the README):
  0 analysed (whatever the verdict)   2 bad command line   3 unusable input image
  4 image above the pixel limit       5 cannot write the outputs   6 batch: some claims failed
  7 the reused-photo index is corrupt (rebuild it)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from . import __version__
from .forensics.errors import ClaimlensError, InputError

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_TOO_LARGE, EXIT_OUTPUT, EXIT_BATCH_PARTIAL = 0, 2, 3, 4, 5, 6


class OutputError(ClaimlensError):
    exit_code = EXIT_OUTPUT


def write_outputs(analysis, out_dir: Path) -> dict:
    """Write mask.png, heatmap.png, report.html and analysis.json; return the JSON document."""
    from .forensics.report import heatmap_png, mask_png, render_html

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        mask_path, heat_path, report_path = out_dir / "mask.png", out_dir / "heatmap.png", out_dir / "report.html"
        mask_path.write_bytes(mask_png(analysis))
        heat_path.write_bytes(heatmap_png(analysis))
        report_path.write_text(render_html(analysis), encoding="utf-8")
        doc = analysis.to_dict(mask_path=mask_path, heatmap_path=heat_path, report_path=report_path)
        (out_dir / "analysis.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write outputs ({exc.strerror or exc})", str(out_dir)) from None
    return doc


def run_analysis(claim: str, references: list[str], out: Path, max_pixels: int | None, index=None, claim_id=None):
    from .forensics import analyze_paths

    analysis = analyze_paths(claim, references, max_pixels=max_pixels)
    if index is not None:
        check_reuse(analysis, index, claim_id or Path(claim).name)
    return analysis, write_outputs(analysis, out)


def photo_id(sha256: str) -> int:
    """A stable positive int64 id for a photo in the index, from its SHA-256."""
    return int(sha256[:15], 16)


def check_reuse(analysis, index, claim_id: str) -> None:
    """Search the reused-photo index, fold the findings into the analysis, then add this photo."""
    from .forensics.base import DetectorResult
    from .index import reuse_findings

    pid = photo_id(analysis.claim.sha256)
    analysis.add_result(DetectorResult("reuse", findings=reuse_findings(analysis.claim, index, exclude_ids=[pid])))
    if pid not in index:
        index.add(pid, analysis.claim, {"claim": claim_id, "path": analysis.claim.name})


def open_index(path: str | None):
    if not path:
        return None
    from .index import PhotoIndex

    return PhotoIndex(path)


def summary_table(doc: dict) -> str:
    lines = [
        f"verdict   {doc['verdict']}",
        f"risk      {doc['risk']:.2f}",
    ]
    for ref in doc["references"]:
        lines.append(
            f"reference {ref['path']}: {ref['relation']} (confidence {ref['confidence']:.2f}, "
            f"edited {100 * ref['edited_fraction']:.1f} %)"
        )
    for i, reg in enumerate(doc["edited_regions"], 1):
        x, y, w, h = reg["bbox"]
        lines.append(f"region {i}  x={x} y={y} w={w} h={h}  {100 * reg['area_fraction']:.1f} % of the item")
    shown = [f for f in doc["findings"] if f["severity"] != "info"]
    if shown:
        lines.append("findings:")
        order = ["critical", "high", "medium", "low"]
        for f in sorted(shown, key=lambda f: order.index(f["severity"])):
            lines.append(f"  [{f['severity']:>8}] {f['message']}  ({f['detector']}/{f['code']})")
    lines.append(f"report    {doc['report_path']}")
    lines.append(f"mask      {doc['mask_path']}")
    lines.append(f"heatmap   {doc['heatmap_path']}")
    return "\n".join(lines)


def cmd_analyze(args) -> int:
    out = Path(args.out)
    try:
        index = open_index(args.index)
        _, doc = run_analysis(args.photo, args.reference or [], out, args.max_pixels, index, args.claim_id)
    except ClaimlensError as exc:
        return report_error(exc, args.json)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(summary_table(doc))
    return EXIT_OK


def report_error(exc: ClaimlensError, as_json: bool) -> int:
    print(f"claimlens: error: {exc}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": str(exc), "path": exc.path, "exit_code": exc.exit_code}, ensure_ascii=False))
    return exc.exit_code


def read_batch(csv_path: Path) -> list[dict]:
    """Rows of claim_id, photo, references (';'-separated); paths relative to the CSV's folder."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read batch file ({exc})", str(csv_path)) from None
    reader = csv.DictReader(text.splitlines())
    missing = {"claim_id", "photo"} - set(reader.fieldnames or [])
    if missing:
        raise InputError(f"batch file lacks column(s) {', '.join(sorted(missing))}", str(csv_path))
    base = csv_path.parent
    rows = []
    for row in reader:
        refs = [r.strip() for r in (row.get("references") or "").split(";") if r.strip()]
        rows.append(
            {
                "claim_id": (row.get("claim_id") or "").strip(),
                "photo": str(base / (row.get("photo") or "").strip()),
                "references": [str(base / r) for r in refs],
            }
        )
    return rows


def cmd_batch(args) -> int:
    from tqdm import tqdm

    try:
        rows = read_batch(Path(args.csv))
        index = open_index(args.index)
    except ClaimlensError as exc:
        return report_error(exc, False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    failed = 0
    with open(out / "results.jsonl", "w", encoding="utf-8") as log:
        for row in tqdm(rows, desc="claims", unit="claim", file=sys.stderr, disable=args.quiet):
            cid = row["claim_id"] or Path(row["photo"]).stem
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cid)
            try:
                _, doc = run_analysis(row["photo"], row["references"], out / safe, args.max_pixels, index, cid)
                line = {"claim_id": cid, **doc}
                counts[doc["verdict"]] = counts.get(doc["verdict"], 0) + 1
            except ClaimlensError as exc:
                failed += 1
                line = {"claim_id": cid, "error": str(exc), "exit_code": exc.exit_code}
                tqdm.write(f"claimlens: claim {cid}: {exc}", file=sys.stderr)
            except Exception as exc:  # one broken claim must not stop the batch
                failed += 1
                line = {"claim_id": cid, "error": f"internal error: {type(exc).__name__}: {exc}", "exit_code": 1}
                tqdm.write(f"claimlens: claim {cid}: internal error {exc}", file=sys.stderr)
            text = json.dumps(line, ensure_ascii=False)
            print(text, flush=True)
            log.write(text + "\n")
    summary = {"claims": len(rows), "failed": failed, **{k: counts.get(k, 0) for k in VERDICTS}}
    print(
        "summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()) + f" (results in {out / 'results.jsonl'})",
        file=sys.stderr,
    )
    return EXIT_BATCH_PARTIAL if failed else EXIT_OK


VERDICTS = ("likely_forged", "suspicious", "no_evidence_of_forgery")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claimlens", description="Forensics and workflow for refund-claim photos.")
    p.add_argument("--version", action="version", version=f"claimlens {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="analyse one claim photo against the merchant's reference photos")
    a.add_argument("photo", help="the claim photo")
    a.add_argument("--reference", "-r", action="append", help="a merchant reference photo (repeatable)")
    a.add_argument("--out", default="claimlens-report", help="folder for report.html, mask.png, heatmap.png")
    a.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    a.add_argument("--max-pixels", type=int, default=None, help="pixel limit per image (default 100 MP)")
    a.add_argument("--index", default=None, help="reused-photo index folder: search it, then add this photo")
    a.add_argument("--claim-id", default=None, help="claim id recorded with the photo in the index")
    a.set_defaults(func=cmd_analyze)

    b = sub.add_parser("batch", help="analyse every claim listed in a CSV (claim_id, photo, references)")
    b.add_argument("csv")
    b.add_argument("--out", required=True)
    b.add_argument("--max-pixels", type=int, default=None)
    b.add_argument("--index", default=None, help="reused-photo index folder: each claim is searched, then added")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_batch)

    for module in ("claimlens.index.cli", "claimlens.api.cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError:
            continue
        mod.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
