"""The console's pages without a browser (they run where Chromium is missing too): roles, tenants, forms."""

from __future__ import annotations

import re

import numpy as np
import pytest

from .conftest import DETECTORS, PASSWORD


@pytest.fixture(scope="module")
def site(seeded):
    """The console app in this process, on the seeded data (which the browser tests' server may share)."""
    import time

    from fastapi.testclient import TestClient

    from claimlens.api.app import create_app
    from claimlens.store import Store
    from claimlens.store.settings import Settings

    st = Store(Settings.from_env(data_dir=seeded.data_dir, job_workers=0, detectors=DETECTORS.split(",")))
    end = time.monotonic() + 60
    while st.service.stats().get("submitted", 0) + st.service.stats().get("analysing", 0):
        st.jobs.drain()  # analyse the seeded claims here, unless the server is doing it
        assert time.monotonic() < end, st.service.stats()
        time.sleep(0.2)
    app = create_app(store=st, start_jobs=False)
    ids, photos = seeded.ids, seeded.photos

    logged_in = {}

    def client(user: str | None = None) -> TestClient:
        """A client for user (logged in once per module: password hashing is slow on purpose)."""
        if user is None:
            return TestClient(app)
        if user not in logged_in:
            c = TestClient(app)
            r = c.post("/console/login", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            logged_in[user] = c
        return logged_in[user]

    yield client, ids, photos
    st.close()


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_home_depends_on_the_role(site):
    client, ids, _ = site
    assert client().get("/console/queue", follow_redirects=False).headers["location"] == \
        "/console/login?next=/console/queue"
    assert client().get("/", follow_redirects=False).headers["location"] == "/console/"
    for user, home in [("reviewer", "/console/queue"), ("merchant_a", "/console/merchant"), ("buyer_x", "/console/my")]:
        assert client(user).get("/console/", follow_redirects=False).headers["location"] == home
    # a log-in never sends anyone off the console
    r = client().post("/console/login", data={"username": "buyer_x", "password": PASSWORD,
                                              "next": "https://elsewhere.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/console/my"


def test_tenants_and_roles(site):
    client, ids, photos = site
    claim = ids["seed_claim"]
    b, x, reviewer = client("merchant_b"), client("buyer_x"), client("reviewer")
    assert b.get(f"/console/claims/{claim}").status_code == 404
    assert x.get(f"/console/claims/{claim}").status_code == 404
    assert x.get("/console/queue").status_code == 403
    assert b.get("/console/queue").status_code == 403
    assert reviewer.get("/console/products").status_code == 403
    page = reviewer.get(f"/console/claims/{claim}")
    assert page.status_code == 200 and 'id="heatmap-img"' in page.text and 'id="decide"' not in page.text
    y = client("buyer_y")
    page = y.get(f"/console/claims/{claim}")
    assert page.status_code == 200
    assert "heatmap" not in page.text and "likely_forged" not in page.text and "Likely forged" not in page.text


def test_the_claim_form_reports_bad_uploads(site):
    client, ids, photos = site
    x = client("buyer_x")
    token = csrf(x.get("/console/claims/new").text)
    form = {"csrf": token, "order_ref": "A-9", "product_id": str(ids["cup"]), "type": "refund_only", "amount": "12"}
    r = x.post("/console/claims/new", data=form)
    assert r.status_code == 422 and "Add at least one photo or video." in r.text
    r = x.post("/console/claims/new", data=form, files=[("files", ("a.jpg", b"just some text", "image/jpeg"))])
    assert r.status_code == 415 and "a.jpg: neither a photo nor a video we can read" in r.text
    assert 'value="A-9"' in r.text  # what was typed stays
    r = x.post("/console/claims/new", data={**form, "amount": "-3"},
               files=[("files", ("c.jpg", photos["side.jpg"], "image/jpeg"))])
    assert r.status_code == 422 and "amount must be above 0" in r.text
    r = x.post("/console/claims/new", data={**form, "csrf": "stale"},
               files=[("files", ("c.jpg", photos["side.jpg"], "image/jpeg"))])
    assert r.status_code == 403
    # the Chinese form says the same in Chinese
    r = x.post("/console/claims/new", data=form, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "请至少添加一张照片或一段视频。" in r.text


def test_overlay_is_clear_where_nothing_was_found():
    import cv2

    from claimlens.api.web.router import overlay_png

    value = np.zeros((40, 60), np.uint8)
    value[10:20, 20:30] = 255
    ok, png = cv2.imencode(".png", cv2.applyColorMap(value, cv2.COLORMAP_JET))
    from io import BytesIO

    from PIL import Image

    rgba = np.asarray(Image.open(BytesIO(overlay_png(png.tobytes()))))
    assert rgba.shape == (40, 60, 4)
    assert rgba[..., 3][value == 0].max() == 0
    assert rgba[..., 3][value == 255].min() > 150
