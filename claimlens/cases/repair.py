"""Repair desk: repair requests, their states and who moves them, technician dispatch against the response
target, and the SLA clock. Pure rules: time is always passed in, nothing here touches a database."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import Forbidden, IllegalTransition, Invalid
from .identity import normalise_phone
from .workflow import Role


class RepairState(StrEnum):
    NEW = "new"  # waiting for a technician
    DISPATCHED = "dispatched"  # offered to a technician, who must accept in time
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    PHONE = "phone"
    ONLINE = "online"


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


OPEN_STATES = (RepairState.NEW, RepairState.DISPATCHED, RepairState.ACCEPTED, RepairState.ON_SITE)
ASSIGNED_STATES = (RepairState.DISPATCHED, RepairState.ACCEPTED, RepairState.ON_SITE)  # count as a technician's load
# A technician sees the customer's name, phone and address only while working the job: not on the offer
# (which they may decline) and not after it is closed.
CONTACT_STATES = (RepairState.ACCEPTED, RepairState.ON_SITE)


def technician_sees_contact(state: RepairState | str) -> bool:
    return RepairState(state) in CONTACT_STATES
DESK = frozenset({Role.OPERATOR, Role.ADMIN})


@dataclass(frozen=True)
class RepairTransition:
    action: str
    source: frozenset[RepairState]
    target: RepairState
    roles: frozenset[Role]
    needs_reason: bool = False
    assigned_only: bool = False  # a technician may take it only on their own job


def _t(action, source, target, roles, needs_reason=False, assigned_only=False) -> RepairTransition:
    return RepairTransition(action, frozenset(source), target, frozenset(roles), needs_reason, assigned_only)


S, R = RepairState, Role
REPAIR_TRANSITIONS: tuple[RepairTransition, ...] = (
    _t("dispatch", {S.NEW}, S.DISPATCHED, DESK | {R.SYSTEM}),
    # manual override: the desk moves the job to another technician
    _t("reassign", {S.DISPATCHED, S.ACCEPTED}, S.DISPATCHED, DESK, needs_reason=True),
    _t("accept", {S.DISPATCHED}, S.ACCEPTED, {R.TECHNICIAN}, assigned_only=True),
    # a decline or a missed acceptance puts the job back in the queue; it is re-dispatched at once
    _t("decline", {S.DISPATCHED, S.ACCEPTED}, S.NEW, {R.TECHNICIAN}, needs_reason=True, assigned_only=True),
    _t("accept_timeout", {S.DISPATCHED}, S.NEW, {R.SYSTEM}),
    _t("arrive", {S.ACCEPTED}, S.ON_SITE, {R.TECHNICIAN}, assigned_only=True),
    _t("resolve", {S.ON_SITE}, S.RESOLVED, {R.TECHNICIAN, R.ADMIN}, needs_reason=True, assigned_only=True),
    _t("cancel", {S.NEW, S.DISPATCHED, S.ACCEPTED}, S.CANCELLED, DESK | {R.BUYER}, needs_reason=True),
)
REPAIR_ACTIONS = tuple(sorted({t.action for t in REPAIR_TRANSITIONS}))


def repair_transition(state: RepairState | str, action: str, role: Role | str, reason: str = "",
                      assigned: bool = True) -> RepairTransition:
    """The transition `role` may take with `action` from `state`, or the error saying why not.
    assigned: whether the acting technician is the one the job is assigned to."""
    state, role = RepairState(state), Role(role)
    rows = [t for t in REPAIR_TRANSITIONS if t.action == action]
    if not rows:
        raise Invalid(f"unknown action {action!r}; known: {', '.join(REPAIR_ACTIONS)}")
    if not any(role in t.roles for t in rows):
        raise Forbidden(f"a {role.value} may not {action} a repair request")
    here = [t for t in rows if state in t.source and role in t.roles]
    if not here:
        raise IllegalTransition(f"cannot {action} a repair request that is {state.value}")
    t = here[0]
    if t.assigned_only and role is Role.TECHNICIAN and not assigned:
        raise Forbidden(f"only the assigned technician may {action} this job")
    if t.needs_reason and not reason.strip():
        raise Invalid(f"{action} needs a reason")
    return t


def allowed_repair_actions(state: RepairState | str, role: Role, assigned: bool = True) -> list[str]:
    state = RepairState(state)
    return sorted({t.action for t in REPAIR_TRANSITIONS if state in t.source and role in t.roles
                   and not (t.assigned_only and role is Role.TECHNICIAN and not assigned)})


# Intake ------------------------------------------------------------------------------------------
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")


def district_code(code: str) -> str:
    c = (code or "").strip().upper()
    if not CODE.match(c):
        raise Invalid("district code: 1 to 40 letters, digits, '-', '_' or '.'")
    return c


def skill_name(skill: str) -> str:
    s = (skill or "").strip().lower()
    if not CODE.match(s):
        raise Invalid(f"skill {skill!r}: 1 to 40 letters, digits, '-', '_' or '.'")
    return s


@dataclass
class RepairInput:
    customer_name: str
    phone: str
    address: str
    district: str
    fault: str
    skill: str | None = None
    product_id: int | None = None
    order_ref: str | None = None
    priority: str = Priority.NORMAL.value
    channel: str | None = None

    def validated(self, role: Role) -> "RepairInput":
        """Checked and normalised; the channel follows from who files: operators take calls, customers go online."""
        name, address, fault = (self.customer_name or "").strip(), (self.address or "").strip(), (self.fault or "").strip()
        if not 0 < len(name) <= 200:
            raise Invalid("customer_name: 1 to 200 characters")
        if not 0 < len(address) <= 1000:
            raise Invalid("address: 1 to 1000 characters")
        if not 0 < len(fault) <= 5000:
            raise Invalid("fault: describe the fault (1 to 5000 characters)")
        if len(self.phone or "") > 64:
            raise Invalid("phone is longer than 64 characters")
        normalise_phone(self.phone)  # raises Invalid when it is no phone number
        order_ref = (self.order_ref or "").strip() or None
        if order_ref is not None and len(order_ref) > 120:
            raise Invalid("order_id: at most 120 characters")
        try:
            priority = Priority(self.priority or "normal").value
        except ValueError:
            raise Invalid(f"priority must be one of {', '.join(p.value for p in Priority)}") from None
        channel = intake_channel(role, self.channel)
        return RepairInput(name, self.phone.strip(), address, district_code(self.district), fault,
                           skill_name(self.skill) if self.skill else None, self.product_id, order_ref, priority,
                           channel)


def intake_channel(role: Role, requested: str | None) -> str:
    if requested is not None and requested not in (c.value for c in Channel):
        raise Invalid(f"channel must be one of {', '.join(c.value for c in Channel)}")
    own = {Role.OPERATOR: Channel.PHONE.value, Role.BUYER: Channel.ONLINE.value}.get(role)
    if role is Role.ADMIN:
        return requested or Channel.PHONE.value
    if own is None:
        raise Forbidden(f"a {role.value} may not file repair requests")
    if requested not in (None, own):
        raise Invalid(f"a {role.value} files {own} requests only")
    return own


# Technicians and shifts --------------------------------------------------------------------------
def parse_hhmm(value: str, what: str = "time") -> dt.time:
    try:
        return dt.time.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise Invalid(f"{what} must be HH:MM, got {value!r}") from None


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
    return name


@dataclass(frozen=True)
class Technician:
    id: int
    name: str
    districts: dict[str, int]  # district code -> estimated travel minutes from the technician's base
    skills: frozenset[str] = frozenset()
    shift_start: str = "00:00"
    shift_end: str = "00:00"  # equal start and end: on shift all day; end before start: over midnight
    timezone: str = "UTC"
    available: bool = True
    load: int = 0  # open jobs assigned now
    max_jobs: int = 3

    def on_shift(self, now: dt.datetime) -> bool:
        start, end = parse_hhmm(self.shift_start), parse_hhmm(self.shift_end)
        if start == end:
            return True
        t = now.astimezone(ZoneInfo(self.timezone)).time()
        return start <= t < end if start < end else (t >= start or t < end)


@dataclass(frozen=True)
class DispatchPolicy:
    response_minutes: int = 30  # a technician on site within this time of the request
    accept_minutes: int = 5  # a dispatched technician accepts within this, else the job is re-dispatched
    job_minutes: int = 20  # estimated time each open job ahead adds to a technician's arrival
    at_risk_minutes: int = 10  # an open request with this little time left is at risk

    def due_at(self, created_at: dt.datetime) -> dt.datetime:
        return created_at + dt.timedelta(minutes=self.response_minutes)


# Reasons -----------------------------------------------------------------------------------------
# Every dispatch explanation line, SLA reason and coverage-gap detail is a code with parameters; the English text
# the API has always carried is rendered from them here, and the console renders the same code and parameters in
# the viewer's language (claimlens.api.web.i18n, key "why.<code>").
REASON_TEXT: dict[str, str] = {
    # dispatch: the chosen technician
    "soonest": "{name} (#{id}) can be on site soonest: about {eta} min (travel {travel} min, {load} open job(s)), "
               "{left} min left of the {target}-minute target",
    "at_risk_soonest": "{name} (#{id}) is the soonest, about {eta} min, but only {left} min are left of the "
                       "{target}-minute target: at risk",
    "candidate": "{name} (#{id}): about {eta} min, {load} open job(s)",
    # dispatch: why a technician of the district was passed over
    "refused_declined": "{name} (#{id}): declined or did not accept this job",
    "refused_skill": "{name} (#{id}): lacks the skill {skill}",
    "refused_unavailable": "{name} (#{id}): marked unavailable",
    "refused_off_shift": "{name} (#{id}): off shift ({start}-{end} {timezone})",
    "refused_capacity": "{name} (#{id}): at capacity ({load}/{max_jobs} open jobs)",
    # dispatch: nobody
    "coverage_gap": "coverage gap: no technician covers district {district}",
    "nobody_now": "no technician can take the job in district {district} now",
    # manual dispatch by the desk, and what speaks against the chosen technician
    "manual": "manual dispatch to {name} (#{id}) by {by}: {reason}",
    "warning_district": "warning: {name} does not cover district {district}",
    "warning_skill": "warning: {name} lacks the skill {skill}",
    "warning_unavailable": "warning: {name} marked unavailable",
    "warning_off_shift": "warning: {name} off shift ({start}-{end} {timezone})",
    "warning_capacity": "warning: {name} at capacity ({load}/{max_jobs})",
    # SLA
    "met": "on site {minutes} min before the target",
    "missed": "on site {minutes} min after the target",
    "cancelled": "cancelled",
    "resolved": "resolved",
    "breached": "{minutes} min past the {target}-minute target",
    "no_technician": "no technician yet, {minutes} min left",
    "late_eta": "technician expected {minutes} min after the target",
    "left": "{minutes} min left",
    # coverage report
    "gap_uncovered": "no technician covers this district",
    "gap_nobody_on_shift": "{count} technician(s) cover it, none is on shift and available now",
}


@dataclass(frozen=True)
class Reason:
    """One explanation line or reason: a code of REASON_TEXT and its parameters (JSON values)."""
    code: str
    params: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The English sentence, as the API has always given it."""
        return REASON_TEXT[self.code].format(**self.params)

    def as_dict(self) -> dict:
        return {"code": self.code, "params": dict(self.params)}


