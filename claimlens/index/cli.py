"""`claimlens index ...`: add, search, remove, stats, verify, rebuild.

claimlens/cli.py calls `register(subparsers)`; `python -m claimlens.index.cli index ...` also works alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_DIR = os.environ.get("CLAIMLENS_INDEX", "claimlens-index")


def _meta(pairs: list[str]) -> dict:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit(f"--meta expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        out[k] = v
    return out


def _default_id(path: str, data: bytes) -> int:
    """A stable id from the photo's bytes when none is given (63-bit, positive)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") >> 1


def _open(args):
    from .photo_index import PhotoIndex

    return PhotoIndex(args.index, backend=args.backend)


def cmd_add(args) -> int:
    from claimlens.forensics.evidence import Evidence

    if args.id is not None and len(args.paths) > 1:
        raise SystemExit("--id applies to a single photo")
    meta = _meta(args.meta)
    with _open(args) as ix:
        items = []
        for p in args.paths:
            ev = Evidence.from_path(p)
            pid = args.id if args.id is not None else _default_id(p, ev.data)
            items.append((pid, ev, {"path": str(p), **meta}))
        ix.add_many(items)
        ix.save()
        for pid, _, m in items:
            print(f"added {pid} {m['path']}")
    return 0


def cmd_search(args) -> int:
    from claimlens.forensics.evidence import Evidence

    with _open(args) as ix:
        ev = Evidence.from_path(args.path)
        matches = ix.search(ev, k=args.k, exclude_ids=args.exclude or ())
    if args.json:
        print(json.dumps({"path": args.path, "matches": [m.to_dict() for m in matches]}, indent=1))
    elif not matches:
        print("no earlier photo matches")
    else:
        for m in matches:
            t = m.transform
            print(f"{m.photo_id}\tinliers={m.inliers}\tscore={m.score:.2f}\tmirrored={t.mirrored}\t"
                  f"scale={t.scale:.2f}\trotation={t.rotation:.1f}\tcrop={t.crop:.2f}\t{json.dumps(m.meta)}")
    return 0


def cmd_remove(args) -> int:
    with _open(args) as ix:
        gone = [i for i in args.ids if ix.remove(i)]
    for i in args.ids:
        print(f"{'removed' if i in gone else 'not found'} {i}")
    return 0 if len(gone) == len(args.ids) else 1


def cmd_stats(args) -> int:
    with _open(args) as ix:
        print(json.dumps(ix.stats(), indent=1))
    return 0


def cmd_verify(args) -> int:
    with _open(args) as ix:
        problems = ix.verify_integrity()
    for p in problems:
        print(f"problem: {p}")
    print("index is consistent" if not problems else f"{len(problems)} problem(s): run `index rebuild`")
    return 0 if not problems else 5


def cmd_rebuild(args) -> int:
    """Re-index from the stored fingerprints, or afresh from the photos under --from folders."""
    import shutil

    from .photo_index import PhotoIndex

    if args.sources:
        from claimlens.forensics.evidence import read_file

        paths = [p for s in args.sources for p in sorted(Path(s).rglob("*")) if p.is_file()]

        def items():
            for p in paths:
                data = read_file(p)
                yield _default_id(str(p), data), data, {"path": str(p)}

        with PhotoIndex(args.index, backend=args.backend, check=False) as ix:
            n = ix.rebuild(items())
    else:
        # the search files are derived from the table: drop them unread (they may be the corrupt part)
        for name in ("global", "local"):
            shutil.rmtree(Path(args.index) / name, ignore_errors=True)
        with PhotoIndex(args.index, backend=args.backend) as ix:
            ix.save()
            n = ix.count()
    print(f"rebuilt index with {n} photos")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `index` command with its subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("index", help="reused-photo index: add, search, remove, stats, verify, rebuild")
    sub = p.add_subparsers(dest="index_command", required=True)

    def common(sp):
        sp.add_argument("--index", default=DEFAULT_DIR, help=f"index folder (default {DEFAULT_DIR}, env CLAIMLENS_INDEX)")
        sp.add_argument("--backend", default="mih", choices=["mih", "numpy", "faiss"],
                        help="search backend for a new index (an existing index keeps its own)")

    a = sub.add_parser("add", help="index photos")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--id", type=int, help="photo id (default: from the photo's bytes)")
    a.add_argument("--meta", action="append", metavar="KEY=VALUE", help="label stored with the photo, e.g. claim=123")
    common(a)
    a.set_defaults(index_func=cmd_add)

    s = sub.add_parser("search", help="find earlier photos this photo was made from")
    s.add_argument("path", metavar="PATH")
    s.add_argument("--json", action="store_true")
    s.add_argument("-k", type=int, default=5)
    s.add_argument("--exclude", type=int, action="append", metavar="ID", help="ignore this photo id")
    common(s)
    s.set_defaults(index_func=cmd_search)

    r = sub.add_parser("remove", help="drop photos by id")
    r.add_argument("ids", nargs="+", type=int, metavar="ID")
    common(r)
    r.set_defaults(index_func=cmd_remove)

    st = sub.add_parser("stats", help="counts and segments")
    common(st)
    st.set_defaults(index_func=cmd_stats)

    v = sub.add_parser("verify", help="check checksums and consistency")
    common(v)
    v.set_defaults(index_func=cmd_verify)

    rb = sub.add_parser("rebuild", help="rebuild the search files from the stored fingerprints or from photo folders")
    rb.add_argument("--from", dest="sources", action="append", metavar="DIR", help="re-index every photo under DIR")
    common(rb)
    rb.set_defaults(index_func=cmd_rebuild)

    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from claimlens.forensics.errors import ClaimlensError

    try:
        return args.index_func(args)
    except ClaimlensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="claimlens")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
