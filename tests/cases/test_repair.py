"""Repair desk rules: transitions and who may take them, dispatch choice, re-dispatch, SLA, coverage gaps."""

import datetime as dt
import re
import string

import pytest

from claimlens.cases import Forbidden, IllegalTransition, Invalid, Role
from claimlens.cases.repair import (
    REASON_TEXT,
    REPAIR_TRANSITIONS,
    DispatchPolicy,
    Reason,
    RepairInput,
    RepairState,
    Sla,
    Technician,
    allowed_repair_actions,
    choose_technician,
    coverage_gaps,
    manual_dispatch,
    repair_transition,
    sla_status,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)  # a Monday, 09:00 UTC
POLICY = DispatchPolicy()
DUE = POLICY.due_at(T0)


def tech(id, districts, **kw):
    return Technician(id=id, name=f"tech{id}", districts=districts, **kw)


# Transitions ------------------------------------------------------------------------------------
def test_happy_path_and_who_moves_it():
    s = RepairState.NEW
    for action, role in [("dispatch", Role.SYSTEM), ("accept", Role.TECHNICIAN), ("arrive", Role.TECHNICIAN),
                         ("resolve", Role.TECHNICIAN)]:
        s = repair_transition(s, action, role, "replaced the pump").target
    assert s is RepairState.RESOLVED


@pytest.mark.parametrize("state", list(RepairState))
@pytest.mark.parametrize("action", sorted({t.action for t in REPAIR_TRANSITIONS}))
def test_every_pair_is_allowed_exactly_by_the_table(state, action):
    rows = [t for t in REPAIR_TRANSITIONS if t.action == action and state in t.source]
    for role in Role:
        allowed = [t for t in rows if role in t.roles]
        if allowed:
            assert repair_transition(state, action, role, "because").target is allowed[0].target
        else:
            with pytest.raises((IllegalTransition, Forbidden)):
                repair_transition(state, action, role, "because")


def test_errors_say_why():
    with pytest.raises(IllegalTransition) as e:  # 409
        repair_transition(RepairState.RESOLVED, "cancel", Role.OPERATOR, "dup")
    assert e.value.status == 409 and "resolved" in e.value.message
    with pytest.raises(Forbidden) as e:  # a customer cannot mark a technician on site
        repair_transition(RepairState.ACCEPTED, "arrive", Role.BUYER)
    assert e.value.status == 403
    with pytest.raises(Forbidden, match="assigned technician"):  # another technician's job
        repair_transition(RepairState.DISPATCHED, "accept", Role.TECHNICIAN, assigned=False)
    with pytest.raises(Invalid, match="needs a reason"):
        repair_transition(RepairState.ON_SITE, "resolve", Role.TECHNICIAN, "  ")
    with pytest.raises(Invalid, match="unknown action"):
        repair_transition(RepairState.NEW, "teleport", Role.ADMIN)
    assert allowed_repair_actions(RepairState.DISPATCHED, Role.TECHNICIAN, assigned=False) == []
    assert allowed_repair_actions(RepairState.DISPATCHED, Role.TECHNICIAN) == ["accept", "decline"]


def test_intake_channel_follows_who_files():
    base = dict(customer_name="Ann", phone="+49 30 1234567", address="Hauptstr. 1", district="mitte",
                fault="washer leaks")
    assert RepairInput(**base).validated(Role.OPERATOR).channel == "phone"
    assert RepairInput(**base).validated(Role.BUYER).channel == "online"
    assert RepairInput(**base).validated(Role.OPERATOR).district == "MITTE"
    with pytest.raises(Invalid, match="online requests only"):
        RepairInput(**base, channel="phone").validated(Role.BUYER)
    with pytest.raises(Forbidden):
        RepairInput(**base).validated(Role.TECHNICIAN)
    with pytest.raises(Invalid, match="phone"):
        RepairInput(**{**base, "phone": "12"}).validated(Role.OPERATOR)
    with pytest.raises(Invalid, match="priority"):
        RepairInput(**base, priority="asap").validated(Role.OPERATOR)
    with pytest.raises(Invalid, match="fault"):
        RepairInput(**{**base, "fault": " "}).validated(Role.OPERATOR)


