"""The console's upload forms stream into the blob store like the API (claimlens.api.multipart): an over-size
file is refused (413, in the viewer's language) before the body is complete and leaves no temp file, a forged
form token stores nothing, a refused file gives the form back with the message. Served by uvicorn on loopback
(in a thread of the test process) on the seeded data, with a 300 KB upload limit."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
import uuid

import httpx
import pytest
import uvicorn

from claimlens.store.testing import photo, temp_files, wait_for

from .conftest import DETECTORS, PASSWORD

LIMIT = 300_000


@pytest.fixture(scope="module")
def live(seeded):
    from claimlens.api.app import create_app
    from claimlens.store import Store
    from claimlens.store.settings import Settings

    st = Store(Settings.from_env(data_dir=seeded.data_dir, job_workers=0, detectors=DETECTORS.split(","),
                                 max_upload_bytes=LIMIT))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store=st, start_jobs=False), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    clients = {}

    def client(user: str) -> httpx.Client:
        """A client logged in as user (once per module: password hashing is slow on purpose)."""
        if user not in clients:
            c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            r = c.post("/console/login", data={"username": user, "password": PASSWORD})
            assert r.status_code == 303, r.text
            clients[user] = c
        return clients[user]

    yield st, port, client, seeded.ids
    for c in clients.values():
        c.close()
    server.should_exit = True
    thread.join(10)
    st.close()


def csrf_of(c: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(path).text).group(1)


def big_photo(seed: int, extra: int) -> bytes:
    """A photo nobody stored before, with `extra` bytes after its JPEG end (still a valid photo)."""
    return photo(seed) + os.urandom(extra)


def raw_post(port: int, c: httpx.Client, path: str, fields: dict, filename: str, data: bytes, sent: int,
             lang: str = "en") -> tuple[int, str]:
    """Send a multipart form by hand, only the first `sent` bytes of the body, and read the answer."""
    b = "b" + uuid.uuid4().hex
    head = "".join(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
    head += f'--{b}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n' \
            f'Content-Type: image/jpeg\r\n\r\n'
    body = head.encode() + data + f"\r\n--{b}--\r\n".encode()
    assert sent < len(body)
    cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nAccept-Language: {lang}\r\n"
                      f"Content-Type: multipart/form-data; boundary={b}\r\nContent-Length: {len(body)}\r\n"
                      f"Connection: close\r\n\r\n").encode() + body[:sent])
        buf = b""
        while True:  # the rest of the body is never sent: the answer must come without it
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    return int(buf.split(b" ", 2)[1]), buf.partition(b"\r\n\r\n")[2].decode()


def test_an_over_size_file_is_refused_while_it_arrives_and_leaves_no_file(live):
    st, port, client, ids = live
    x = client("buyer_x")
    fields = {"csrf": csrf_of(x, "/console/claims/new"), "order_ref": "U-big", "product_id": str(ids["cup"]),
              "type": "refund_only", "amount": "12"}
    data = big_photo(31, 400_000)  # limit 300 000 bytes
    before = set(temp_files(st))
    code, page = raw_post(port, x, "/console/claims/new", fields, "crack.jpg", data, sent=350_000)
    assert code == 413 and 'id="error-message"' in page
    assert "crack.jpg is larger than 0.3 MB." in page, page
    code, page = raw_post(port, x, "/console/claims/new", fields, "crack.jpg", data, sent=350_000, lang="zh-CN")
    assert code == 413 and "crack.jpg 超过 0.3 MB。" in page, page
    # the merchant's forms too
    m = client("merchant_a")
    code, page = raw_post(port, m, f"/console/products/{ids['cup']}/photos",
                          {"csrf": csrf_of(m, "/console/products")}, "ref.jpg", data, sent=350_000)
    assert code == 413 and "ref.jpg is larger than 0.3 MB." in page, page
    # one file more than allowed (10) is refused the same way
    many = [("files", (f"p{i}.jpg", big_photo(40 + i, 70_000), "image/jpeg")) for i in range(st.settings.max_files + 1)]
    r = x.post("/console/claims/new", data=fields, files=many, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 413 and f"文件太多：最多 {st.settings.max_files} 个。" in r.text
    assert wait_for(lambda: set(temp_files(st)) <= before)
    for data in [data] + [f[1][1] for f in many]:
        assert not st.blobs.exists(hashlib.sha256(data).hexdigest())
    assert "U-big" not in x.get("/console/my").text


def test_a_forged_form_token_stores_nothing(live):
    st, port, client, ids = live
    before = set(temp_files(st))
    m = client("merchant_a")
    ref = big_photo(32, 150_000)  # big enough to be written to a temp file while it arrives
    r = m.post(f"/console/products/{ids['cup']}/photos", data={"csrf": "forged"},
               files=[("files", ("ref.jpg", ref, "image/jpeg"))])
    assert r.status_code == 403 and "the form expired" in r.text
    r = m.post("/console/orders", data={"csrf": "forged", "order_ref": "U-forged"},
               files=[("files", ("pack.jpg", ref, "image/jpeg"))])
    assert r.status_code == 403
    x = client("buyer_x")
    claim = big_photo(33, 150_000)
    r = x.post("/console/claims/new", data={"csrf": "forged", "order_ref": "U-forged", "product_id": str(ids["cup"]),
                                            "type": "refund_only", "amount": "12"},
               files=[("files", ("c.jpg", claim, "image/jpeg"))])
    assert r.status_code == 403
    for data in (ref, claim):
        assert not st.blobs.exists(hashlib.sha256(data).hexdigest())
    assert wait_for(lambda: set(temp_files(st)) <= before)
    # with the right token the same photo is stored, by its content
    r = m.post(f"/console/products/{ids['cup']}/photos", data={"csrf": csrf_of(m, "/console/products")},
               files=[("files", ("ref.jpg", ref, "image/jpeg"))])
    assert r.status_code == 303 and "added=1" in r.headers["location"]
    assert st.blobs.verify(hashlib.sha256(ref).hexdigest())
    assert wait_for(lambda: set(temp_files(st)) <= before)


def test_refused_or_missing_files_give_the_form_back_with_the_message(live):
    st, port, client, ids = live
    m = client("merchant_a")
    token = csrf_of(m, "/console/products")
    r = m.post(f"/console/products/{ids['cup']}/photos", data={"csrf": token},
               files=[("files", ("notes.jpg", b"%PDF-1.4 not a photo", "image/jpeg"))])
    assert r.status_code == 415 and "notes.jpg: not a photo" in r.text and 'id="product-' in r.text
    assert not st.blobs.exists(hashlib.sha256(b"%PDF-1.4 not a photo").hexdigest())
    # an empty file input (what a browser sends when no file was chosen) is no photo
    r = m.post(f"/console/products/{ids['cup']}/photos", data={"csrf": token},
               files=[("files", ("", b"", "application/octet-stream"))], headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 422 and "请至少添加一张照片或一段视频。" in r.text
    r = m.post("/console/orders", data={"csrf": token, "order_ref": " "},
               files=[("files", ("pack.jpg", photo(34), "image/jpeg"))], headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 422 and "请填写所有字段。" in r.text and 'id="packing-form"' in r.text
    # the buyer's form keeps what was typed
    x = client("buyer_x")
    form = {"csrf": csrf_of(x, "/console/claims/new"), "order_ref": "U-typed", "product_id": str(ids["cup"]),
            "type": "refund_only", "amount": "12"}
    r = x.post("/console/claims/new", data=form, files=[("files", ("a.jpg", b"just some text", "image/jpeg"))])
    assert r.status_code == 415 and "a.jpg: neither a photo nor a video we can read" in r.text
    assert 'value="U-typed"' in r.text
    # the refusal in the viewer's language, the typed values kept
    r = x.post("/console/claims/new", data=form, files=[("files", ("a.jpg", b"just some text", "image/jpeg"))],
               headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 415 and "a.jpg 既不是可读取的照片，也不是可读取的视频。" in r.text, r.text
    assert "neither a photo" not in r.text and 'value="U-typed"' in r.text
    r = m.post(f"/console/products/{ids['cup']}/photos", data={"csrf": token},
               files=[("files", ("notes.jpg", b"%PDF-1.4 not a photo", "image/jpeg"))], headers={"Accept-Language": "zh"})
    assert r.status_code == 415 and "notes.jpg 不是照片（JPEG、PNG、WebP、HEIC 等）。" in r.text
    # packing evidence with the right token is stored under its content address
    pack = big_photo(35, 100_000)
    r = m.post("/console/orders", data={"csrf": token, "order_ref": "U-pack"},
               files=[("files", ("pack.jpg", pack, "image/jpeg"))])
    assert r.status_code == 303 and r.headers["location"] == "/console/orders"
    assert st.blobs.verify(hashlib.sha256(pack).hexdigest())