def _whole(minutes: float) -> int:
    """Minutes as shown: rounded like the "{:.0f}" the English text used before the codes."""
    return int(f"{minutes:.0f}")


@dataclass
class Dispatch:
    technician_id: int | None
    eta_minutes: int | None
    within_target: bool
    coverage_gap: bool  # nobody at all covers the district
    reasons: list[Reason] = field(default_factory=list)
    ranking: list[dict] = field(default_factory=list)  # eligible technicians, best first

    @property
    def explanation(self) -> list[str]:
        return [r.text for r in self.reasons]

    @property
    def explanation_codes(self) -> list[dict]:
        return [r.as_dict() for r in self.reasons]

    @property
    def summary(self) -> str:
        return self.reasons[0].text if self.reasons else ""

    def note(self, at: dt.datetime, by: str, automatic: bool) -> dict:
        """The dispatch note stored with the request and shown to staff: the English lines and their codes."""
        return {"at": at.isoformat(), "by": by, "automatic": automatic, "technician_id": self.technician_id,
                "eta_minutes": self.eta_minutes, "within_target": self.within_target,
                "coverage_gap": self.coverage_gap, "explanation": self.explanation,
                "explanation_codes": self.explanation_codes, "ranking": self.ranking}


def _shift(t: Technician) -> dict:
    return {"start": t.shift_start, "end": t.shift_end, "timezone": t.timezone}