# Dispatch ---------------------------------------------------------------------------------------
def test_dispatch_picks_the_soonest_arrival_and_explains():
    team = [tech(1, {"MITTE": 25}), tech(2, {"MITTE": 10}, load=1), tech(3, {"MITTE": 12}),
            tech(4, {"PANKOW": 5})]
    d = choose_technician("MITTE", None, team, T0, DUE)
    # tech2 travels least but has a job ahead (10 + 20 min); tech3 arrives in 12
    assert d.technician_id == 3 and d.eta_minutes == 12 and d.within_target
    assert [c["technician_id"] for c in d.ranking] == [3, 1, 2]
    assert d.summary == ("tech3 (#3) can be on site soonest: about 12 min (travel 12 min, 0 open job(s)), "
                         "30 min left of the 30-minute target")
    assert d.explanation[1:] == ["tech1 (#1): about 25 min, 0 open job(s)", "tech2 (#2): about 30 min, 1 open job(s)"]
    assert d.explanation_codes[0] == {"code": "soonest", "params": {"name": "tech3", "id": 3, "eta": 12, "travel": 12,
                                                                    "load": 0, "left": 30, "target": 30}}
    assert not any("tech4" in line for line in d.explanation)  # not in the district: not part of the picture


def test_ties_go_to_the_less_loaded():
    d = choose_technician("MITTE", None, [tech(1, {"MITTE": 25}, load=0), tech(2, {"MITTE": 5}, load=1)],
                          T0, DUE, DispatchPolicy(job_minutes=20))
    assert d.eta_minutes == 25 and d.technician_id == 1  # both 25 min; #1 has no job ahead


def test_skill_shift_availability_capacity_and_exclusions_rule_out():
    berlin_day = dict(shift_start="08:00", shift_end="16:00", timezone="Europe/Berlin")  # 09:00 UTC = 10:00 Berlin
    team = [tech(1, {"MITTE": 5}, skills=frozenset({"fridge"})),
            tech(2, {"MITTE": 6}, skills=frozenset({"washer"}), available=False),
            tech(3, {"MITTE": 7}, skills=frozenset({"washer"}), shift_start="12:00", shift_end="20:00"),
            tech(4, {"MITTE": 8}, skills=frozenset({"washer"}), load=2, max_jobs=2),
            tech(5, {"MITTE": 9}, skills=frozenset({"washer"})),
            tech(6, {"MITTE": 29}, skills=frozenset({"washer"}), **berlin_day)]
    d = choose_technician("MITTE", "washer", team, T0, DUE, exclude={5})
    assert d.technician_id == 6
    text = "\n".join(d.explanation)
    for why in ("tech1 (#1): lacks the skill washer", "tech2 (#2): marked unavailable",
                "tech3 (#3): off shift (12:00-20:00 UTC)", "tech4 (#4): at capacity (2/2 open jobs)",
                "tech5 (#5): declined or did not accept this job"):
        assert why in text
    # at 15:30 UTC the Berlin shift (until 16:00 local = 15:00 UTC) is over and tech3's has begun
    late = T0.replace(hour=15, minute=30)
    d = choose_technician("MITTE", "washer", team, late, POLICY.due_at(late), exclude={5})
    assert d.technician_id == 3 and "tech6 (#6): off shift (08:00-16:00 Europe/Berlin)" in d.explanation


def test_shift_over_midnight():
    night = tech(1, {"MITTE": 5}, shift_start="22:00", shift_end="06:00")
    assert night.on_shift(T0.replace(hour=23)) and night.on_shift(T0.replace(hour=5, minute=59))
    assert not night.on_shift(T0.replace(hour=6)) and not night.on_shift(T0.replace(hour=12))


def test_redispatch_on_decline_or_timeout_goes_to_the_next_best():
    team = [tech(1, {"MITTE": 5}), tech(2, {"MITTE": 15}), tech(3, {"MITTE": 45})]
    first = choose_technician("MITTE", None, team, T0, DUE)
    assert first.technician_id == 1
    # tech1 declines: the job goes to tech2; tech2 lets the acceptance window pass: tech3, beyond the target
    later = T0 + dt.timedelta(minutes=POLICY.accept_minutes)
    second = choose_technician("MITTE", None, team, later, DUE, exclude={1})
    assert second.technician_id == 2 and second.within_target
    third = choose_technician("MITTE", None, team, later + dt.timedelta(minutes=5), DUE, exclude={1, 2})
    assert third.technician_id == 3 and not third.within_target
    assert third.summary == "tech3 (#3) is the soonest, about 45 min, but only 20 min are left of the 30-minute target: at risk"
    assert choose_technician("MITTE", None, team, later, DUE, exclude={1, 2, 3}).technician_id is None


