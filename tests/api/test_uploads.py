"""Uploads against a real HTTP server (uvicorn on loopback) on SQLite and PostgreSQL: bytes go straight into the
blob store while they arrive, the size limit answers 413 before the body is complete, a client that goes away
leaves nothing, garbage collection spares uploads in flight and referenced blobs, revocation is immediate."""

import os
import socket
import threading
import time
import uuid

import httpx
import pytest
import uvicorn

from claimlens.api.app import create_app
from claimlens.api.cli import main as cli_main
from claimlens.store import Store
from claimlens.store.testing import World, make_settings, photo, temp_files, wait_for


class LiveServer:
    """The app served by uvicorn in a thread of the test process, on a free loopback port."""

    def __init__(self, store):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(store=store, start_jobs=False), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live(tmp_path, db_url):
    st = Store(make_settings(tmp_path, db_url, max_upload_bytes=300_000))
    w = World(st)
    srv = LiveServer(st)
    yield srv, w
    srv.stop()
    st.close()


class RawUpload:
    """A claim upload sent by hand over a socket, so that the test decides when each byte goes out."""

    def __init__(self, srv, w, data: bytes, order: str, declared: int | None = None):
        b = "b" + uuid.uuid4().hex
        fields = {"order_id": order, "product_id": str(w.product_a), "type": "refund_only", "amount": "9.00"}
        head = "".join(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
        head += f'--{b}\r\nContent-Disposition: form-data; name="files"; filename="c.jpg"\r\n' \
                f'Content-Type: image/jpeg\r\n\r\n'
        self.body = head.encode() + data + f"\r\n--{b}--\r\n".encode()
        length = declared if declared is not None else len(self.body)
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        self.sock.sendall((f"POST /api/claims HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {w.tokens['buyer_x']}\r\n"
                           f"Content-Type: multipart/form-data; boundary={b}\r\nContent-Length: {length}\r\n"
                           f"Connection: close\r\n\r\n").encode())
        self.sent = 0

    def send(self, n: int | None = None):
        end = len(self.body) if n is None else self.sent + n
        self.sock.sendall(self.body[self.sent:end])
        self.sent = end

    def response(self) -> tuple[int, bytes]:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                n = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")), None)
                if n is not None and len(rest) >= n:
                    break
        self.sock.close()
        return int(buf.split(b" ", 2)[1]), buf.partition(b"\r\n\r\n")[2]


def test_upload_streams_into_the_blob_store_and_is_linked_by_content(live):
    srv, w = live
    st = w.store
    data = photo(3) + os.urandom(100_000)  # trailing bytes after the JPEG end: still a valid photo
    up = RawUpload(srv, w, data, "O-stream")
    up.send(len(up.body) - 60_000)
    # before the body is complete, the bytes already lie in a temp file of the blob store
    assert wait_for(lambda: any(os.path.getsize(st.blobs.tmp / f) > 20_000 for f in temp_files(st)))
    up.send()
    code, body = up.response()
    assert code == 201, body
    import hashlib
    import json

    sha = json.loads(body)["media"][0]["sha256"]
    assert sha == hashlib.sha256(data).hexdigest() and st.blobs.verify(sha)
    assert temp_files(st) == []


def test_size_limit_answers_413_while_the_body_is_still_arriving(live):
    srv, w = live
    st = w.store
    up = RawUpload(srv, w, photo(4) + b"\0" * 400_000, "O-big")  # limit 300 000 bytes
    up.send(350_000)  # past the limit, the rest never sent
    code, body = up.response()
    assert code == 413 and b"c.jpg is larger than the 300 KB limit" in body, body
    assert wait_for(lambda: temp_files(st) == [])
    assert list(st.blobs.stored()) == []


def test_client_that_goes_away_leaves_no_file(live):
    srv, w = live
    st = w.store
    up = RawUpload(srv, w, photo(5) + os.urandom(150_000), "O-gone")
    up.send(len(up.body) - 50_000)
    assert wait_for(lambda: len(temp_files(st)) == 1)
    up.sock.close()
    assert wait_for(lambda: temp_files(st) == [])
    assert list(st.blobs.stored()) == []
    # the server is fine afterwards
    r = httpx.post(srv.url + "/api/claims", headers=w.headers("buyer_x"),
                   data={"order_id": "O-after", "product_id": str(w.product_a), "type": "refund_only", "amount": "3"},
                   files=[("files", ("c.jpg", photo(6), "image/jpeg"))])
    assert r.status_code == 201, r.text


def test_refused_file_leaves_no_blob(live):
    srv, w = live
    up = RawUpload(srv, w, b"%PDF-1.4 not a photo", "O-pdf")
    up.send()
    code, body = up.response()
    assert code == 415 and b"neither a photo nor a video" in body
    assert list(w.store.blobs.stored()) == [] and temp_files(w.store) == []


def test_gc_removes_orphans_and_spares_uploads_in_flight_and_referenced_blobs(live):
    srv, w = live
    st = w.store
    old = time.time() - 7200
    r = httpx.post(srv.url + "/api/claims", headers=w.headers("buyer_x"),
                   data={"order_id": "O-kept", "product_id": str(w.product_a), "type": "refund_only", "amount": "3"},
                   files=[("files", ("c.jpg", photo(7), "image/jpeg"))])
    kept = r.json()["media"][0]["sha256"]
    os.utime(st.blobs.path(kept), (old, old))
    orphan = st.blobs.put_bytes(photo(8))  # as if the process died between storing the file and the commit
    os.utime(orphan.path, (old, old))
    fresh_orphan = st.blobs.put_bytes(photo(9))  # maybe about to be referenced: younger than the grace
    stale_tmp = st.blobs.tmp / "up-stale"
    stale_tmp.write_bytes(b"half an upload from a crashed process")
    os.utime(stale_tmp, (old, old))
    data = photo(10) + os.urandom(150_000)
    up = RawUpload(srv, w, data, "O-flight")
    up.send(len(up.body) - 20_000)
    assert wait_for(lambda: len(temp_files(st)) == 2)

    rep = st.service.collect_blobs(older_than_s=3600)
    assert sorted(n for n, _ in rep.removed) == sorted([orphan.sha256, "tmp/up-stale"])
    assert not orphan.path.exists() and st.blobs.verify(kept) and st.blobs.verify(fresh_orphan.sha256)
    assert len(temp_files(st)) == 1  # the upload in flight
    up.send()
    code, body = up.response()
    assert code == 201, body
    import json

    assert st.blobs.verify(json.loads(body)["media"][0]["sha256"])

    # the command: a dry run lists, a real run removes and says what
    where = ["--data-dir", str(st.settings.data_dir), "--database-url", st.settings.database_url]
    os.utime(fresh_orphan.path, (old, old))
    assert cli_main(["blobs", "gc", *where, "--older-than", "1h", "--dry-run"]) == 0
    assert fresh_orphan.path.exists()
    assert cli_main(["blobs", "gc", *where, "--older-than", "1h"]) == 0
    assert not fresh_orphan.path.exists() and st.blobs.verify(kept)
    d = httpx.get(srv.url + f"/api/claims/{r.json()['id']}/media/{r.json()['media'][0]['id']}",
                  headers=w.headers("buyer_x"))
    assert d.status_code == 200 and d.content == photo(7)


def test_revoked_token_is_refused_at_once(live):
    srv, w = live
    tok = w.store.service.issue_token(w.actors["admin"], w.user_ids["reviewer"])
    h = {"Authorization": f"Bearer {tok}"}
    with httpx.Client(base_url=srv.url) as c:
        assert c.get("/api/me", headers=h).status_code == 200  # now cached
        assert c.post("/api/tokens/revoke", json={"token": tok}, headers=w.headers("buyer_x")).status_code == 404
        r = c.post("/api/tokens/revoke", json={"token": tok}, headers=h)  # its holder revokes it
        assert r.status_code == 200
        r = c.get("/api/me", headers=h)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        # an admin revokes all of a user's tokens
        assert c.get("/api/me", headers=w.headers("merchant_a")).status_code == 200
        r = c.delete(f"/api/users/{w.user_ids['merchant_a']}/tokens", headers=w.headers("admin"))
        assert r.status_code == 200 and r.json()["revoked"] == 1
        assert c.get("/api/me", headers=w.headers("merchant_a")).status_code == 401
        assert c.delete(f"/api/users/{w.user_ids['buyer_y']}/tokens", headers=w.headers("buyer_x")).status_code == 403
