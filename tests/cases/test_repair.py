"""Repair desk rules: transitions and who may take them, dispatch choice, re-dispatch, SLA, coverage gaps."""

import datetime as dt

import pytest

from claimlens.cases import Forbidden, IllegalTransition, Invalid, Role
from claimlens.cases.repair import (
    REPAIR_TRANSITIONS,
    DispatchPolicy,
    RepairInput,
    RepairState,
    Sla,
    Technician,
    allowed_repair_actions,
    choose_technician,
    coverage_gaps,
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
    assert "tech3 (#3)" in d.summary and "12 min" in d.summary
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
    assert third.technician_id == 3 and not third.within_target and "at risk" in third.summary
    assert choose_technician("MITTE", None, team, later, DUE, exclude={1, 2, 3}).technician_id is None


def test_coverage_gap_when_nobody_covers_the_district():
    team = [tech(1, {"MITTE": 5}), tech(2, {"PANKOW": 5}, shift_start="18:00", shift_end="23:00")]
    d = choose_technician("SPANDAU", None, team, T0, DUE)
    assert d.technician_id is None and d.coverage_gap
    assert d.explanation == ["coverage gap: no technician covers district SPANDAU"]
    busy = choose_technician("PANKOW", None, team, T0, DUE)  # covered, but nobody on shift: no gap, a wait
    assert busy.technician_id is None and not busy.coverage_gap and "off shift" in busy.explanation[1]
    gaps = coverage_gaps(["MITTE", "PANKOW", "SPANDAU"], team, T0)
    assert [(g["district"], g["gap"]) for g in gaps] == [("PANKOW", "nobody_on_shift"), ("SPANDAU", "uncovered")]
    assert [g["district"] for g in coverage_gaps(["MITTE", "PANKOW", "SPANDAU"], team)] == ["SPANDAU"]


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