def choose_technician(district: str, skill: str | None, technicians: list[Technician], now: dt.datetime,
                      due_at: dt.datetime, policy: DispatchPolicy = DispatchPolicy(),
                      exclude: set[int] | frozenset[int] = frozenset()) -> Dispatch:
    """The technician who can be on site soonest: covers the district, has the skill, is on shift, available and
    below capacity, has not declined this job. Arrival estimate = travel minutes + open jobs x job_minutes.
    Ties go to the less loaded, then the lower id. The explanation says why each other technician lost."""
    minutes_left = (due_at - now).total_seconds() / 60
    eligible, refused = [], []
    covering = [t for t in technicians if district in t.districts]
    for t in sorted(technicians, key=lambda t: t.id):
        if district not in t.districts:
            continue  # not part of this district's picture
        who = {"name": t.name, "id": t.id}
        if t.id in exclude:
            why = Reason("refused_declined", who)
        elif skill and skill not in t.skills:
            why = Reason("refused_skill", who | {"skill": skill})
        elif not t.available:
            why = Reason("refused_unavailable", who)
        elif not t.on_shift(now):
            why = Reason("refused_off_shift", who | _shift(t))
        elif t.load >= t.max_jobs:
            why = Reason("refused_capacity", who | {"load": t.load, "max_jobs": t.max_jobs})
        else:
            why = None
        if why:
            refused.append(why)
            continue
        eta = t.districts[district] + t.load * policy.job_minutes
        eligible.append({"technician_id": t.id, "name": t.name, "eta_minutes": eta, "load": t.load,
                         "travel_minutes": t.districts[district], "within_target": eta <= minutes_left})
    eligible.sort(key=lambda c: (not c["within_target"], c["eta_minutes"], c["load"], c["technician_id"]))
    if not covering:
        return Dispatch(None, None, False, True, [Reason("coverage_gap", {"district": district})])
    if not eligible:
        return Dispatch(None, None, False, False, [Reason("nobody_now", {"district": district})] + refused)
    best = eligible[0]
    head = {"name": best["name"], "id": best["technician_id"], "eta": best["eta_minutes"],
            "left": int(minutes_left), "target": policy.response_minutes}
    if best["within_target"]:
        head = Reason("soonest", head | {"travel": best["travel_minutes"], "load": best["load"]})
    else:
        head = Reason("at_risk_soonest", head)
    others = [Reason("candidate", {"name": c["name"], "id": c["technician_id"], "eta": c["eta_minutes"],
                                   "load": c["load"]}) for c in eligible[1:]]
    return Dispatch(best["technician_id"], best["eta_minutes"], best["within_target"], False,
                    [head] + others + refused, eligible)


