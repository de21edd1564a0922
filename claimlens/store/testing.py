"""Pytest fixtures for storage and API tests on SQLite and on the real PostgreSQL server.

Used by tests/store and tests/api (`from claimlens.store.testing import *` in their conftest). PostgreSQL tests
get a fresh database per test, copied from a migrated template made once per session; they skip with the
reason when the server is unreachable.
"""

from __future__ import annotations

import io
import os
import time
import uuid

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

PG_URL = os.environ.get("CLAIMLENS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FAST_DETECTORS = ["generator_traces", "exif", "jpeg_traces"]
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin(url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True, connect_timeout=3)


class PgDatabases:
    """Creates databases on the server (from a migrated template) and drops them again."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.admin = _pg_admin(url)
        self.created: list[str] = []
        self.template = None

    def _url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> str:
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        self.admin.execute(sql)
        self.created.append(name)
        return self._url(name)

    def fresh(self, migrated: bool = True) -> str:
        name = f"claimlens_t_{uuid.uuid4().hex[:12]}"
        if not migrated:
            return self._create(name)
        if self.template is None:
            from .db import Database
            from .migrate import upgrade

            self.template = f"claimlens_tpl_{uuid.uuid4().hex[:12]}"
            db = Database(self._create(self.template))
            upgrade(db)
            db.dispose()
        return self._create(name, self.template)

    def shared(self) -> str:
        """One migrated database for the session, emptied before each test (much faster than creating one)."""
        if getattr(self, "_shared", None) is None:
            self._shared = self.fresh()
        self.reset(self._shared)
        return self._shared

    def reset(self, url: str) -> None:
        import psycopg

        from .models import Base

        u = self.url
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                             dbname=url.rsplit("/", 1)[1]) as conn:  # DELETE: far faster than TRUNCATE here
            conn.execute("UPDATE claim_media SET parent_id = NULL")
            conn.execute("UPDATE packing_evidence SET parent_id = NULL")
            for t in reversed(Base.metadata.sorted_tables):
                conn.execute(f'DELETE FROM "{t.name}"')
            conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, %s)", ("0" * 64,))

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self):
        for name in list(self.created):
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


@pytest.fixture(scope="session")
def pg_databases():
    try:
        pg = PgDatabases(PG_URL)
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {type(exc).__name__}: {exc}")
    yield pg
    pg.close()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        from .db import Database
        from .migrate import upgrade

        url = f"sqlite:///{tmp_path / 'claimlens.db'}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        return
    yield request.getfixturevalue("pg_databases").shared()


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(request, tmp_path_factory):
    """Like db_url, shared by the tests of one module (for read-mostly tests with costly set-up)."""
    if request.param == "sqlite":
        from .db import Database
        from .migrate import upgrade

        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'claimlens.db'}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        return
    pg = request.getfixturevalue("pg_databases")
    url = pg.fresh()
    yield url
    pg.drop(url)


def make_settings(tmp_path, url, **kw):
    from .settings import Settings

    kw.setdefault("job_workers", 0)
    kw.setdefault("detectors", FAST_DETECTORS)
    kw.setdefault("photo_index", False)  # tests that need the reused-photo index turn it on
    return Settings.from_env(data_dir=tmp_path / "data", database_url=url, **kw)


@pytest.fixture
def store(tmp_path, db_url):
    from .core import Store

    st = Store(make_settings(tmp_path, db_url))
    yield st
    st.close()


# Photos --------------------------------------------------------------------------------------------
def photo_array(seed: int = 0, size=(300, 400)) -> np.ndarray:
    """A real photo (scikit-image's coffee), cropped/shifted per seed so each seed is a different photo."""
    from skimage import data

    img = data.coffee() if seed % 2 == 0 else data.chelsea()
    h, w = size
    y, x = (seed * 7) % (img.shape[0] - h + 1), (seed * 13) % (img.shape[1] - w + 1)
    return np.ascontiguousarray(img[y:y + h, x:x + w])


def jpeg_bytes(arr: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def photo(seed: int = 0) -> bytes:
    return jpeg_bytes(photo_array(seed))


def ai_photo(seed: int = 0) -> bytes:
    """A PNG with Stable Diffusion generation settings: the forensic core calls it likely forged."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a broken mug on a table\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, "
                                "Model hash: 6ce0161689")
    buf = io.BytesIO()
    Image.fromarray(photo_array(seed)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def video_bytes(tmp_path, frames: int = 30, seed: int = 0) -> bytes:
    """A short H.264 (or MPEG-4) video written with PyAV, keyframe every 10 frames."""
    import av

    path = tmp_path / f"packing-{seed}.mp4"
    base = photo_array(seed, (240, 320))
    with av.open(str(path), "w") as c:
        try:
            s = c.add_stream("libx264", rate=10)
        except Exception:
            s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.codec_context.gop_size = 10
        for i in range(frames):
            arr = np.roll(base, i * 3, axis=1)
            for pkt in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path.read_bytes()


class World:
    """Two merchants with a product each, two buyers, and a user (with API token) for every role."""

    PASSWORD = "correct horse 1"

    def __init__(self, store, passwords: bool = False):
        from ..cases.workflow import SYSTEM

        svc = store.service
        self.store = store
        self.merchant_a = svc.create_merchant(SYSTEM, "Shop A")
        self.merchant_b = svc.create_merchant(SYSTEM, "Shop B")
        self.buyer_x = svc.create_buyer(SYSTEM, "Xavier", phone="+49 151 1234 5678", address="Hauptstr. 1, Berlin",
                                        id_number="L01X00T47")
        self.buyer_y = svc.create_buyer(SYSTEM, "Yvonne", phone="+33 6 12 34 56 78", id_number="FR-998877")
        self.tokens, self.user_ids = {}, {}
        for name, role, kw in [
            ("merchant_a", "merchant", {"merchant_id": self.merchant_a}),
            ("merchant_b", "merchant", {"merchant_id": self.merchant_b}),
            ("buyer_x", "buyer", {"buyer_id": self.buyer_x}),
            ("buyer_y", "buyer", {"buyer_id": self.buyer_y}),
            ("reviewer", "reviewer", {}),
            ("admin", "admin", {}),
            ("platform", "platform", {}),
        ]:
            # argon2 is slow on purpose: only tests that log in pay for it
            uid = svc.create_user(SYSTEM, name, self.PASSWORD if passwords else None, role, **kw)
            self.user_ids[name] = uid
            self.tokens[name] = svc.issue_token(SYSTEM, uid)
        self.actors = {k: svc.actor_for_token(t) for k, t in self.tokens.items()}
        self.product_a = svc.create_product(self.actors["merchant_a"], "MUG-A", "Mug A")
        self.product_b = svc.create_product(self.actors["merchant_b"], "LAMP-B", "Lamp B")

    def headers(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def post_claim(c, w, who="buyer_x", data=None, order="O-1", amount="20.00", key=None, name="claim.jpg", **form):
    headers = w.headers(who) | ({"Idempotency-Key": key} if key else {})
    fields = {"order_id": order, "product_id": str(w.product_a), "type": "refund_only", "amount": amount,
              "reason": "arrived broken"} | form
    return c.post("/api/claims", data=fields, files=[("files", (name, data or photo(1), "image/jpeg"))],
                  headers=headers)


def temp_files(st) -> list[str]:
    """Upload temp files left in a store's blob folder."""
    return sorted(os.listdir(st.blobs.tmp))


def wait_for(cond, timeout: float = 10.0) -> bool:
    """Poll `cond` until it holds or the timeout passes; its last answer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
