import pytest

from claimlens.cases.policy import AutoApprovalPolicy, BuyerHistory, worst_verdict

CLEAN = "no_evidence_of_forgery"
P = AutoApprovalPolicy(max_amount_cents=5000, max_recent_refunds=3)


def test_clean_small_claim_is_auto_approved_with_reasons():
    d = P.decide("refund_only", 1200, [CLEAN, CLEAN], BuyerHistory())
    assert d.approve
    assert any("within the limit" in r for r in d.reasons)
    assert d.explanation.startswith("auto-approved")


@pytest.mark.parametrize("verdict", ["likely_forged", "suspicious"])
def test_suspect_photo_is_never_auto_approved(verdict):
    lenient = AutoApprovalPolicy(max_amount_cents=10**9, max_recent_refunds=10**6)
    d = lenient.decide("refund_only", 100, [CLEAN, verdict], BuyerHistory())
    assert not d.approve
    assert any("never auto-approved" in r for r in d.reasons)


@pytest.mark.parametrize("kw,history,needle", [
    ({"amount_cents": 5001}, BuyerHistory(), "above the limit"),
    ({"claim_type": "repair"}, BuyerHistory(), "always goes to the merchant"),
    ({}, BuyerHistory(refunds=3), "the limit is 3"),
    ({}, BuyerHistory(confirmed_forgeries=1), "confirmed forgery"),
    ({}, BuyerHistory(external_forgeries=2), "2 confirmed forgery"),
    ({}, BuyerHistory(external_reused_photos=1), "reused photo"),
    ({"verdicts": []}, BuyerHistory(), "no photo could be analysed"),
    ({"verdicts": ["unreadable"]}, BuyerHistory(), "could not be analysed cleanly"),
])
def test_each_condition_blocks_and_says_why(kw, history, needle):
    args = {"claim_type": "refund_only", "amount_cents": 1000, "verdicts": [CLEAN]} | kw
    d = P.decide(args["claim_type"], args["amount_cents"], args["verdicts"], history)
    assert not d.approve
    assert any(needle in r for r in d.reasons), d.reasons


def test_disabled_policy():
    d = AutoApprovalPolicy(enabled=False).decide("refund_only", 1, [CLEAN], BuyerHistory())
    assert not d.approve and "disabled" in d.explanation


def test_worst_verdict():
    assert worst_verdict([CLEAN, "suspicious", "unreadable"]) == "suspicious"
    assert worst_verdict(["likely_forged", CLEAN]) == "likely_forged"
    assert worst_verdict([]) is None