def manual_dispatch(t: Technician, district: str, skill: str | None, now: dt.datetime, due_at: dt.datetime,
                    by: str, reason: str, policy: DispatchPolicy = DispatchPolicy()) -> Dispatch:
    """The desk sends a named technician: allowed whatever speaks against it, which the explanation warns about."""
    who = {"name": t.name}
    warnings = [w for cond, w in [
        (district not in t.districts, Reason("warning_district", who | {"district": district})),
        (bool(skill) and skill not in t.skills, Reason("warning_skill", who | {"skill": skill})),
        (not t.available, Reason("warning_unavailable", who)),
        (not t.on_shift(now), Reason("warning_off_shift", who | _shift(t))),
        (t.load >= t.max_jobs, Reason("warning_capacity", who | {"load": t.load, "max_jobs": t.max_jobs}))] if cond]
    eta = None if district not in t.districts else t.districts[district] + t.load * policy.job_minutes
    within = eta is not None and now + dt.timedelta(minutes=eta) <= due_at
    head = Reason("manual", {"name": t.name, "id": t.id, "by": by, "reason": reason.strip()})
    return Dispatch(t.id, eta, within, False, [head] + warnings)


# SLA ---------------------------------------------------------------------------------------------
class Sla(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"  # open, nobody on site, target passed
    MET = "met"
    MISSED = "missed"  # on site, but after the target
    CLOSED = "closed"  # cancelled before anyone arrived


SLA_ORDER = {Sla.BREACHED: 0, Sla.AT_RISK: 1, Sla.ON_TRACK: 2, Sla.MISSED: 3, Sla.MET: 4, Sla.CLOSED: 5}


@dataclass(frozen=True)
class SlaStatus:
    status: Sla
    due_at: dt.datetime
    minutes_left: float  # negative once past due
    why: Reason

    @property
    def reason(self) -> str:
        return self.why.text


def sla_status(state: RepairState | str, due_at: dt.datetime, now: dt.datetime,
               on_site_at: dt.datetime | None = None, eta_at: dt.datetime | None = None,
               policy: DispatchPolicy = DispatchPolicy()) -> SlaStatus:
    """Where a request stands against the response target: met/missed once a technician is on site; for open
    requests breached past the target, at risk when little time is left or the technician's estimate is late."""
    state = RepairState(state)
    left = (due_at - now).total_seconds() / 60

    def status(sla: Sla, code: str, **params) -> SlaStatus:
        return SlaStatus(sla, due_at, left, Reason(code, params))

    if on_site_at is not None:
        late = (on_site_at - due_at).total_seconds() / 60
        if late <= 0:
            return status(Sla.MET, "met", minutes=_whole(-late))
        return status(Sla.MISSED, "missed", minutes=_whole(late))
    if state is RepairState.CANCELLED:
        return status(Sla.CLOSED, "cancelled")
    if state is RepairState.RESOLVED:  # resolved without an arrival time on record
        return status(Sla.CLOSED, "resolved")
    if left < 0:
        return status(Sla.BREACHED, "breached", minutes=_whole(-left), target=policy.response_minutes)
    if state is RepairState.NEW and left <= policy.at_risk_minutes:
        return status(Sla.AT_RISK, "no_technician", minutes=_whole(left))
    if eta_at is not None and eta_at > due_at:
        return status(Sla.AT_RISK, "late_eta", minutes=_whole((eta_at - due_at).total_seconds() / 60))
    if left <= policy.at_risk_minutes:
        return status(Sla.AT_RISK, "left", minutes=_whole(left))
    return status(Sla.ON_TRACK, "left", minutes=_whole(left))


def coverage_gaps(districts: list[str], technicians: list[Technician], now: dt.datetime | None = None) -> list[dict]:
    """Districts nobody covers; with `now`, also districts whose covering technicians are all off shift or
    unavailable at that time."""
    out = []
    for d in districts:
        cover = [t for t in technicians if d in t.districts]
        if not cover:
            why = Reason("gap_uncovered")
        elif now is not None and not any(t.available and t.on_shift(now) for t in cover):
            why = Reason("gap_nobody_on_shift", {"count": len(cover)})
        else:
            continue
        out.append({"district": d, "gap": why.code.removeprefix("gap_"), "detail": why.text,
                    "detail_code": why.as_dict()})
    return out
