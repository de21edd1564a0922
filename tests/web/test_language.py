"""Chinese and English: chosen by the browser's Accept-Language or the switch; times in the viewer's zone."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from claimlens.api.web.i18n import MESSAGES, Translator, pick_language

from .conftest import login, shot, wait_analysed


def test_both_catalogues_have_every_message():
    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])
    for lang, msgs in MESSAGES.items():
        for key, text in msgs.items():
            assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", MESSAGES["en"][key])), (lang, key)


def test_language_choice():
    assert pick_language(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_language(None, "de-DE,en;q=0.5,zh;q=0.4") == "en"
    assert pick_language(None, "fr") == "en"
    assert pick_language("zh", "en-US") == "zh"
    assert pick_language("xx", "zh-TW") == "zh"
    assert Translator("zh")("state.rejected") == "已驳回"
    assert str(Translator("en")("signed_in_as", name="<b>", role="x")) == "Signed in as &lt;b&gt; (x)"


@pytest.mark.browser
def test_chinese_browser_switch_and_local_times(console, new_context):
    ctx = new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.goto(console.url + "/console/login")
    expect(page.locator("h1")).to_have_text("登录")
    page.close()
    page = login(ctx, console, "reviewer")
    expect(page.locator("h1")).to_have_text("审核队列")
    claim = console.ids["seed_claim"]
    wait_analysed(page, console, claim)
    page.goto(f"{console.url}/console/claims/{claim}")
    expect(page.locator("#relation")).to_contain_text("由此照片修改而来")
    expect(page.locator("#findings")).to_contain_text("申请照片是商家的商品图")
    expect(page.locator("#shortcuts")).to_contain_text("显示/隐藏热力图")
    # the filing time, sent as UTC, is shown in Shanghai time
    filed = page.locator(".facts time").first
    utc = dt.datetime.fromisoformat(filed.get_attribute("datetime"))
    local = utc.astimezone(ZoneInfo("Asia/Shanghai"))
    expect(filed).to_contain_text(local.strftime("%H:%M"))
    expect(filed).to_contain_text(f"{local.month}月{local.day}日")
    shot(page, "reviewer-case-zh")
    # the switch wins over the browser and stays
    with page.expect_navigation():
        page.click("#lang-switch")
    expect(page).to_have_url(re.compile(rf"/console/claims/{claim}$"))
    expect(page.locator("h1")).to_have_text(f"Claim {claim}")
    page.goto(console.url + "/console/queue")
    expect(page.locator("h1")).to_have_text("Review queue")
    with page.expect_navigation():
        page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("审核队列")
