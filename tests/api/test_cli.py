"""Service commands, run as `python -m claimlens.api.cli` subprocesses against SQLite and PostgreSQL."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text, update

from claimlens.store import Store
from claimlens.store.models import AuditEntry
from claimlens.store.testing import World, make_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "claimlens.api.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, input=stdin, timeout=120)


def where(tmp_path, url):
    return ["--data-dir", str(tmp_path / "data"), "--database-url", url]


def test_db_upgrade_on_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    r = cli("db", "upgrade", *where(tmp_path, url))
    from alembic.script import ScriptDirectory

    from claimlens.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert r.returncode == 0 and f"revision {head}" in r.stdout, r.stderr
    r = cli("db", "upgrade", *where(tmp_path, url))  # again: nothing to do
    assert r.returncode == 0


def test_audit_verify_detects_edit_and_deletion(tmp_path, db_url):
    st = Store(make_settings(tmp_path, db_url))
    World(st)
    st.close()
    r = cli("audit", "verify", *where(tmp_path, db_url))
    assert r.returncode == 0 and "audit chain ok" in r.stdout, r.stderr
    st = Store(make_settings(tmp_path, db_url))
    with st.db.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(reason="nothing happened"))
    r = cli("audit", "verify", *where(tmp_path, db_url))
    assert r.returncode == 1 and "BROKEN at entry 4" in r.stderr and "nothing happened" in r.stderr
    with st.db.session() as s:  # repair the content but delete entry 6
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(reason=""))
        s.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    r = cli("audit", "verify", *where(tmp_path, db_url))
    assert r.returncode == 1 and "BROKEN at entry 6" in r.stderr and "missing" in r.stderr
    st.close()


def test_keys_rotate_reencrypts_and_old_ciphertexts_still_read(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    st = Store(make_settings(tmp_path, url), upgrade=True)
    w = World(st)
    admin = w.actors["admin"]
    assert st.service.buyer_pii(admin, w.buyer_x)["address"] == "Hauptstr. 1, Berlin"
    st.close()
    r = cli("keys", "rotate", "--new-key", *where(tmp_path, url))
    assert r.returncode == 0 and "new data key k2" in r.stdout and "re-encrypted 5 value(s) under key k2" in r.stdout
    st = Store(make_settings(tmp_path, url))
    with st.db.read() as s:
        raw = [row[0] for row in s.execute(text("SELECT phone_enc FROM buyers"))]
    assert all(v.startswith("v1$k2$") for v in raw)
    assert st.service.buyer_pii(admin, w.buyer_x)["phone"] == "+49 151 1234 5678"
    st.close()


def test_credit_export_import_cli(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    ua, ub = f"sqlite:///{a / 'a.db'}", f"sqlite:///{b / 'b.db'}"
    st = Store(make_settings(a, ua), upgrade=True)
    w = World(st)
    from claimlens.store.testing import photo, post_claim  # noqa: F401

    from claimlens.store.service import ClaimInput
    from claimlens.store.uploads import ingest
    import io

    f = ingest(st.blobs, io.BytesIO(photo(3)), "c.jpg", max_bytes=10**7, max_pixels=10**8, max_video_seconds=10)
    st.service.create_claim(w.actors["buyer_x"], ClaimInput("O-1", w.product_a, "refund_only", "5"), [f])
    consortium = st.settings.load_secrets()["consortium_key"]
    st.close()
    env = {"CLAIMLENS_CONSORTIUM_KEY": consortium}
    out = tmp_path / "export.json"
    r = cli("credit", "export", "-o", str(out), "--data-dir", str(a / "data"), "--database-url", ua, env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert len(doc["records"]) == 1 and doc["records"][0]["claims"] == 1
    r = cli("credit", "import", str(out), "--data-dir", str(b / "data"), "--database-url", ub, env=env)
    assert r.returncode == 1 and "untrusted" in r.stderr
    r = cli("credit", "import", str(out), "--public-key", doc["public_key"], "--data-dir", str(b / "data"),
            "--database-url", ub, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["records"] == 1, r.stderr


def test_user_add_and_demo_seed(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    r = cli("user", "add", "ops", "--role", "admin", "--password-stdin", "--token", *where(tmp_path, url),
            stdin="long-enough-pass\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["token"].startswith("cl_")
    r = cli("demo-seed", *where(tmp_path, url), env={"CLAIMLENS_DETECTORS": "generator_traces,exif"})
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["seeded"] and set(info["claims"]) == {"forged_ai", "demo_claim", "small_clean"}
    st = Store(make_settings(tmp_path, url))
    admin = st.service.login("admin", info["logins"]["admin"])
    states = {k: st.service.claim_detail(admin, cid)["state"] for k, cid in info["claims"].items()}
    st.close()
    assert states["forged_ai"] == "awaiting_merchant" and states["small_clean"] == "approved"
    r = cli("demo-seed", *where(tmp_path, url))
    assert r.returncode == 0 and json.loads(r.stdout)["seeded"] is False