def test_coverage_gap_when_nobody_covers_the_district():
    team = [tech(1, {"MITTE": 5}), tech(2, {"PANKOW": 5}, shift_start="18:00", shift_end="23:00")]
    d = choose_technician("SPANDAU", None, team, T0, DUE)
    assert d.technician_id is None and d.coverage_gap
    assert d.explanation == ["coverage gap: no technician covers district SPANDAU"]
    busy = choose_technician("PANKOW", None, team, T0, DUE)  # covered, but nobody on shift: no gap, a wait
    assert busy.technician_id is None and not busy.coverage_gap
    assert busy.explanation == ["no technician can take the job in district PANKOW now",
                                "tech2 (#2): off shift (18:00-23:00 UTC)"]
    gaps = coverage_gaps(["MITTE", "PANKOW", "SPANDAU"], team, T0)
    assert [(g["district"], g["gap"]) for g in gaps] == [("PANKOW", "nobody_on_shift"), ("SPANDAU", "uncovered")]
    assert [g["detail"] for g in gaps] == ["1 technician(s) cover it, none is on shift and available now",
                                           "no technician covers this district"]
    assert gaps[0]["detail_code"] == {"code": "gap_nobody_on_shift", "params": {"count": 1}}
    assert [g["district"] for g in coverage_gaps(["MITTE", "PANKOW", "SPANDAU"], team)] == ["SPANDAU"]


def test_manual_dispatch_warns_about_everything_against_it():
    t = tech(7, {"PANKOW": 5}, skills=frozenset({"fridge"}), available=False, shift_start="18:00",
             shift_end="23:00", load=3, max_jobs=3)
    d = manual_dispatch(t, "MITTE", "washer", T0, DUE, "op_a", "  nearby today ")
    assert d.technician_id == 7 and d.eta_minutes is None and not d.within_target
    assert d.explanation == ["manual dispatch to tech7 (#7) by op_a: nearby today",
                             "warning: tech7 does not cover district MITTE", "warning: tech7 lacks the skill washer",
                             "warning: tech7 marked unavailable", "warning: tech7 off shift (18:00-23:00 UTC)",
                             "warning: tech7 at capacity (3/3)"]
    fine = manual_dispatch(tech(8, {"MITTE": 12}), "MITTE", None, T0, DUE, "op_a", "asked for")
    assert fine.eta_minutes == 12 and fine.within_target and len(fine.explanation) == 1


# SLA --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("minutes,state,eta,expect", [
    (5, RepairState.DISPATCHED, 10, Sla.ON_TRACK),
    (5, RepairState.DISPATCHED, 40, Sla.AT_RISK),  # the technician's estimate is past the target
    (21, RepairState.NEW, None, Sla.AT_RISK),  # nobody yet, 9 min left
    (15, RepairState.NEW, None, Sla.ON_TRACK),
    (25, RepairState.ACCEPTED, 28, Sla.AT_RISK),  # 5 min left
    (31, RepairState.ACCEPTED, 28, Sla.BREACHED),
    (31, RepairState.CANCELLED, None, Sla.CLOSED),
])
def test_sla_open_requests(minutes, state, eta, expect):
    now = T0 + dt.timedelta(minutes=minutes)
    eta_at = None if eta is None else T0 + dt.timedelta(minutes=eta)
    st = sla_status(state, DUE, now, eta_at=eta_at)
    assert st.status is expect, st.reason
    assert st.minutes_left == pytest.approx(30 - minutes)


def test_sla_met_or_missed_once_on_site():
    assert sla_status(RepairState.ON_SITE, DUE, T0 + dt.timedelta(hours=2), T0 + dt.timedelta(minutes=29)).status is Sla.MET
    missed = sla_status(RepairState.RESOLVED, DUE, T0 + dt.timedelta(hours=2), T0 + dt.timedelta(minutes=42))
    assert missed.status is Sla.MISSED and "12 min after" in missed.reason


@pytest.mark.parametrize("minutes,state,on_site,eta,reason", [
    (5, RepairState.DISPATCHED, None, 10, "25 min left"),
    (5, RepairState.DISPATCHED, None, 40, "technician expected 10 min after the target"),
    (21, RepairState.NEW, None, None, "no technician yet, 9 min left"),
    (25, RepairState.ACCEPTED, None, 28, "5 min left"),
    (31, RepairState.ACCEPTED, None, 28, "1 min past the 30-minute target"),
    (31, RepairState.CANCELLED, None, None, "cancelled"),
    (31, RepairState.RESOLVED, None, None, "resolved"),
    (60, RepairState.ON_SITE, 29, None, "on site 1 min before the target"),
])
def test_sla_reasons_keep_their_english_text(minutes, state, on_site, eta, reason):
    at = lambda m: None if m is None else T0 + dt.timedelta(minutes=m)  # noqa: E731
    st = sla_status(state, DUE, at(minutes), at(on_site), at(eta))
    assert st.reason == reason == Reason(**st.why.as_dict()).text


