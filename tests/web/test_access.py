"""Roles and tenants through the pages: each person sees only what their role and tenant allow."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import login, wait_analysed

pytestmark = pytest.mark.browser


def status(page, url: str) -> int:
    return page.goto(url).status


def test_anonymous_visitors_are_sent_to_the_log_in(console, new_context):
    page = new_context().new_page()
    for path in ("/console/queue", "/console/claims/1", "/console/products", "/console/my"):
        page.goto(console.url + path)
        expect(page).to_have_url(re.compile(r"/console/login\?next="))
    assert page.request.get(f"{console.url}/console/files/{console.sha('listing.jpg')}",
                            max_redirects=0).status == 303
    # wrong password: the form says so
    page.fill("input[name=username]", "reviewer")
    page.fill("input[name=password]", "wrong password")
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong username or password.")


def test_a_merchant_sees_only_its_own_claims_and_photos(console, new_context):
    url, claim = console.url + "/console", console.ids["seed_claim"]
    b = login(new_context(), console, "merchant_b")
    assert status(b, f"{url}/claims/{claim}") == 404
    expect(b.locator("#error-message")).to_have_text("Not found.")
    for path in (f"/claims/{claim}/report.pdf", f"/claims/{claim}/report.html", f"/claims/{claim}/status.json",
                 f"/files/{console.sha('listing.jpg')}", f"/files/{console.sha('claim.jpg')}"):
        assert b.request.get(url + path).status == 404, path
    assert status(b, f"{url}/queue") == 403
    b.goto(f"{url}/merchant")
    expect(b.locator("#merchant-claims tbody tr")).to_have_count(1)  # only the claim against shop B
    expect(b.locator("#merchant-claims")).to_contain_text(f"#{console.ids['lamp_claim']}")
    expect(b.get_by_role("link", name=f"#{claim}")).to_have_count(0)
    b.goto(f"{url}/products")
    expect(b.locator("section.product h2")).to_have_count(1)
    expect(b.locator("section.product h2")).to_contain_text("Desk lamp")
    # writing to another merchant's product is refused too
    csrf = b.locator("input[name=csrf]").first.get_attribute("value")
    r = b.request.post(f"{url}/products/{console.ids['cup']}/photos", multipart={
        "csrf": csrf, "files": {"name": "x.jpg", "mimeType": "image/jpeg", "buffer": console.photos["side.jpg"]}})
    assert r.status == 404

    a = login(new_context(), console, "merchant_a")
    assert status(a, f"{url}/claims/{claim}") == 200
    assert a.request.get(f"{url}/files/{console.sha('listing.jpg')}").status == 200
    assert a.request.get(f"{url}/files/{console.sha('lamp.jpg')}").status == 404


def test_a_buyer_sees_only_their_own_claims_and_no_forensics(console, new_context):
    url, claim = console.url + "/console", console.ids["seed_claim"]
    x = login(new_context(), console, "buyer_x")
    assert status(x, f"{url}/claims/{claim}") == 404  # Yvonne's claim
    for path in ("/queue", "/merchant", "/products", "/orders"):
        assert status(x, url + path) == 403, path
        expect(x.locator("#error-message")).to_be_visible()
    assert x.request.get(f"{url}/claims/{claim}/report.pdf").status == 403

    y = login(new_context(), console, "buyer_y")
    assert status(y, f"{url}/claims/{claim}") == 200
    wait_analysed(y, console, claim)
    y.reload()
    expect(y.locator("#buyer-state")).to_be_visible()
    for hidden in ("#analysis", "#heatmap-img", "#findings", "#report", "#credit", "#decide"):
        expect(y.locator(hidden)).to_have_count(0)
    assert y.request.get(f"{url}/claims/{claim}/report.html").status == 403
    assert y.request.get(f"{url}/files/{console.sha('listing.jpg')}").status == 404  # the merchant's reference
    assert y.request.get(f"{url}/files/{console.sha('claim.jpg')}").status == 200  # their own photo
    heatmaps = y.request.get(f"{url}/claims/{claim}/overlay/1.png")
    assert heatmaps.status == 403


def test_only_reviewers_decide_and_forms_need_their_token(console, new_context):
    url, claim = console.url + "/console", console.ids["seed_claim"]
    a = login(new_context(), console, "merchant_a")
    a.goto(f"{url}/claims/{claim}")
    csrf = a.locator("input[name=csrf]").first.get_attribute("value")
    r = a.request.post(f"{url}/claims/{claim}/decide", form={"action": "approve", "reason": "x", "csrf": csrf})
    assert r.status == 403

    reviewer = login(new_context(), console, "reviewer")
    reviewer.goto(f"{url}/claims/{claim}")
    r = reviewer.request.post(f"{url}/claims/{claim}/decide", form={"action": "approve", "reason": "x",
                                                                   "csrf": "forged"})
    assert r.status == 403
    assert "the form expired" in r.text()
