"""Service commands: serve, db upgrade, audit verify, demo-seed, keys rotate, credit export/import, user add,
blobs gc.

`register(subparsers)` adds them to the main `claimlens` parser; `python -m claimlens.api.cli ...` runs them alone.
Each command returns its exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _settings(args, **kw):
    from ..store import Settings

    if getattr(args, "data_dir", None):
        kw["data_dir"] = args.data_dir
    if getattr(args, "database_url", None):
        kw["database_url"] = args.database_url
    return Settings.from_env(**kw)


def _store(args, **kw):
    from ..store import Store

    return Store(_settings(args), upgrade=True, job_workers=0, **kw)


def _common(p):
    p.add_argument("--data-dir", help="data folder (default $CLAIMLENS_DATA_DIR or ./data)")
    p.add_argument("--database-url", help="database URL (default $CLAIMLENS_DATABASE_URL or SQLite in the data folder)")


def cmd_serve(args) -> int:
    import uvicorn

    from ..store import Store
    from ..store.migrate import upgrade

    settings = _settings(args)
    # the workers read their settings from the environment
    os.environ["CLAIMLENS_DATA_DIR"] = str(settings.data_dir)
    os.environ["CLAIMLENS_DATABASE_URL"] = settings.database_url
    if args.jobs:
        os.environ["CLAIMLENS_JOBS"] = args.jobs
    if args.job_workers is not None:
        os.environ["CLAIMLENS_JOB_WORKERS"] = str(args.job_workers)
    st = Store(settings, job_workers=0)
    try:
        upgrade(st.db)
        rep = st.service.collect_blobs(settings.blob_gc_grace_s)
        if rep.removed:
            print(f"removed {len(rep.removed)} unreferenced file(s), {rep.removed_bytes / 1e6:.1f} MB, older than "
                  f"{settings.blob_gc_grace_s:.0f} s from {st.blobs.root}", flush=True)
    finally:
        st.close()
    host = f"[{args.host}]" if ":" in args.host else args.host
    db = "SQLite " + str(settings.data_dir) if settings.is_sqlite else "PostgreSQL"
    print(f"claimlens serving on http://{host}:{args.port}  (API docs: http://{host}:{args.port}/docs; {db})",
          flush=True)
    uvicorn.run("claimlens.api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, access_log=args.access_log)
    return 0


def cmd_db_upgrade(args) -> int:
    from ..store.db import Database
    from ..store.migrate import current, upgrade

    db = Database(_settings(args).database_url)
    upgrade(db, args.revision)
    print(f"database at revision {current(db)}")
    db.dispose()
    return 0


def cmd_audit_verify(args) -> int:
    from ..store import audit
    from ..store.db import Database
    from ..store.models import AuditEntry

    db = Database(_settings(args).database_url)
    with db.read() as s:
        r = audit.verify(s)
        if r.ok:
            print(f"audit chain ok: {r.checked} entries")
            return 0
        print(f"audit chain BROKEN at entry {r.first_bad}: {r.reason}", file=sys.stderr)
        e = s.get(AuditEntry, r.first_bad)
        if e is not None:
            print(json.dumps(audit.entry_dict(e), default=str), file=sys.stderr)
    db.dispose()
    return 1


def cmd_demo_seed(args) -> int:
    from ..store.demo import seed_demo

    st = _store(args)
    try:
        info = seed_demo(st, photos_dir=args.photos)
    finally:
        st.close()
    print(json.dumps(info, indent=2))
    return 0


def cmd_keys_rotate(args) -> int:
    settings = _settings(args)
    if args.new_key:
        kid = settings.add_data_key()
        print(f"new data key {kid} is now current")
    from ..store import Store

    st = Store(settings, upgrade=True, job_workers=0)
    try:
        res = st.rotate_keys()
    finally:
        st.close()
    print(f"re-encrypted {res['reencrypted']} value(s) under key {res['current_key']}")
    return 0


def cmd_credit_export(args) -> int:
    from ..cases.workflow import SYSTEM
    from ..store import credit

    st = _store(args)
    try:
        doc = credit.export(st, SYSTEM)
    finally:
        st.close()
    text = json.dumps(doc, indent=1)
    if args.out in (None, "-"):
        print(text)
    else:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"{len(doc['records'])} record(s) written to {args.out}; public key {doc['public_key']}",
              file=sys.stderr)
    return 0


def cmd_credit_import(args) -> int:
    from ..cases.errors import DomainError
    from ..cases.workflow import SYSTEM
    from ..store import credit

    with open(args.file) as f:
        doc = json.load(f)
    st = _store(args)
    try:
        res = credit.import_doc(st, SYSTEM, doc, trusted=args.public_key or [])
    except DomainError as exc:
        print(f"import refused: {exc}", file=sys.stderr)
        return 1
    finally:
        st.close()
    print(json.dumps(res))
    return 0


def cmd_user_add(args) -> int:
    from ..cases.errors import DomainError
    from ..cases.workflow import SYSTEM

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else args.password
    st = _store(args)
    try:
        uid = st.service.create_user(SYSTEM, args.username, password, args.role, args.merchant_id, args.buyer_id)
        out = {"user_id": uid}
        if args.token:
            out["token"] = st.service.issue_token(SYSTEM, uid, "cli")
    except DomainError as exc:
        print(f"cannot add user: {exc}", file=sys.stderr)
        return 1
    finally:
        st.close()
    print(json.dumps(out))
    return 0


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds from 90, 90s, 30m, 1h, 2d."""
    t = text.strip().lower()
    try:
        v = float(t[:-1]) * UNITS[t[-1]] if t and t[-1] in UNITS else float(t)
    except ValueError:
        v = -1.0
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 90s, 30m, 1h, 2d)")
    return v


