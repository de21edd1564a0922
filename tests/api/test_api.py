"""HTTP API on SQLite and PostgreSQL: the claim flow, tenancy, bad input, reports, credit records."""

import pytest
from fastapi.testclient import TestClient

from claimlens.api.app import create_app
from claimlens.cases.workflow import SYSTEM
from claimlens.store import Store
from claimlens.store.testing import World, ai_photo, make_settings, photo, post_claim, video_bytes


@pytest.fixture
def make_api(tmp_path, db_url):
    made = []

    def make(**settings):
        st = Store(make_settings(tmp_path, db_url, **settings))
        w = World(st)
        c = TestClient(create_app(store=st, start_jobs=False))
        c.__enter__()
        made.append((c, st))
        return c, w

    yield make
    for c, st in made:
        c.__exit__(None, None, None)
        st.close()


@pytest.fixture
def api(make_api):
    return make_api()


def test_full_flow_with_references_packing_video_and_report(api, tmp_path):
    c, w = api
    m = w.headers("merchant_a")
    r = c.post(f"/api/products/{w.product_a}/photos", files=[("files", ("listing.jpg", photo(10), "image/jpeg"))],
               headers=m)
    assert r.status_code == 201 and len(r.json()["photos"]) == 1
    r = c.post("/api/orders/O-1/packing", headers=m, data={"product_id": str(w.product_a)},
               files=[("files", ("packing.jpg", photo(11), "image/jpeg")),
                      ("files", ("packing.mp4", video_bytes(tmp_path), "video/mp4"))])
    assert r.status_code == 201, r.text
    kinds = [e["kind"] for e in r.json()["evidence"]]
    assert kinds.count("video") == 1 and kinds.count("keyframe") >= 2
    r = post_claim(c, w, data=ai_photo(1))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["state"] == "submitted"
    assert w.store.jobs.drain() == 1
    d = c.get(f"/api/claims/{cid}", headers=w.headers("buyer_x")).json()
    assert d["state"] == "awaiting_merchant" and d["verdict"] == "likely_forged"
    refs = d["media"][0]["analysis"]["document"]["inputs"]
    assert sum(1 for i in refs if i["role"] == "reference") == 1 + 1 + (len(kinds) - 2)  # listing, packing, keyframes
    assert c.post(f"/api/claims/{cid}/actions/merchant_dispute", json={"reason": "AI image"}, headers=m).status_code == 200
    r = c.post(f"/api/claims/{cid}/actions/reject", headers=w.headers("reviewer"),
               json={"reason": "generated image", "forgery_confirmed": True})
    assert r.status_code == 200 and r.json()["outcome"] == "rejected"
    media = c.get(f"/api/claims/{cid}/media/{d['media'][0]['id']}", headers=m)
    assert media.status_code == 200 and media.content == ai_photo(1)
    html = c.get(f"/api/claims/{cid}/report.html", headers=w.headers("reviewer"))
    assert html.status_code == 200
    for needle in (d["media"][0]["sha256"], "ai_generator_metadata", "forgery confirmed", "merchant_dispute",
                   "reviewer:reviewer#", "data:image/jpeg;base64,"):
        assert needle in html.text
    pdf = c.get(f"/api/claims/{cid}/report.pdf", headers=w.headers("buyer_x"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 5000
    v = c.get("/api/audit/verify", headers=w.headers("admin")).json()
    assert v["ok"] and v["checked"] > 10


def test_login_session_cookie_and_token(api):
    c, w = api
    uid = w.store.service.create_user(SYSTEM, "carol", "s3cret-pass", "reviewer")
    assert c.post("/api/login", json={"username": "carol", "password": "nope-nope"}).status_code == 401
    r = c.post("/api/login", json={"username": "carol", "password": "s3cret-pass"})
    assert r.status_code == 200 and r.json()["user_id"] == uid
    assert c.get("/api/me").json()["role"] == "reviewer"  # session cookie
    c.cookies.clear()
    assert c.get("/api/me").status_code == 401
    assert c.get("/api/me", headers={"Authorization": "Bearer " + r.json()["token"]}).json()["username"] == "carol"
    assert c.get("/api/me", headers={"Authorization": "Bearer cl_forged"}).status_code == 401
    c.cookies.set("claimlens_session", "eyJ1aWQiOjF9.forged.sig")
    assert c.get("/api/me").status_code == 401


def test_openapi_docs(api):
    c, _ = api
    spec = c.get("/openapi.json").json()
    assert "/api/claims" in spec["paths"] and "/api/claims/{claim_id}/actions/{action}" in spec["paths"]
    # uploads are parsed from the stream, and the docs still show their form fields
    for path, fields in [("/api/claims", {"order_id", "product_id", "type", "amount", "files"}),
                         ("/api/products/{product_id}/photos", {"files"}),
                         ("/api/orders/{order_ref}/packing", {"files", "product_id"}),
                         ("/api/claims/{claim_id}/evidence", {"files", "reason"})]:
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert fields <= set(schema["properties"]) and schema["properties"]["files"]["items"]["format"] == "binary"
    assert c.get("/docs").status_code == 200


def test_bad_input_gets_clear_4xx(make_api):
    c, w = make_api(max_upload_bytes=200_000, max_pixels=100_000, max_request_bytes=1_000_000)
    small = photo(1)
    from claimlens.store.testing import jpeg_bytes, photo_array

    tiny = jpeg_bytes(photo_array(1, (200, 300)))
    assert c.post("/api/claims", data={"order_id": "O"}).status_code == 401
    r = post_claim(c, w, data=b"%PDF-1.4 not a photo", name="doc.pdf")
    assert r.status_code == 415 and "neither a photo nor a video" in r.json()["detail"]
    assert r.json()["code"] == "unreadable" and r.json()["params"] == {"name": "doc.pdf"}  # for a client's own words
    r = post_claim(c, w, data=small)  # 400x300 = 120000 px > 100000
    assert r.status_code == 413 and "MP exceeds the limit" in r.json()["detail"]
    assert r.json()["code"] == "too_many_pixels" and r.json()["params"]["size"] == "400x300"
    big = tiny + b"\0" * 250_000
    r = post_claim(c, w, data=big)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert r.json()["code"] == "file_too_large" and r.json()["params"]["limit_bytes"] == 200_000
    r = c.post("/api/claims", headers=w.headers("buyer_x") | {"Content-Length": "5000000"}, content=b"x" * 10)
    assert r.status_code == 413
    r = post_claim(c, w, data=tiny, amount="-3")
    assert r.status_code == 422 and "amount" in r.json()["detail"]
    r = post_claim(c, w, data=tiny, type="steal")
    assert r.status_code == 422 and "type must be" in r.json()["detail"]
    r = post_claim(c, w, data=tiny, key="k-1")
    assert r.status_code == 201
    cid = r.json()["id"]
    again = post_claim(c, w, data=tiny, key="k-1")
    assert again.status_code == 200 and again.json()["id"] == cid and again.headers["Idempotent-Replayed"] == "true"
    dup = post_claim(c, w, data=tiny)
    assert dup.status_code == 409 and "still open" in dup.json()["detail"]
    r = c.post(f"/api/claims/{cid}/actions/approve", json={"reason": "ok"}, headers=w.headers("reviewer"))
    assert r.status_code == 409 and "cannot approve a claim that is submitted" in r.json()["detail"]
    r = c.post(f"/api/claims/{cid}/actions/teleport", json={}, headers=w.headers("reviewer"))
    assert r.status_code == 422
    r = c.post(f"/api/claims/{cid}/actions/auto_approve", json={}, headers=w.headers("admin"))
    assert r.status_code == 403
    assert len(c.get("/api/claims", headers=w.headers("admin")).json()) == 1


def test_deadline_passed_is_409(api):
    import datetime as dt

    from sqlalchemy import update

    from claimlens.store.models import Claim

    c, w = api
    cid = post_claim(c, w, data=ai_photo(4)).json()["id"]
    w.store.jobs.drain()
    with w.store.db.session() as s:
        s.execute(update(Claim).where(Claim.id == cid).values(
            merchant_deadline=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    r = c.post(f"/api/claims/{cid}/actions/merchant_accept", json={}, headers=w.headers("merchant_a"))
    assert r.status_code == 409 and "answer window closed" in r.json()["detail"]


def test_personal_data_encrypted_and_searchable(api, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    c, w = api
    r = c.post("/api/buyers", headers=w.headers("platform"),
               json={"display_name": "Zoe", "phone": "+44 20 7946 0958", "address": "10 Downing St", "id_number": "ZX-1234"})
    bid = r.json()["id"]
    hits = c.post("/api/buyers/search", json={"phone": "0044 (0)20 7946-0958"}, headers=w.headers("platform"))
    assert hits.json()["ids"] == [bid]
    got = c.get(f"/api/buyers/{bid}", headers=w.headers("admin")).json()
    assert got["phone"] == "+44 20 7946 0958" and got["address"] == "10 Downing St"
    from sqlalchemy import text

    with w.store.db.read() as s:
        raw = " ".join(str(v) for row in s.execute(text("SELECT * FROM buyers")).all() for v in row)
    assert "Downing" not in raw and "7946 0958" not in raw and "442079460958" not in raw and "v1$k1$" in raw
    # a tampered ciphertext is refused, and nothing personal reaches the logs
    from sqlalchemy import update

    from claimlens.store.models import Buyer

    with w.store.db.session() as s:
        tok = s.get(Buyer, bid).address_enc
        s.execute(update(Buyer).where(Buyer.id == bid).values(address_enc=tok[:-4] + ("AAAA" if tok[-4:] != "AAAA" else "BBBB")))
    with pytest.raises(Exception, match="does not authenticate"):
        c.get(f"/api/buyers/{bid}", headers=w.headers("admin"))
    assert caplog.records and not any(x in caplog.text for x in ("Downing", "7946", "ZX-1234", "ZX1234"))


def test_credit_record_export_import_between_platforms(make_api, tmp_path):
    c, w = make_api()
    cid = post_claim(c, w, data=ai_photo(5)).json()["id"]
    w.store.jobs.drain()
    c.post(f"/api/claims/{cid}/actions/merchant_dispute", json={"reason": "fake"}, headers=w.headers("merchant_a"))
    c.post(f"/api/claims/{cid}/actions/reject", json={"reason": "AI", "forgery_confirmed": True},
           headers=w.headers("reviewer"))
    doc = c.get("/api/credit/export", headers=w.headers("platform")).json()
    assert doc["records"] and "+49" not in str(doc) and "Xavier" not in str(doc)
    # a second platform sharing the consortium key, with the same person as a new buyer
    import base64

    from claimlens.store.settings import Settings

    other_dir = tmp_path / "other"
    sec = dict(w.store.settings.load_secrets())
    other = Store(Settings.from_env(data_dir=other_dir, database_url=f"sqlite:///{other_dir / 'o.db'}",
                                    job_workers=0, detectors=["generator_traces"]), upgrade=True)
    try:
        other.consortium_key = base64.b64decode(sec["consortium_key"])
        bid = other.service.create_buyer(SYSTEM, "Xav", phone="0049 151 12345678")
        admin = other.service.actor_for_token(other.service.issue_token(
            SYSTEM, other.service.create_user(SYSTEM, "adm", None, "admin")))
        from claimlens.cases.errors import Invalid
        from claimlens.store import credit

        with pytest.raises(Invalid, match="untrusted"):
            credit.import_doc(other, admin, doc)
        tampered = dict(doc, records=[dict(doc["records"][0], confirmed_forgeries=0)])
        with pytest.raises(Invalid, match="signature"):
            credit.import_doc(other, admin, tampered, trusted=[doc["public_key"]])
        res = credit.import_doc(other, admin, doc, trusted=[doc["public_key"]])
        assert res["matched_buyers"] == 1
        rec = credit.buyer_record(other, admin, bid)
        assert rec["external"]["confirmed_forgeries"] == 1
        # the forged photo, re-submitted on the second platform by someone else, is recognised
        import io

        from claimlens.store.service import ClaimInput
        from claimlens.store.uploads import ingest

        m = other.service.create_merchant(SYSTEM, "Shop C")
        p = other.service.create_product(admin, "C-1", "Cup", merchant_id=m)
        f = ingest(other.blobs, io.BytesIO(ai_photo(5)), "c.png", max_bytes=10**7, max_pixels=10**8,
                   max_video_seconds=1)
        b2 = other.service.create_buyer(SYSTEM, "Someone", phone="+33 6 99 99 99 99")
        cid2, _ = other.service.create_claim(admin, ClaimInput("Z-1", p, "refund_only", "3", buyer_id=b2), [f])
        other.jobs.drain()
        d = other.service.claim_detail(admin, cid2)
        codes = [x["code"] for x in d["media"][0]["analysis"]["document"]["findings"]]
        assert "photo_in_credit_record" in codes
    finally:
        other.close()
