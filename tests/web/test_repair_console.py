"""The repair desk in the console: the operator's desk (SLA board, coverage gaps, phone requests, search,
re-dispatch) and the technician's jobs (accept, arrive, resolve, availability), with roles kept apart."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from claimlens.api.web.i18n import Translator
from claimlens.api.web.router import home_url
from claimlens.cases.workflow import Actor, Role

from .conftest import PASSWORD, login, shot

CALLER = {"customer_name": "Greta Caller", "phone": "+49 30 1234 5678", "address": "Alexanderplatz 1"}


def test_repair_staff_land_on_their_own_pages():
    assert home_url(Actor(Role.OPERATOR, 1, "op", merchant_id=1)) == "/console/desk"
    assert home_url(Actor(Role.TECHNICIAN, 2, "tech", merchant_id=1)) == "/console/jobs"
    assert home_url(Actor(Role.REVIEWER, 3, "rev")) == "/console/queue"


# A dispatch note as stored before the explanation lines had codes: English lines only.
OLD_NOTE = {"at": "2026-03-02T09:00:00+00:00", "by": "system", "automatic": True, "technician_id": None,
            "eta_minutes": None, "within_target": False, "coverage_gap": True,
            "explanation": ["coverage gap: no technician covers district NORTH"], "ranking": []}


def test_explanation_in_the_viewers_language_and_old_notes_as_stored():
    new = {"explanation": ["coverage gap: no technician covers district NORTH"],
           "explanation_codes": [{"code": "coverage_gap", "params": {"district": "NORTH"}}]}
    assert Translator("zh").explanation(new) == ["覆盖缺口：没有技师覆盖区域 NORTH"]
    assert Translator("en").explanation(new) == new["explanation"]
    assert Translator("zh").explanation(OLD_NOTE) == OLD_NOTE["explanation"]
    assert Translator("zh").explanation(None) == []


@pytest.fixture(scope="module")
def desk(console) -> dict:
    """Shop A's repair desk, written through the repair service while the console server runs: districts
    CENTRE and EAST (covered) and NORTH (nobody), Tara and Bob, an operator, two NORTH requests filed 40 and 25
    minutes ago (breached, at risk), a boiler job that only Bob can take, and two fresh NORTH requests, one
    of them with a dispatch note in the format from before the explanation codes."""
    from claimlens.cases.repair import RepairInput
    from claimlens.cases.workflow import SYSTEM
    from claimlens.store import Store
    from claimlens.store.models import utcnow
    from claimlens.store.repair_desk import RepairDesk
    from claimlens.store.settings import Settings

    st = Store(Settings.from_env(data_dir=console.data_dir, job_workers=0))
    try:
        mid, rd = console.ids["shop_a"], st.repair
        for code, name in (("CENTRE", "Centre"), ("EAST", "East"), ("NORTH", "North")):
            rd.create_district(SYSTEM, code, name, merchant_id=mid)
        tara = rd.create_technician(SYSTEM, "Tara Fix", [{"district": "CENTRE", "travel_minutes": 10},
                                                         {"district": "EAST", "travel_minutes": 15}],
                                    ["appliance"], username="tech_a", password=PASSWORD, merchant_id=mid)
        bob = rd.create_technician(SYSTEM, "Bob Wrench", [{"district": "CENTRE", "travel_minutes": 20}],
                                   ["appliance", "boiler"], username="tech_b", password=PASSWORD, merchant_id=mid)
        op = st.service.actor_for_user(rd.create_operator(SYSTEM, "operator_a", PASSWORD, merchant_id=mid)["user_id"])
        now = utcnow()

        def filed(minutes_ago: int, district: str, phone: str, skill: str | None = None) -> dict:
            past = RepairDesk(st, clock=lambda: now - dt.timedelta(minutes=minutes_ago))
            return past.create_request(op, RepairInput("Old Caller", phone, "Somewhere 5", district, "No power",
                                                       skill=skill))

        ids = {"tara": tara["id"], "bob": bob["id"], "breached": filed(40, "NORTH", "+49 170 0000001")["id"],
               "at_risk": filed(25, "NORTH", "+49 170 0000002")["id"]}
        boiler = filed(0, "CENTRE", "+49 170 0000003", skill="boiler")
        assert boiler["technician_id"] == bob["id"]
        ids["bobs_job"] = boiler["id"]
        ids["fresh"] = filed(0, "NORTH", "+49 170 0000004")["id"]
        ids["old_note"] = filed(0, "NORTH", "+49 170 0000005")["id"]
        from claimlens.store.repair import RepairRequest
        with st.db.session() as s:
            s.get(RepairRequest, ids["old_note"]).dispatch_note = OLD_NOTE
        return ids
    finally:
        st.close()


@pytest.mark.browser
def test_operator_files_a_request_and_the_technician_works_it(console, desk, new_context):
    url = console.url + "/console"
    op = login(new_context(viewport={"width": 1440, "height": 1000}), console, "operator_a")
    expect(op).to_have_url(url + "/desk")
    expect(op.locator(".who")).to_have_text("Signed in as operator_a (operator)")
    board = op.locator("#board-table tbody tr")
    expect(board.first).to_have_attribute("data-id", str(desk["breached"]))  # breached first, then at risk
    expect(board.nth(1)).to_have_attribute("data-id", str(desk["at_risk"]))
    expect(op.locator(f"tr[data-id='{desk['breached']}']")).to_have_attribute("data-sla", "breached")
    expect(op.locator(f"tr[data-id='{desk['breached']}'] .left")).to_contain_text("min over")
    expect(op.locator(f"tr[data-id='{desk['at_risk']}']")).to_have_attribute("data-sla", "at_risk")
    expect(op.locator("#coverage li[data-district='NORTH']")).to_contain_text("no technician covers")
    expect(op.locator("#coverage li[data-district='CENTRE']")).to_have_count(0)

    # a phone request, dispatched at once with its explanation
    form = op.locator("#request-form")
    for name, value in CALLER.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("[name=district]").select_option("CENTRE")
    form.locator("[name=product_id]").select_option(str(console.ids["cup"]))
    form.locator("[name=skill]").select_option("appliance")
    form.locator("[name=fault]").fill("The espresso machine leaks.")
    form.locator("input[name=priority][value=urgent]").check()
    with op.expect_navigation():
        op.click("#file-request")
    expect(op).to_have_url(re.compile(r"/console/desk/requests/\d+\?filed=1$"))
    rid = int(re.search(r"/requests/(\d+)", op.url).group(1))
    expect(op.locator("#dispatch-summary")).to_contain_text("Sent to Tara Fix, on site in about 10 min.")
    expect(op.locator("#dispatch-explanation")).to_contain_text("Bob Wrench (#")
    expect(op.locator("#customer")).to_contain_text("Alexanderplatz 1")
    shot(op, "repair-request")

    op.goto(url + "/desk")
    row = op.locator(f"#board-table tr[data-id='{rid}']")
    expect(row).to_have_attribute("data-sla", "on_track")
    expect(row.locator("td.tech")).to_have_text("Tara Fix")
    expect(row.locator("[data-state]")).to_have_attribute("data-state", "dispatched")
    expect(row).to_contain_text("CENTRE")
    expect(op.locator("#board")).not_to_contain_text("Greta")  # no customer data on the board
    shot(op, "repair-desk")

    # the caller rings again: found by the number, however it is written
    op.fill("#search-form input[name=phone]", "+4930 12345678")
    with op.expect_navigation():
        op.click("#search-form button")
    expect(op.locator("#search-results tbody tr")).to_have_count(1)
    expect(op.locator(f"#search-results tr[data-id='{rid}']")).to_contain_text("Greta Caller")

    # the technician: own jobs with the time left; the customer's contact only once the job is accepted
    tech = login(new_context(viewport={"width": 1200, "height": 900}), console, "tech_a")
    expect(tech).to_have_url(url + "/jobs")
    expect(tech.locator(".who")).to_have_text("Signed in as tech_a (technician)")
    job = tech.locator(f"#job-{rid}")
    expect(job.locator(".contact-hidden")).to_have_text("Name, phone and address are shown once you accept the job.")
    expect(job).not_to_contain_text("Alexanderplatz 1")
    expect(job.locator(".job-left")).to_contain_text("min left")
    expect(tech.locator(f"#job-{desk['bobs_job']}")).to_have_count(0)
    shot(tech, "repair-jobs")
    for action, state, flash in (("accept", "accepted", "Job accepted."), ("arrive", "on_site", "Arrival recorded.")):
        with tech.expect_navigation():
            job.locator(f"button[data-action={action}]").click()
        expect(tech.locator("#flash")).to_have_text(flash)
        expect(job).to_have_attribute("data-state", state)
        expect(job).to_contain_text("Alexanderplatz 1")
        op.goto(url + "/desk")
        if state == "accepted":
            expect(row.locator("[data-state]")).to_have_attribute("data-state", "accepted")
        else:  # someone is on site: off the SLA board
            expect(row).to_have_count(0)
    job.locator("input[data-reason=resolve]").fill("Replaced the pump seal.")
    with tech.expect_navigation():
        job.locator("button[data-action=resolve]").click()
    expect(tech.locator("#flash")).to_have_text("Job resolved.")
    expect(tech.locator(f"#closed-jobs tr[data-id='{rid}']")).to_contain_text("Replaced the pump seal.")
    expect(tech.locator(f"#closed-jobs tr[data-id='{rid}'] [data-sla]")).to_have_attribute("data-sla", "met")

    op.goto(f"{url}/desk/requests/{rid}")
    expect(op.locator("#repair [data-state]")).to_have_attribute("data-state", "resolved")
    expect(op.locator("#resolution")).to_have_text("Replaced the pump seal.")
    expect(op.locator("#timeline")).to_contain_text("resolve")


@pytest.mark.browser
def test_manual_redispatch_and_availability(console, desk, new_context):
    url = console.url + "/console"
    op = login(new_context(), console, "operator_a")
    op.goto(f"{url}/desk/requests/{desk['breached']}")
    expect(op.locator("#dispatch-summary")).to_contain_text("No technician can take it yet.")
    form = op.locator("#redispatch-form")
    form.locator("[name=technician_id]").select_option(str(desk["bob"]))
    with op.expect_navigation():  # a named technician needs a reason
        form.locator("button").click()
    expect(op.locator("#form-error")).to_contain_text("needs a reason")
    form.locator("[name=technician_id]").select_option(str(desk["bob"]))
    form.locator("[name=reason]").fill("Bob is nearby today")
    with op.expect_navigation():
        form.locator("button").click()
    expect(op.locator("#flash")).to_be_visible()
    expect(op.locator("#technician")).to_have_text("Bob Wrench")
    expect(op.locator("#dispatch-explanation")).to_contain_text("manual dispatch to Bob Wrench")
    expect(op.locator("#dispatch-explanation")).to_contain_text("does not cover district NORTH")

    # Tara stops taking jobs: EAST, which only she covers, becomes a gap now
    tech = login(new_context(), console, "tech_a")
    expect(tech.locator("#availability")).to_have_attribute("data-available", "1")
    with tech.expect_navigation():
        tech.click("#availability-toggle")
    expect(tech.locator("#availability")).to_have_attribute("data-available", "0")
    op.goto(url + "/desk")
    expect(op.locator("#coverage li[data-district='EAST']")).to_contain_text("nobody is on shift")
    with tech.expect_navigation():
        tech.click("#availability-toggle")
    expect(tech.locator("#availability")).to_have_attribute("data-available", "1")
    op.reload()
    expect(op.locator("#coverage li[data-district='EAST']")).to_have_count(0)


@pytest.mark.browser
def test_repair_staff_stay_on_their_own_pages(console, desk, new_context):
    url = console.url + "/console"
    tech = login(new_context(), console, "tech_a")
    bobs = desk["bobs_job"]
    assert tech.goto(f"{url}/jobs/{bobs}").status == 404
    expect(tech.locator("#error-message")).to_have_text("Not found.")
    tech.goto(url + "/jobs")
    csrf = tech.locator("input[name=csrf]").first.get_attribute("value")
    assert tech.request.post(f"{url}/jobs/{bobs}/act", form={"action": "accept", "csrf": csrf}).status == 404
    assert tech.request.post(f"{url}/jobs/{bobs}/act", form={"action": "accept", "csrf": "forged"}).status == 403
    for path in ("/desk", f"/desk/requests/{bobs}", "/queue", "/merchant"):
        assert tech.goto(url + path).status == 403, path

    op = login(new_context(), console, "operator_a")
    for path in ("/queue", f"/claims/{console.ids['seed_claim']}", "/merchant", "/products", "/jobs", "/my"):
        assert op.goto(url + path).status == 403, path
        expect(op.locator("#error-message")).to_be_visible()
    op.goto(url + "/desk")
    csrf = op.locator("input[name=csrf]").first.get_attribute("value")
    r = op.request.post(f"{url}/desk/requests", form={**CALLER, "district": "CENTRE", "fault": "x", "csrf": "forged"})
    assert r.status == 403
    # bad input is a message on the page, not a traceback
    r = op.request.post(f"{url}/desk/requests", form={**CALLER, "phone": "12", "district": "CENTRE", "fault": "x",
                                                      "csrf": csrf})
    assert r.status == 422 and "too few digits" in r.text()

    reviewer = login(new_context(), console, "reviewer")
    assert reviewer.goto(url + "/desk").status == 403
    assert reviewer.goto(url + "/jobs").status == 403


@pytest.mark.browser
def test_desk_and_jobs_in_chinese_with_local_times(console, desk, new_context):
    ctx = new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1440, "height": 1000})
    op = login(ctx, console, "operator_a")
    expect(op.locator("h1")).to_have_text("维修调度台")
    expect(op.locator(".who")).to_have_text("已登录：operator_a（接线员）")
    expect(op.locator("#board h2")).to_have_text("SLA 看板（30 分钟内到场）")
    expect(op.locator(f"tr[data-id='{desk['at_risk']}'] [data-sla]")).to_have_text("有风险")
    expect(op.locator("#coverage li[data-district='NORTH']")).to_contain_text("没有技师覆盖此区域")
    due = op.locator(f"tr[data-id='{desk['at_risk']}'] time")
    local = dt.datetime.fromisoformat(due.get_attribute("datetime")).astimezone(ZoneInfo("Asia/Shanghai"))
    expect(due).to_contain_text(local.strftime("%H:%M"))
    shot(op, "repair-desk-zh")

    tech = login(new_context(locale="zh-CN"), console, "tech_b")
    expect(tech.locator("h1")).to_have_text("我的工单")
    expect(tech.locator(".who")).to_contain_text("维修技师")
    job = tech.locator(f"#job-{desk['bobs_job']}")
    expect(job.locator("button[data-action=accept]")).to_have_text("接单")
    # declining with a reason hands the job back to the desk (nobody else has the boiler skill: it waits there)
    job.locator("input[data-reason=decline]").fill("没有配件")
    with tech.expect_navigation():
        job.locator("button[data-action=decline]").click()
    expect(tech.locator("#flash")).to_have_text("已拒绝，工单已退回调度台。")
    expect(job).to_have_count(0)
    op.reload()
    row = op.locator(f"#board-table tr[data-id='{desk['bobs_job']}']")
    expect(row.locator("[data-state]")).to_have_attribute("data-state", "new")
    expect(row.locator("td.tech")).to_have_text("未派单")
    # why it waits, in Chinese: nobody can take it, Tara lacks the skill, Bob declined
    op.goto(f"{console.url}/console/desk/requests/{desk['bobs_job']}")
    lines = op.locator("#dispatch-explanation li")
    expect(lines).to_have_text(["区域 CENTRE 当前没有技师可以接单", f"Tara Fix（#{desk['tara']}）：不具备技能 boiler",
                                f"Bob Wrench（#{desk['bob']}）：已拒绝此工单或未及时接单"])
    expect(op.locator("#sla-reason")).to_have_text(re.compile(r"^剩余 \d+ 分钟$"))


@pytest.mark.browser
def test_dispatch_explanation_and_sla_reason_in_chinese(console, desk, new_context):
    op = login(new_context(locale="zh-CN", viewport={"width": 1440, "height": 1000}), console, "operator_a")
    fresh = op.locator(f"#board-table tr[data-id='{desk['fresh']}']")
    expect(fresh.locator(".sla-reason")).to_have_text(re.compile(r"^剩余 \d+ 分钟$"))
    expect(fresh.locator("td.why")).to_have_text("覆盖缺口：没有技师覆盖区域 NORTH")
    breached = op.locator(f"#board-table tr[data-id='{desk['breached']}'] .sla-reason")
    expect(breached).to_have_text(re.compile(r"^已超出 30 分钟目标 \d+ 分钟$"))
    expect(op.locator("#coverage li[data-district='NORTH']")).to_have_attribute("title", "没有技师覆盖此区域")
    # a note stored before the codes: its English text, on the Chinese page
    old = op.locator(f"#board-table tr[data-id='{desk['old_note']}']")
    expect(old.locator("td.why")).to_have_text("coverage gap: no technician covers district NORTH")
    expect(old.locator(".sla-reason")).to_have_text(re.compile(r"^剩余 \d+ 分钟$"))
    shot(op, "repair-desk-reasons-zh")

    op.goto(f"{console.url}/console/desk/requests/{desk['fresh']}")
    expect(op.locator("#dispatch-summary")).to_have_text("暂时没有技师可以接单。")
    expect(op.locator("#dispatch-explanation li")).to_have_text(["覆盖缺口：没有技师覆盖区域 NORTH"])
    expect(op.locator("#sla-reason")).to_have_text(re.compile(r"^剩余 \d+ 分钟$"))
    op.goto(f"{console.url}/console/desk/requests/{desk['old_note']}")
    expect(op.locator("#dispatch-summary")).to_have_text("暂时没有技师可以接单。")
    expect(op.locator("#dispatch-explanation li")).to_have_text(["coverage gap: no technician covers district NORTH"])

    en = login(new_context(locale="en-US"), console, "operator_a")  # the same request in English
    en.goto(f"{console.url}/console/desk/requests/{desk['fresh']}")
    expect(en.locator("#dispatch-explanation li")).to_have_text(["coverage gap: no technician covers district NORTH"])
    expect(en.locator("#sla-reason")).to_have_text(re.compile(r"^\d+ min left$"))
