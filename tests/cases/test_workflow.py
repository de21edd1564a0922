import pytest

from claimlens.cases import Forbidden, IllegalTransition, Invalid, Role, State, transition_for
from claimlens.cases.workflow import TRANSITIONS, outcome_after

REASON = "checked the photos"


def test_happy_path_states():
    s = State.SUBMITTED
    for action, role in [("start_analysis", Role.SYSTEM), ("analysis_done", Role.SYSTEM),
                         ("merchant_dispute", Role.MERCHANT), ("reject", Role.REVIEWER),
                         ("appeal", Role.BUYER), ("uphold", Role.ADMIN)]:
        s = transition_for(s, action, role, REASON).target
    assert s is State.FINAL


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", sorted({t.action for t in TRANSITIONS}))
def test_every_pair_is_allowed_exactly_by_the_table(state, action):
    """Each (state, action) either matches a table row or is refused with 409/403/422."""
    rows = [t for t in TRANSITIONS if t.action == action and state in t.source]
    for role in Role:
        allowed = [t for t in rows if role in t.roles]
        if allowed:
            assert transition_for(state, action, role, REASON).target is allowed[0].target
        else:
            with pytest.raises((IllegalTransition, Forbidden)):
                transition_for(state, action, role, REASON)


def test_illegal_transition_is_409_and_wrong_role_403():
    with pytest.raises(IllegalTransition) as e:
        transition_for(State.SUBMITTED, "approve", Role.REVIEWER, REASON)
    assert e.value.status == 409
    with pytest.raises(Forbidden) as e:
        transition_for(State.IN_REVIEW, "approve", Role.MERCHANT, REASON)
    assert e.value.status == 403
    with pytest.raises(Forbidden):  # a buyer cannot appeal an approval (only the merchant can)
        transition_for(State.APPROVED, "appeal", Role.BUYER, REASON)
    assert transition_for(State.APPROVED, "appeal", Role.MERCHANT, REASON).target is State.APPEALED


def test_reason_required_and_unknown_action():
    with pytest.raises(Invalid):
        transition_for(State.IN_REVIEW, "reject", Role.REVIEWER, "  ")
    with pytest.raises(Invalid):
        transition_for(State.IN_REVIEW, "refund_everything", Role.ADMIN)


def test_people_cannot_take_system_steps():
    for role in (Role.BUYER, Role.MERCHANT, Role.REVIEWER, Role.ADMIN, Role.PLATFORM):
        with pytest.raises(Forbidden):
            transition_for(State.ANALYSING, "auto_approve", role)


def test_outcome_after_overturn_flips():
    t = transition_for(State.APPEALED, "overturn", Role.REVIEWER, REASON)
    assert outcome_after(t, "rejected") == "approved"
    assert outcome_after(t, "approved") == "rejected"
    t = transition_for(State.APPEALED, "uphold", Role.REVIEWER, REASON)
    assert outcome_after(t, "rejected") == "rejected"
