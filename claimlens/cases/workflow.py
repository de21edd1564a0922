"""Claim states and the one transition table: which action moves a claim from where to where, and who may."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import Forbidden, IllegalTransition, Invalid


class State(StrEnum):
    SUBMITTED = "submitted"
    ANALYSING = "analysing"
    AWAITING_MERCHANT = "awaiting_merchant"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    MORE_EVIDENCE_REQUESTED = "more_evidence_requested"
    APPEALED = "appealed"
    FINAL = "final"


class Role(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    PLATFORM = "platform"  # an API client of the marketplace
    SYSTEM = "system"  # the service itself: analysis jobs, deadlines
    OPERATOR = "operator"  # repair desk: takes customers' calls, dispatches technicians
    TECHNICIAN = "technician"  # repair desk: works the jobs dispatched to them


class ClaimType(StrEnum):
    REFUND_ONLY = "refund_only"
    RETURN_AND_REFUND = "return_and_refund"
    REPAIR = "repair"


USER_ROLES = tuple(r.value for r in Role if r is not Role.SYSTEM)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a logged-in user (with its tenant) or the system."""

    role: Role
    user_id: int | None = None
    name: str = "system"
    merchant_id: int | None = None
    buyer_id: int | None = None

    @property
    def label(self) -> str:
        return "system" if self.role is Role.SYSTEM else f"{self.role.value}:{self.name}#{self.user_id}"


SYSTEM = Actor(Role.SYSTEM)


@dataclass(frozen=True)
class Transition:
    action: str
    source: frozenset[State]
    target: State
    roles: frozenset[Role]
    needs_reason: bool = False
    decision: str | None = None  # the outcome this transition decides, if any


def _t(action, source, target, roles, needs_reason=False, decision=None) -> Transition:
    return Transition(action, frozenset(source), target, frozenset(roles), needs_reason, decision)


S, R = State, Role
REVIEWERS = {R.REVIEWER, R.ADMIN}

TRANSITIONS: tuple[Transition, ...] = (
    _t("start_analysis", {S.SUBMITTED}, S.ANALYSING, {R.SYSTEM}),
    _t("analysis_done", {S.ANALYSING}, S.AWAITING_MERCHANT, {R.SYSTEM}),
    _t("reanalysis_done", {S.ANALYSING}, S.IN_REVIEW, {R.SYSTEM}),
    _t("analysis_failed", {S.SUBMITTED, S.ANALYSING}, S.IN_REVIEW, {R.SYSTEM}, needs_reason=True),
    _t("auto_approve", {S.ANALYSING}, S.APPROVED, {R.SYSTEM}, decision="approved"),
    _t("merchant_accept", {S.AWAITING_MERCHANT}, S.APPROVED, {R.MERCHANT}, decision="approved"),
    _t("merchant_dispute", {S.AWAITING_MERCHANT}, S.IN_REVIEW, {R.MERCHANT}, needs_reason=True),
    _t("merchant_window_expired", {S.AWAITING_MERCHANT}, S.IN_REVIEW, {R.SYSTEM}),
    _t("approve", {S.IN_REVIEW}, S.APPROVED, REVIEWERS, needs_reason=True, decision="approved"),
    _t("reject", {S.IN_REVIEW}, S.REJECTED, REVIEWERS, needs_reason=True, decision="rejected"),
    _t("request_evidence", {S.IN_REVIEW}, S.MORE_EVIDENCE_REQUESTED, REVIEWERS, needs_reason=True),
    _t("provide_evidence", {S.MORE_EVIDENCE_REQUESTED}, S.SUBMITTED, {R.BUYER, R.PLATFORM}),
    # The losing side appeals: the buyer a rejection, the merchant an approval.
    _t("appeal", {S.REJECTED}, S.APPEALED, {R.BUYER, R.PLATFORM}, needs_reason=True),
    _t("appeal", {S.APPROVED}, S.APPEALED, {R.MERCHANT, R.PLATFORM}, needs_reason=True),
    _t("uphold", {S.APPEALED}, S.FINAL, REVIEWERS, needs_reason=True, decision="upheld"),
    _t("overturn", {S.APPEALED}, S.FINAL, REVIEWERS, needs_reason=True, decision="overturned"),
    _t("finalize", {S.APPROVED, S.REJECTED}, S.FINAL, REVIEWERS | {R.SYSTEM}),
)

ACTIONS = tuple(sorted({t.action for t in TRANSITIONS}))
# Actions a person may ask for through the API (the others belong to the system).
USER_ACTIONS = tuple(sorted({t.action for t in TRANSITIONS if t.roles - {R.SYSTEM}} - {"provide_evidence"}))


def transition_for(state: State | str, action: str, role: Role | str, reason: str = "") -> Transition:
    """The transition `role` may take with `action` from `state`, or the error saying why not."""
    state, role = State(state), Role(role)
    rows = [t for t in TRANSITIONS if t.action == action]
    if not rows:
        raise Invalid(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    if not any(role in t.roles for t in rows):
        raise Forbidden(f"a {role.value} may not {action}")
    here = [t for t in rows if state in t.source]
    if not here:
        raise IllegalTransition(f"cannot {action} a claim that is {state.value}")
    allowed = [t for t in here if role in t.roles]
    if not allowed:
        raise Forbidden(f"a {role.value} may not {action} a claim that is {state.value}")
    t = allowed[0]
    if t.needs_reason and not reason.strip():
        raise Invalid(f"{action} needs a reason")
    return t


def outcome_after(t: Transition, current_outcome: str | None) -> str | None:
    """The claim's outcome (approved / rejected) after transition t."""
    if t.decision in ("approved", "rejected"):
        return t.decision
    if t.decision == "overturned":
        return {"approved": "rejected", "rejected": "approved"}.get(current_outcome or "", current_outcome)
    return current_outcome
