"""The review queue: filters (verdict, merchant, amount, age) and the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import login, wait_analysed

pytestmark = pytest.mark.browser


def test_queue_filters_and_keys(console, new_context):
    page = login(new_context(), console, "reviewer")
    claim = console.ids["seed_claim"]
    wait_analysed(page, console, claim)
    base = console.url + "/console/queue?scope=all"
    row = f"#queue tr[data-id='{claim}']"

    def shown(query: str) -> bool:
        page.goto(base + query)
        return page.locator(row).count() == 1

    assert shown("")
    assert shown("&verdict=likely_forged")
    assert not shown("&verdict=no_evidence_of_forgery")
    assert shown(f"&merchant={console.ids['shop_a']}")
    assert not shown(f"&merchant={console.ids['shop_b']}")
    assert shown("&amount_min=50&amount_max=100")
    assert not shown("&amount_min=100")
    assert shown("&age=1d")
    assert not shown("&age=over3d")
    # the form keeps the filters it was given
    page.goto(base + f"&verdict=likely_forged&merchant={console.ids['shop_a']}&amount_min=50")
    expect(page.locator("#filter-verdict")).to_have_value("likely_forged")
    expect(page.locator("#filter-merchant")).to_have_value(str(console.ids["shop_a"]))
    # the default view holds only claims waiting for a reviewer: the seeded claim waits for its merchant
    page.goto(console.url + "/console/queue")
    expect(page.locator(row)).to_have_count(0)

    # riskiest first; j / k move the selection, Enter opens it
    page.goto(base)
    rows = page.locator("#queue tbody tr")
    risks = [float(r) if r.strip().isdigit() else -1 for r in rows.locator("td:first-child").all_inner_texts()]
    assert risks == sorted(risks, reverse=True)
    expect(rows.first).to_have_class(re.compile("selected"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile("selected"))
    page.keyboard.press("k")
    expect(rows.first).to_have_class(re.compile("selected"))
    ids = [r.get_attribute("data-id") for r in rows.all()]
    assert len(ids) >= 2
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/claims/{ids[0]}$"))
    # on a case page, j / k walk the same filtered queue
    with page.expect_navigation():
        page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/console/claims/{ids[1]}$"))
    with page.expect_navigation():
        page.keyboard.press("k")
    expect(page).to_have_url(re.compile(rf"/console/claims/{ids[0]}$"))
