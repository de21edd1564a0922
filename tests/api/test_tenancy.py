"""Every cross-tenant read and write is refused, and changes nothing (SQLite and PostgreSQL)."""

import pytest
from fastapi.testclient import TestClient

from claimlens.api.app import create_app
from claimlens.store import Store
from claimlens.store.testing import World, ai_photo, make_settings, photo, post_claim


@pytest.fixture(scope="module")
def tenancy(tmp_path_factory, module_db_url):
    """A claim by buyer X at merchant A, with packing evidence; the other tenants try to touch it."""
    tmp = tmp_path_factory.mktemp("tenancy")
    st = Store(make_settings(tmp, module_db_url))
    w = World(st)
    with TestClient(create_app(store=st, start_jobs=False)) as c:
        c.post("/api/orders/O-1/packing", headers=w.headers("merchant_a"),
               files=[("files", ("packing.jpg", photo(11), "image/jpeg"))])
        r = post_claim(c, w, data=ai_photo(3))
        cid = r.json()["id"]
        w.store.jobs.drain()
        mid = r.json()["media"][0]["id"]
        yield c, w, cid, mid
    st.close()

CROSS_TENANT = [
    # (who, method, path, kwargs) - each must be refused
    ("merchant_b", "get", "/api/claims/{cid}", {}),
    ("buyer_y", "get", "/api/claims/{cid}", {}),
    ("merchant_b", "get", "/api/claims/{cid}/media/{mid}", {}),
    ("buyer_y", "get", "/api/claims/{cid}/media/{mid}", {}),
    ("merchant_b", "get", "/api/claims/{cid}/report.html", {}),
    ("buyer_y", "get", "/api/claims/{cid}/report.pdf", {}),
    ("merchant_b", "get", "/api/products/{product_a}", {}),
    ("buyer_x", "get", "/api/products/{product_a}", {}),
    ("merchant_b", "get", "/api/orders/O-1/packing", {}),
    ("buyer_y", "get", "/api/buyers/{buyer_x}", {}),
    ("merchant_a", "get", "/api/buyers/{buyer_x}", {}),
    ("buyer_y", "get", "/api/buyers/{buyer_x}/credit", {}),
    ("merchant_a", "get", "/api/buyers/{buyer_x}/credit", {}),
    ("merchant_b", "post", "/api/claims/{cid}/actions/merchant_dispute", {"json": {"reason": "x"}}),
    ("merchant_b", "post", "/api/claims/{cid}/actions/merchant_accept", {"json": {}}),
    ("buyer_y", "post", "/api/claims/{cid}/actions/appeal", {"json": {"reason": "x"}}),
    ("buyer_y", "post", "/api/claims/{cid}/evidence", {"files": [("files", ("e.jpg", b"PHOTO", "image/jpeg"))]}),
    ("merchant_b", "post", "/api/products/{product_a}/photos", {"files": [("files", ("r.jpg", b"PHOTO", "image/jpeg"))]}),
    ("buyer_x", "post", "/api/products/{product_a}/photos", {"files": [("files", ("r.jpg", b"PHOTO", "image/jpeg"))]}),
    ("merchant_b", "post", "/api/orders/O-1/packing", {"data": {"merchant_id": "{merchant_a}"},
                                                     "files": [("files", ("p.jpg", b"PHOTO", "image/jpeg"))]}),
    ("merchant_b", "post", "/api/products", {"json": {"sku": "X", "name": "X", "merchant_id": "{merchant_a}"}}),
    ("buyer_x", "post", "/api/claims", {"data": {"order_id": "O-7", "product_id": "{product_a}", "type": "refund_only",
                                                 "amount": "5", "buyer_id": "{buyer_y}"},
                                        "files": [("files", ("c.jpg", b"PHOTO", "image/jpeg"))]}),
    ("merchant_a", "post", "/api/claims", {"data": {"order_id": "O-8", "product_id": "{product_a}", "type": "refund_only",
                                                    "amount": "5", "buyer_id": "{buyer_x}"},
                                           "files": [("files", ("c.jpg", b"PHOTO", "image/jpeg"))]}),
    ("merchant_a", "post", "/api/users", {"json": {"username": "evil", "password": "12345678", "role": "admin"}}),
    ("reviewer", "get", "/api/audit/verify", {}),
    ("merchant_a", "get", "/api/credit/export", {}),
    ("buyer_x", "post", "/api/buyers", {"json": {"display_name": "Z"}}),
    ("merchant_a", "post", "/api/buyers/search", {"json": {"phone": "+4915112345678"}}),
]


@pytest.mark.parametrize("who,method,path,kw", CROSS_TENANT, ids=[f"{w}-{m}-{p}" for w, m, p, _ in CROSS_TENANT])
def test_cross_tenant_access_is_refused(tenancy, who, method, path, kw):
    c, w, cid, mid = tenancy
    ids = {"cid": cid, "mid": mid, "product_a": w.product_a, "buyer_x": w.buyer_x, "buyer_y": w.buyer_y,
           "merchant_a": w.merchant_a}
    before = c.get(f"/api/claims/{cid}", headers=w.headers("admin")).json()

    def fill(v):
        if isinstance(v, str):
            return v.format(**ids)
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        if isinstance(v, list):
            return [tuple(fill(y) if isinstance(y, str) and "{" in y else y for y in x) for x in v]
        return v

    kw = {k: fill(v) for k, v in kw.items()}
    if "files" in kw:
        kw["files"] = [(n, (f, photo(20) if data == b"PHOTO" else data, t)) for n, (f, data, t) in kw["files"]]
    r = getattr(c, method)(path.format(**ids), headers=w.headers(who), **kw)
    assert r.status_code in (403, 404), (r.status_code, r.text)
    assert str(w.buyer_x) not in r.text or "not found" in r.text or r.status_code == 403
    after = c.get(f"/api/claims/{cid}", headers=w.headers("admin")).json()
    assert after["state"] == before["state"] and after["timeline"] == before["timeline"]
    assert len(after["media"]) == len(before["media"])
    assert len(c.get(f"/api/products/{w.product_a}", headers=w.headers("admin")).json()["photos"]) == 0


def test_lists_are_scoped_to_the_tenant(tenancy):
    c, w, cid, _ = tenancy
    assert [x["id"] for x in c.get("/api/claims", headers=w.headers("merchant_a")).json()] == [cid]
    assert [x["id"] for x in c.get("/api/claims", headers=w.headers("buyer_x")).json()] == [cid]
    assert c.get("/api/claims", headers=w.headers("merchant_b")).json() == []
    assert c.get("/api/claims", headers=w.headers("buyer_y")).json() == []
    assert [p["id"] for p in c.get("/api/products", headers=w.headers("merchant_b")).json()] == [w.product_b]
    assert c.get("/api/products", headers=w.headers("buyer_x")).status_code == 403
    assert len(c.get("/api/claims", headers=w.headers("reviewer")).json()) == 1