def cmd_blobs_gc(args) -> int:
    from ..store import Store

    st = Store(_settings(args), upgrade=True, job_workers=0)
    try:
        rep = st.service.collect_blobs(args.older_than, dry_run=args.dry_run)
    finally:
        st.close()
    verb = "would remove" if args.dry_run else "removed"
    for name, size in rep.removed:
        print(f"{verb} {name} ({size} bytes)")
    print(f"{verb} {len(rep.removed)} file(s), {rep.removed_bytes} bytes ({rep.temp_removed} unfinished upload(s)); "
          f"kept {rep.kept_referenced} referenced, {rep.kept_recent} younger than {args.older_than:.0f} s")
    return 0


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the claim service (HTTP API; SQLite in the data folder by default)")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="server processes")
    p.add_argument("--jobs", choices=("inprocess", "celery"), help="job backend (default $CLAIMLENS_JOBS or inprocess)")
    p.add_argument("--job-workers", type=int, default=None, help="analysis threads per process (0: queue only)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--no-access-log", dest="access_log", action="store_false")
    p.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply the migrations")
    _common(p)
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade)

    au = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    p = au.add_parser("verify", help="check the hash chain (exit 1 and the first bad entry when broken)")
    _common(p)
    p.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("demo-seed", help="demo merchant, products, analysed claims and log-ins")
    _common(p)
    p.add_argument("--photos", help="folder with listing.jpg, packing.jpg, claim.jpg (default: scikit-image photos)")
    p.set_defaults(func=cmd_demo_seed)

    ks = sub.add_parser("keys", help="personal-data encryption keys").add_subparsers(dest="keys_command", required=True)
    p = ks.add_parser("rotate", help="re-encrypt personal data under the current key")
    _common(p)
    p.add_argument("--new-key", action="store_true", help="first make a new current key (keys kept in the data folder)")
    p.set_defaults(func=cmd_keys_rotate)

    cr = sub.add_parser("credit", help="buyer credit records shared across platforms").add_subparsers(
        dest="credit_command", required=True)
    p = cr.add_parser("export", help="signed export of keyed hashes, counts and photo fingerprints")
    _common(p)
    p.add_argument("--out", "-o", default="-")
    p.set_defaults(func=cmd_credit_export)
    p = cr.add_parser("import", help="import another platform's signed export")
    _common(p)
    p.add_argument("file")
    p.add_argument("--public-key", action="append", help="trusted issuer key (base64; repeatable)")
    p.set_defaults(func=cmd_credit_import)

    bl = sub.add_parser("blobs", help="stored files").add_subparsers(dest="blobs_command", required=True)
    p = bl.add_parser("gc", help="remove files no claim, product or order references (also run by serve)")
    _common(p)
    p.add_argument("--older-than", type=duration, default=3600.0, metavar="AGE",
                   help="grace period: younger files are kept, so uploads in flight are safe (default 1h)")
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.set_defaults(func=cmd_blobs_gc)

    us = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = us.add_parser("add", help="add a user (prints its id, and an API token with --token)")
    _common(p)
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=("buyer", "merchant", "reviewer", "admin", "platform"))
    p.add_argument("--password")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--merchant-id", type=int)
    p.add_argument("--buyer-id", type=int)
    p.add_argument("--token", action="store_true")
    p.set_defaults(func=cmd_user_add)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="claimlens", description="claimlens service commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