# Reasons in every language -------------------------------------------------------------------------
def every_reason() -> list[Reason]:
    """Real dispatch explanations, SLA reasons and coverage details, from scenarios that reach every code."""
    out: list[Reason] = []
    team = [tech(1, {"MITTE": 5}, skills=frozenset({"fridge"})), tech(2, {"MITTE": 6}, available=False),
            tech(3, {"MITTE": 7}, shift_start="12:00", shift_end="20:00", timezone="Europe/Berlin"),
            tech(4, {"MITTE": 8}, load=2, max_jobs=2), tech(5, {"MITTE": 9}), tech(6, {"MITTE": 10}),
            tech(7, {"MITTE": 11}, load=1)]
    skilled = [t for t in team if t.id != 1]
    out += choose_technician("MITTE", "washer", team, T0, DUE, exclude={5}).reasons  # refusals
    out += choose_technician("MITTE", None, skilled, T0, DUE).reasons  # soonest and candidates
    out += choose_technician("MITTE", None, skilled, T0, T0 + dt.timedelta(minutes=4)).reasons  # at risk
    out += choose_technician("SPANDAU", None, team, T0, DUE).reasons  # coverage gap
    out += choose_technician("MITTE", None, team[:2], T0, DUE).reasons  # nobody now
    worst = tech(8, {"PANKOW": 5}, available=False, shift_start="18:00", shift_end="23:00", load=3, max_jobs=3)
    out += manual_dispatch(worst, "MITTE", "washer", T0, DUE, "op_a", "nearby").reasons
    for minutes, state, on_site, eta in [(5, "dispatched", None, 10), (5, "dispatched", None, 40), (21, "new", None, None),
                                         (31, "accepted", None, None), (31, "cancelled", None, None),
                                         (31, "resolved", None, None), (60, "on_site", 29, None),
                                         (60, "resolved", 42, None)]:
        at = lambda m: None if m is None else T0 + dt.timedelta(minutes=m)  # noqa: E731
        out.append(sla_status(state, DUE, at(minutes), at(on_site), at(eta)).why)
    gaps = coverage_gaps(["MITTE", "PANKOW", "SPANDAU"], [tech(1, {"MITTE": 5}), worst], T0)
    out += [Reason(**g["detail_code"]) for g in gaps]
    return out


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_reason_code_renders_in_english_and_chinese_with_its_params():
    from claimlens.api.web.i18n import MESSAGES, REASONS_ZH, Translator

    reasons = every_reason()
    assert {r.code for r in reasons} == set(REASON_TEXT) == set(REASONS_ZH)  # every code reached and translated
    en, zh = Translator("en"), Translator("zh")
    for r in reasons:
        for lang in ("en", "zh"):  # each template uses exactly the parameters the domain gives
            assert template_fields(MESSAGES[lang][f"why.{r.code}"]) == set(r.params), (lang, r.code)
        coded = r.as_dict()
        english, chinese = en.reason(coded, "FALLBACK"), zh.reason(coded, "FALLBACK")
        assert english == r.text  # the console's English is the API's English
        assert "{" not in english and "{" not in chinese and "FALLBACK" not in (english, chinese)
        assert re.search(r"[\u4e00-\u9fff]", chinese), (r.code, chinese)
        for value in r.params.values():  # names, minutes, districts... all reach the Chinese sentence
            assert str(value) in chinese, (r.code, value, chinese)


def test_unknown_or_broken_codes_fall_back_to_the_english_text():
    from claimlens.api.web.i18n import Translator

    zh = Translator("zh")
    assert zh.reason(None, "12 min left") == "12 min left"
    assert zh.reason({"code": "no_such_code", "params": {}}, "as stored") == "as stored"
    assert zh.reason({"code": "left", "params": {}}, "12 min left") == "12 min left"  # a parameter missing
    assert zh.reason({"code": "left", "params": {"minutes": 12}}, "12 min left") == "剩余 12 分钟"
    # names are escaped for the page
    assert "&lt;b&gt;" in zh.reason({"code": "refused_unavailable", "params": {"name": "<b>", "id": 1}})
