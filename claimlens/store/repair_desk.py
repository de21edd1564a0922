"""The repair desk service: districts, technicians, repair requests, dispatch and the SLA view.

Rules come from claimlens.cases.repair (states, who may act, dispatch choice, SLA); this module loads, checks
tenancy, writes, and appends every state change to the audit chain.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import func, select

from ..cases.errors import Conflict, Forbidden, Invalid, NotFound
from ..cases.repair import (
    ASSIGNED_STATES,
    OPEN_STATES,
    SLA_ORDER,
    DispatchPolicy,
    Priority,
    RepairInput,
    RepairState,
    Technician,
    allowed_repair_actions,
    check_timezone,
    choose_technician,
    coverage_gaps,
    district_code,
    manual_dispatch,
    parse_hhmm,
    repair_transition,
    skill_name,
    sla_status,
    technician_sees_contact,
)
from ..cases.workflow import SYSTEM, Actor, Role
from . import audit
from .crypto import reencrypt_rows
from .models import AuditEntry, Buyer, Merchant, Product, User, utcnow
from .repair import RepairCoverage, RepairDistrict, RepairEvent, RepairRequest, RepairTechnician

log = logging.getLogger(__name__)
DESK_ROLES = (Role.ADMIN, Role.MERCHANT, Role.OPERATOR, Role.TECHNICIAN, Role.BUYER, Role.SYSTEM)
MANAGERS = (Role.ADMIN, Role.MERCHANT, Role.SYSTEM)
PII = (("customer_name", "customer_name_enc", "repair.customer_name"), ("phone", "phone_enc", "repair.phone"),
       ("address", "address_enc", "repair.address"))


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


class RepairDesk:
    def __init__(self, store, policy: DispatchPolicy | None = None, clock: Callable[[], dt.datetime] = utcnow):
        self.store = store
        self.db = store.db
        self.policy = policy or DispatchPolicy()
        self.clock = clock  # tests pass a fixed clock

    # Tenancy -------------------------------------------------------------------------------
    @staticmethod
    def _require_desk_role(actor: Actor) -> None:
        if actor.role not in DESK_ROLES:
            raise Forbidden(f"a {actor.role.value} has no access to the repair desk")

    def _desk(self, s, actor: Actor, merchant_id: int | None, manage: bool = False) -> int:
        """The merchant whose repair desk the actor works on (admins name it; the others have their own)."""
        self._require_desk_role(actor)
        if manage and actor.role not in MANAGERS:
            raise Forbidden(f"a {actor.role.value} may not manage the repair desk")
        if actor.role in (Role.ADMIN, Role.SYSTEM):
            if merchant_id is None:
                raise Invalid("merchant_id is required")
            if s.get(Merchant, merchant_id) is None:
                raise NotFound(f"merchant {merchant_id} not found")
            return merchant_id
        if actor.role is Role.BUYER:
            raise Forbidden("a buyer has no repair desk")
        if actor.merchant_id is None:
            raise Forbidden(f"this {actor.role.value} belongs to no repair desk")
        if merchant_id not in (None, actor.merchant_id):
            raise NotFound(f"merchant {merchant_id} not found")
        return actor.merchant_id

    def _own_technician(self, s, actor: Actor) -> RepairTechnician | None:
        if actor.role is not Role.TECHNICIAN:
            return None
        return s.execute(select(RepairTechnician).where(RepairTechnician.user_id == actor.user_id)).scalar_one_or_none()

    def _can_read(self, s, actor: Actor, r: RepairRequest) -> bool:
        if actor.role in (Role.ADMIN, Role.SYSTEM):
            return True
        if actor.role in (Role.MERCHANT, Role.OPERATOR):
            return actor.merchant_id is not None and actor.merchant_id == r.merchant_id
        if actor.role is Role.BUYER:
            return actor.buyer_id is not None and actor.buyer_id == r.buyer_id
        if actor.role is Role.TECHNICIAN:
            t = self._own_technician(s, actor)
            return t is not None and r.technician_id == t.id
        return False

    def _load(self, s, actor: Actor, request_id: int, lock: bool = False) -> RepairRequest:
        """Requests the actor may not see do not exist for them (404), so ids leak nothing."""
        self._require_desk_role(actor)
        q = select(RepairRequest).where(RepairRequest.id == request_id)
        r = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if r is None or not self._can_read(s, actor, r):
            raise NotFound("repair request not found")
        return r

    # Districts, technicians, operators ------------------------------------------------------
    def create_district(self, actor: Actor, code: str, name: str, merchant_id: int | None = None) -> dict:
        code = district_code(code)
        name = (name or "").strip()
        if not 0 < len(name) <= 200:
            raise Invalid("district name: 1 to 200 characters")
        with self.db.session() as s:
            mid = self._desk(s, actor, merchant_id, manage=True)
            if s.scalar(select(RepairDistrict.id).where(RepairDistrict.merchant_id == mid,
                                                        RepairDistrict.code == code)) is not None:
                raise Conflict(f"district {code} already exists")
            d = RepairDistrict(merchant_id=mid, code=code, name=name)
            s.add(d)
            s.flush()
            audit.append(s, actor=actor.label, action="repair_create_district",
                         data={"district_id": d.id, "merchant_id": mid, "code": code}, now=self.clock())
            return {"id": d.id, "merchant_id": mid, "code": code, "name": name}

    def list_districts(self, actor: Actor, merchant_id: int | None = None) -> list[dict]:
        with self.db.read() as s:
            mid = self._desk(s, actor, merchant_id)
            rows = s.execute(select(RepairDistrict).where(RepairDistrict.merchant_id == mid)
                             .order_by(RepairDistrict.code)).scalars()
            return [{"id": d.id, "merchant_id": d.merchant_id, "code": d.code, "name": d.name} for d in rows]

    def _districts_by_code(self, s, mid: int, coverage: list[dict]) -> dict[int, int]:
        """{district id: travel minutes} from [{"district": code, "travel_minutes": n}]."""
        known = {d.code: d.id for d in s.execute(select(RepairDistrict).where(RepairDistrict.merchant_id == mid)).scalars()}
        out = {}
        for c in coverage:
            code = district_code(str(c.get("district", "")))
            if code not in known:
                raise Invalid(f"unknown district {code}; known: {', '.join(sorted(known)) or 'none yet'}")
            minutes = c.get("travel_minutes")
            if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 24 * 60:
                raise Invalid(f"travel_minutes for {code}: a whole number of minutes from 0 to 1440")
            out[known[code]] = minutes
        return out

    def _new_user(self, s, username: str, password: str | None, role: Role, mid: int) -> int:
        from .service import PH

        username = (username or "").strip()
        if not 0 < len(username) <= 120:
            raise Invalid("username: 1 to 120 characters")
        if password is not None and len(password) < 8:
            raise Invalid("password must have at least 8 characters")
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"username {username!r} is taken")
        u = User(username=username, password_hash=PH.hash(password) if password else None, role=role.value,
                 merchant_id=mid)
        s.add(u)
        s.flush()
        return u.id

    def create_operator(self, actor: Actor, username: str, password: str | None, merchant_id: int | None = None) -> dict:
        with self.db.session() as s:
            mid = self._desk(s, actor, merchant_id, manage=True)
            uid = self._new_user(s, username, password, Role.OPERATOR, mid)
            audit.append(s, actor=actor.label, action="create_user", data={"user_id": uid, "role": "operator",
                                                                           "merchant_id": mid}, now=self.clock())
            return {"user_id": uid, "username": username.strip(), "role": "operator", "merchant_id": mid}

    @staticmethod
    def _check_technician_fields(f: dict) -> dict:
        out = {}
        if "name" in f:
            name = (f["name"] or "").strip()
            if not 0 < len(name) <= 200:
                raise Invalid("technician name: 1 to 200 characters")
            out["name"] = name
        if "skills" in f:
            out["skills"] = sorted({skill_name(x) for x in (f["skills"] or [])})
        for k in ("shift_start", "shift_end"):
            if k in f:
                out[k] = parse_hhmm(f[k], k).strftime("%H:%M")
        if "timezone" in f:
            out["timezone"] = check_timezone(f["timezone"])
        if "max_jobs" in f:
            if not isinstance(f["max_jobs"], int) or not 1 <= f["max_jobs"] <= 50:
                raise Invalid("max_jobs: 1 to 50")
            out["max_jobs"] = f["max_jobs"]
        for k in ("available", "active"):
            if k in f:
                out[k] = bool(f[k])
        return out

    def create_technician(self, actor: Actor, name: str, districts: list[dict], skills: list[str] | None = None,
                          shift_start: str = "00:00", shift_end: str = "00:00", timezone: str = "UTC",
                          max_jobs: int = 3, username: str | None = None, password: str | None = None,
                          merchant_id: int | None = None) -> dict:
        fields = self._check_technician_fields(dict(name=name, skills=skills or [], shift_start=shift_start,
                                                    shift_end=shift_end, timezone=timezone, max_jobs=max_jobs))
        with self.db.session() as s:
            mid = self._desk(s, actor, merchant_id, manage=True)
            cover = self._districts_by_code(s, mid, districts)
            uid = self._new_user(s, username, password, Role.TECHNICIAN, mid) if username else None
            t = RepairTechnician(merchant_id=mid, user_id=uid, available=True, active=True, **fields)
            s.add(t)
            s.flush()
            for did, minutes in cover.items():
                s.add(RepairCoverage(technician_id=t.id, district_id=did, travel_minutes=minutes))
            audit.append(s, actor=actor.label, action="repair_create_technician",
                         data={"technician_id": t.id, "merchant_id": mid, "user_id": uid}, now=self.clock())
            s.flush()
            return self._technician_dict(s, t)

    def update_technician(self, actor: Actor, technician_id: int, changes: dict) -> dict:
        """Managers change anything; a technician only their own availability."""
        with self.db.session() as s:
            self._require_desk_role(actor)
            t = s.execute(select(RepairTechnician).where(RepairTechnician.id == technician_id)
                          .with_for_update()).scalar_one_or_none()
            if t is None:
                raise NotFound("technician not found")
            if actor.role is Role.TECHNICIAN:
                if t.user_id != actor.user_id:
                    raise NotFound("technician not found")
                if set(changes) - {"available"}:
                    raise Forbidden("a technician changes only their own availability")
            elif actor.role in (Role.ADMIN, Role.SYSTEM) or (actor.role is Role.MERCHANT
                                                             and actor.merchant_id == t.merchant_id):
                pass
            elif actor.role in (Role.MERCHANT, Role.OPERATOR) and actor.merchant_id != t.merchant_id:
                raise NotFound("technician not found")
            else:
                raise Forbidden(f"a {actor.role.value} may not change technicians")
            districts = changes.pop("districts", None)
            for k, v in self._check_technician_fields(changes).items():
                setattr(t, k, v)
            if districts is not None:
                cover = self._districts_by_code(s, t.merchant_id, districts)
                for c in s.execute(select(RepairCoverage).where(RepairCoverage.technician_id == t.id)).scalars():
                    s.delete(c)
                s.flush()
                for did, minutes in cover.items():
                    s.add(RepairCoverage(technician_id=t.id, district_id=did, travel_minutes=minutes))
            audit.append(s, actor=actor.label, action="repair_update_technician",
                         data={"technician_id": t.id, "changed": sorted(set(changes) | ({"districts"} if districts is not None else set()))},
                         now=self.clock())
            s.flush()
            return self._technician_dict(s, t)

    def _technician_dict(self, s, t: RepairTechnician, load: int | None = None) -> dict:
        cover = s.execute(select(RepairDistrict.code, RepairCoverage.travel_minutes)
                          .join(RepairCoverage, RepairCoverage.district_id == RepairDistrict.id)
                          .where(RepairCoverage.technician_id == t.id).order_by(RepairDistrict.code)).all()
        if load is None:
            load = s.scalar(select(func.count()).select_from(RepairRequest).where(
                RepairRequest.technician_id == t.id, RepairRequest.state.in_([x.value for x in ASSIGNED_STATES])))
        now = self.clock()
        return {"id": t.id, "merchant_id": t.merchant_id, "user_id": t.user_id, "name": t.name, "skills": t.skills,
                "districts": [{"district": c, "travel_minutes": m} for c, m in cover],
                "shift_start": t.shift_start, "shift_end": t.shift_end, "timezone": t.timezone,
                "available": t.available, "active": t.active, "max_jobs": t.max_jobs, "load": load,
                "on_shift": self._domain_technician(t, {}, 0).on_shift(now)}

    def list_technicians(self, actor: Actor, merchant_id: int | None = None) -> list[dict]:
        with self.db.read() as s:
            if actor.role is Role.TECHNICIAN:
                t = self._own_technician(s, actor)
                return [] if t is None else [self._technician_dict(s, t)]
            mid = self._desk(s, actor, merchant_id)
            loads = self._loads(s, mid)
            rows = s.execute(select(RepairTechnician).where(RepairTechnician.merchant_id == mid)
                             .order_by(RepairTechnician.id)).scalars().all()
            return [self._technician_dict(s, t, loads.get(t.id, 0)) for t in rows]

    # Dispatch --------------------------------------------------------------------------------
    @staticmethod
    def _domain_technician(t: RepairTechnician, districts: dict[str, int], load: int) -> Technician:
        return Technician(t.id, t.name, districts, frozenset(t.skills or []), t.shift_start, t.shift_end,
                          t.timezone, t.available, load, t.max_jobs)

    def _loads(self, s, mid: int) -> dict[int, int]:
        rows = s.execute(select(RepairRequest.technician_id, func.count()).where(
            RepairRequest.merchant_id == mid, RepairRequest.technician_id.is_not(None),
            RepairRequest.state.in_([x.value for x in ASSIGNED_STATES])).group_by(RepairRequest.technician_id)).all()
        return {tid: n for tid, n in rows}

    def _team(self, s, mid: int, lock: bool = False) -> list[Technician]:
        """The desk's active technicians with coverage and current load. lock: serialise dispatches of a desk."""
        q = select(RepairTechnician).where(RepairTechnician.merchant_id == mid, RepairTechnician.active.is_(True))
        techs = s.execute((q.with_for_update() if lock else q).order_by(RepairTechnician.id)).scalars().all()
        cover: dict[int, dict[str, int]] = {}
        for tid, code, minutes in s.execute(
                select(RepairCoverage.technician_id, RepairDistrict.code, RepairCoverage.travel_minutes)
                .join(RepairDistrict, RepairDistrict.id == RepairCoverage.district_id)
                .where(RepairDistrict.merchant_id == mid)).all():
            cover.setdefault(tid, {})[code] = minutes
        loads = self._loads(s, mid)
        return [self._domain_technician(t, cover.get(t.id, {}), loads.get(t.id, 0)) for t in techs]

    def _apply(self, s, r: RepairRequest, actor: Actor, action: str, reason: str = "", data: dict | None = None,
               now: dt.datetime | None = None, assigned: bool = True):
        """The only place a repair request changes state: table check, audit entry, link to the entry."""
        t = repair_transition(r.state, action, actor.role, reason, assigned)
        old = r.state
        r.state = t.target.value
        e = audit.append(s, actor=actor.label, action=f"repair_{action}", from_state=old, to_state=r.state,
                         reason=reason, data={"repair_id": r.id, **(data or {})}, now=now)
        s.add(RepairEvent(request_id=r.id, audit_seq=e["seq"]))
        return t

    def _district_code(self, s, r: RepairRequest) -> str:
        return s.scalar(select(RepairDistrict.code).where(RepairDistrict.id == r.district_id))

    def _auto_dispatch(self, s, r: RepairRequest, actor: Actor, now: dt.datetime, action: str = "dispatch",
                       reason: str = "", record_failure: bool = True) -> bool:
        """Offer the job to the technician who can be on site soonest. False when nobody can take it now."""
        team = self._team(s, r.merchant_id, lock=True)
        exclude = set(r.excluded or [])
        if action == "reassign" and r.technician_id is not None:
            exclude.add(r.technician_id)
        d = choose_technician(self._district_code(s, r), r.skill, team, now, r.due_at, self.policy, exclude)
        note = d.note(now, actor.label, automatic=True)
        if d.technician_id is None:
            if record_failure or r.dispatch_note is None or r.dispatch_note.get("explanation") != d.explanation:
                r.dispatch_note = note
            if action == "reassign":
                raise Conflict("no other technician can take the job now: " + "; ".join(d.explanation))
            return False
        self._assign(s, r, actor, action, d.technician_id, d.eta_minutes, note, now, reason)
        return True

    def _assign(self, s, r, actor, action, technician_id, eta_minutes, note, now, reason=""):
        self._apply(s, r, actor, action, reason or note["explanation"][0],
                    data={"technician_id": technician_id, "eta_minutes": eta_minutes,
                          "previous_technician_id": r.technician_id, "automatic": note["automatic"]}, now=now)
        r.technician_id = technician_id
        r.dispatch_note = note
        r.dispatched_at = now
        r.accept_by = now + dt.timedelta(minutes=self.policy.accept_minutes)
        r.eta_at = None if eta_minutes is None else now + dt.timedelta(minutes=eta_minutes)
        r.accepted_at = None

    def dispatch(self, actor: Actor, request_id: int, technician_id: int | None = None, reason: str = "") -> dict:
        """Dispatch by the desk: automatic choice, or a named technician (manual override, needs a reason)."""
        now = self.clock()
        with self.db.session() as s:
            r = self._load(s, actor, request_id, lock=True)
            action = "dispatch" if r.state == RepairState.NEW.value else "reassign"
            if technician_id is None:
                repair_transition(r.state, action, actor.role, reason or "automatic")
                if not self._auto_dispatch(s, r, actor, now, action, reason):
                    raise Conflict("no technician can take the job now: " + "; ".join(r.dispatch_note["explanation"]))
            else:
                repair_transition(r.state, action, actor.role, reason)
                if not reason.strip():
                    raise Invalid("a manual dispatch needs a reason")
                team = {t.id: t for t in self._team(s, r.merchant_id, lock=True)}
                t = team.get(technician_id)
                if t is None:
                    raise NotFound("technician not found")
                if technician_id == r.technician_id:
                    raise Conflict("the job is already with this technician")
                d = manual_dispatch(t, self._district_code(s, r), r.skill, now, r.due_at, actor.label, reason,
                                    self.policy)
                r.excluded = [x for x in (r.excluded or []) if x != t.id]
                self._assign(s, r, actor, action, t.id, d.eta_minutes, d.note(now, actor.label, automatic=False),
                             now, reason)
            s.flush()
            return self._request_dict(s, actor, r, now, pii=False)

    # Requests ----------------------------------------------------------------------------------
    def create_request(self, actor: Actor, data: RepairInput, merchant_id: int | None = None,
                       buyer_id: int | None = None) -> dict:
        """A repair request by phone (operator) or online (customer); dispatched at once when someone can take it."""
        self._require_desk_role(actor)
        data = data.validated(actor.role)
        now = self.clock()
        st = self.store
        with self.db.session() as s:
            if actor.role is Role.BUYER:
                if buyer_id not in (None, actor.buyer_id):
                    raise Forbidden("a customer files repair requests only for themselves")
                buyer_id = actor.buyer_id
                if merchant_id is None and data.product_id is not None:
                    merchant_id = s.scalar(select(Product.merchant_id).where(Product.id == data.product_id))
                if merchant_id is None or s.get(Merchant, merchant_id) is None:
                    raise Invalid("merchant_id (or product_id) is required: which shop repairs the product")
                mid = merchant_id
            else:
                mid = self._desk(s, actor, merchant_id)
                if buyer_id is not None and s.get(Buyer, buyer_id) is None:
                    raise Invalid(f"no buyer {buyer_id}")
            if data.product_id is not None and s.scalar(
                    select(Product.merchant_id).where(Product.id == data.product_id)) != mid:
                raise Invalid("unknown product for this repair desk")
            did = s.scalar(select(RepairDistrict.id).where(RepairDistrict.merchant_id == mid,
                                                           RepairDistrict.code == data.district))
            if did is None:
                known = s.execute(select(RepairDistrict.code).where(RepairDistrict.merchant_id == mid)
                                  .order_by(RepairDistrict.code)).scalars().all()
                raise Invalid(f"unknown district {data.district}; known: {', '.join(known) or 'none yet'}")
            r = RepairRequest(
                merchant_id=mid, buyer_id=buyer_id, district_id=did, product_id=data.product_id,
                order_ref=data.order_ref, skill=data.skill, fault=data.fault, channel=data.channel,
                priority=data.priority, state=RepairState.NEW.value, excluded=[], resolution="",
                customer_name_enc=st.keyring.encrypt(data.customer_name, "repair.customer_name"),
                phone_enc=st.keyring.encrypt(data.phone, "repair.phone"), phone_hash=st.hasher("phone", data.phone),
                address_enc=st.keyring.encrypt(data.address, "repair.address"),
                created_by=actor.user_id, created_at=now, updated_at=now, due_at=self.policy.due_at(now))
            s.add(r)
            s.flush()
            e = audit.append(s, actor=actor.label, action="repair_create", to_state=r.state, now=now,
                             data={"repair_id": r.id, "merchant_id": mid, "channel": r.channel,
                                   "district": data.district, "priority": r.priority})
            s.add(RepairEvent(request_id=r.id, audit_seq=e["seq"]))
            self._auto_dispatch(s, r, SYSTEM, now)
            s.flush()
            return self._request_dict(s, actor, r, now, pii=True)

    def act(self, actor: Actor, request_id: int, action: str, reason: str = "") -> dict:
        """accept, decline, arrive, resolve, cancel. A decline re-dispatches the job at once."""
        if action in ("dispatch", "reassign"):
            raise Invalid("dispatch through /repair/requests/{id}/dispatch")
        if action == "accept_timeout":
            raise Forbidden("only the service times out an acceptance")
        now = self.clock()
        with self.db.session() as s:
            r = self._load(s, actor, request_id, lock=True)
            own = self._own_technician(s, actor)
            assigned = own is not None and r.technician_id == own.id
            if action == "accept" and r.accept_by is not None and now > r.accept_by:
                raise Conflict(f"the acceptance window closed at {r.accept_by.isoformat()}; the job is being re-dispatched")
            tech = r.technician_id
            self._apply(s, r, actor, action, reason, now=now, assigned=assigned,
                        data={"technician_id": tech} if tech else None)
            if action == "accept":
                r.accepted_at = now
            elif action == "arrive":
                r.on_site_at = now
            elif action == "resolve":
                r.resolution, r.closed_at = reason.strip(), now
            elif action == "cancel":
                r.closed_at = now
            elif action == "decline":
                r.excluded = sorted(set(r.excluded or []) | {tech})
                self._unassign(r)
                self._auto_dispatch(s, r, SYSTEM, now)
            s.flush()
            if actor.role is Role.TECHNICIAN and r.technician_id != tech:
                return {"id": r.id, "state": "declined", "detail": "the job went back to the desk"}
            return self._request_dict(s, actor, r, now, pii=False)

    @staticmethod
    def _unassign(r: RepairRequest) -> None:
        r.technician_id = r.dispatched_at = r.accept_by = r.eta_at = r.accepted_at = None

    def sweep(self, now: dt.datetime | None = None) -> dict:
        """Periodic: dispatched jobs not accepted in time go to the next technician; waiting jobs are retried
        (a technician may have come on shift). Urgent requests first, then the oldest."""
        now = now or self.clock()
        timed_out = dispatched = 0
        with self.db.read() as s:
            late = s.execute(select(RepairRequest.id).where(RepairRequest.state == RepairState.DISPATCHED.value,
                                                            RepairRequest.accept_by < now)).scalars().all()
            waiting = s.execute(select(RepairRequest.id).where(RepairRequest.state == RepairState.NEW.value)
                                .order_by((RepairRequest.priority == Priority.URGENT.value).desc(),
                                          RepairRequest.created_at)).scalars().all()
        for rid in late:
            with self.db.session() as s:
                r = s.execute(select(RepairRequest).where(RepairRequest.id == rid).with_for_update()).scalar_one()
                if r.state != RepairState.DISPATCHED.value or r.accept_by is None or r.accept_by >= now:
                    continue
                tech = r.technician_id
                self._apply(s, r, SYSTEM, "accept_timeout", f"not accepted by {r.accept_by.isoformat()}",
                            data={"technician_id": tech}, now=now)
                r.excluded = sorted(set(r.excluded or []) | {tech})
                self._unassign(r)
                timed_out += 1
                dispatched += self._auto_dispatch(s, r, SYSTEM, now)
        for rid in waiting:
            with self.db.session() as s:
                r = s.execute(select(RepairRequest).where(RepairRequest.id == rid).with_for_update()).scalar_one()
                if r.state == RepairState.NEW.value:
                    dispatched += self._auto_dispatch(s, r, SYSTEM, now, record_failure=False)
        return {"timed_out": timed_out, "dispatched": dispatched}

    # Reading -----------------------------------------------------------------------------------
    def _request_dict(self, s, actor: Actor, r: RepairRequest, now: dt.datetime, pii: bool) -> dict:
        sla = sla_status(r.state, r.due_at, now, r.on_site_at, r.eta_at, self.policy)
        own = self._own_technician(s, actor)
        d = {"id": r.id, "merchant_id": r.merchant_id, "buyer_id": r.buyer_id, "district": self._district_code(s, r),
             "product_id": r.product_id, "order_id": r.order_ref, "skill": r.skill, "fault": r.fault,
             "channel": r.channel, "priority": r.priority, "state": r.state, "technician_id": r.technician_id,
             "created_at": _iso(r.created_at), "due_at": _iso(r.due_at), "dispatched_at": _iso(r.dispatched_at),
             "accept_by": _iso(r.accept_by), "eta_at": _iso(r.eta_at), "accepted_at": _iso(r.accepted_at),
             "on_site_at": _iso(r.on_site_at), "closed_at": _iso(r.closed_at), "resolution": r.resolution,
             "sla": {"status": sla.status.value, "minutes_left": round(sla.minutes_left, 1), "reason": sla.reason,
                     "reason_code": sla.why.as_dict(), "target_minutes": self.policy.response_minutes},
             "allowed_actions": allowed_repair_actions(r.state, actor.role,
                                                       own is not None and own.id == r.technician_id)}
        if actor.role is not Role.BUYER:  # the desk's reasoning is for staff
            d["dispatch"] = r.dispatch_note
        if pii and actor.role is Role.TECHNICIAN and not technician_sees_contact(r.state):
            pii = False
            d["contact_hidden"] = "until_accepted" if r.state == RepairState.DISPATCHED.value else "job_closed"
        if pii:
            kr = self.store.keyring
            d["customer"] = {k: kr.decrypt(getattr(r, col), aad) for k, col, aad in PII}
        return d

    def _scoped(self, s, actor: Actor, merchant_id: int | None):
        q = select(RepairRequest)
        if actor.role is Role.BUYER:
            return q.where(RepairRequest.buyer_id == actor.buyer_id)
        if actor.role is Role.TECHNICIAN:
            t = self._own_technician(s, actor)
            return q.where(RepairRequest.technician_id == (t.id if t else -1))
        if actor.role in (Role.ADMIN, Role.SYSTEM) and merchant_id is None:
            return q
        return q.where(RepairRequest.merchant_id == self._desk(s, actor, merchant_id))

    def list_requests(self, actor: Actor, state: str | None = None, merchant_id: int | None = None,
                      limit: int = 100, offset: int = 0) -> list[dict]:
        self._require_desk_role(actor)
        now = self.clock()
        with self.db.read() as s:
            q = self._scoped(s, actor, merchant_id)
            if state:
                try:
                    q = q.where(RepairRequest.state == RepairState(state).value)
                except ValueError:
                    raise Invalid(f"state must be one of {', '.join(x.value for x in RepairState)}") from None
            q = q.order_by(RepairRequest.id.desc()).limit(min(max(limit, 1), 500)).offset(max(offset, 0))
            return [self._request_dict(s, actor, r, now, pii=False) for r in s.execute(q).scalars()]

    def get_request(self, actor: Actor, request_id: int) -> dict:
        now = self.clock()
        with self.db.read() as s:
            r = self._load(s, actor, request_id)
            d = self._request_dict(s, actor, r, now, pii=True)
            if actor.role is not Role.BUYER:
                entries = s.execute(select(AuditEntry).join(RepairEvent, RepairEvent.audit_seq == AuditEntry.seq)
                                    .where(RepairEvent.request_id == r.id).order_by(AuditEntry.seq)).scalars()
                d["timeline"] = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action.removeprefix("repair_"),
                                  "from": e.from_state, "to": e.to_state, "reason": e.reason} for e in entries]
            return d

    def find_requests(self, actor: Actor, phone: str, merchant_id: int | None = None) -> list[int]:
        """Requests of a caller, by the keyed hash of the normalised phone number."""
        if actor.role not in (Role.ADMIN, Role.OPERATOR, Role.MERCHANT):
            raise Forbidden(f"a {actor.role.value} may not search repair requests")
        h = self.store.hasher("phone", phone)
        if h is None:
            raise Invalid("search by phone")
        with self.db.read() as s:
            q = self._scoped(s, actor, merchant_id).where(RepairRequest.phone_hash == h)
            return [r.id for r in s.execute(q.order_by(RepairRequest.id)).scalars()]

    def sla_view(self, actor: Actor, merchant_id: int | None = None) -> dict:
        """Open requests by time left against the response target: breached, then at risk, then on track."""
        if actor.role not in (Role.ADMIN, Role.OPERATOR, Role.MERCHANT, Role.SYSTEM):
            raise Forbidden(f"a {actor.role.value} may not see the SLA view")
        now = self.clock()
        with self.db.read() as s:
            q = self._scoped(s, actor, merchant_id).where(RepairRequest.state.in_(
                [x.value for x in OPEN_STATES if x is not RepairState.ON_SITE]))
            rows = []
            for r in s.execute(q).scalars():
                st = sla_status(r.state, r.due_at, now, r.on_site_at, r.eta_at, self.policy)
                note = r.dispatch_note or {}
                codes = note.get("explanation_codes") or [None]  # notes from before the codes have none
                rows.append({"id": r.id, "merchant_id": r.merchant_id, "state": r.state, "priority": r.priority,
                             "district": self._district_code(s, r), "technician_id": r.technician_id,
                             "due_at": _iso(r.due_at), "eta_at": _iso(r.eta_at),
                             "minutes_left": round(st.minutes_left, 1), "status": st.status.value, "reason": st.reason,
                             "reason_code": st.why.as_dict(),
                             "dispatch_summary": (note.get("explanation") or [None])[0],
                             "dispatch_summary_code": codes[0]})
        rows.sort(key=lambda x: (SLA_ORDER[x["status"]], x["minutes_left"], x["priority"] != Priority.URGENT.value, x["id"]))
        counts = {k: sum(1 for x in rows if x["status"] == k) for k in ("breached", "at_risk", "on_track")}
        return {"now": now.isoformat(), "target_minutes": self.policy.response_minutes, "counts": counts,
                "requests": rows}

    def coverage(self, actor: Actor, merchant_id: int | None = None) -> dict:
        """Districts nobody covers, and districts nobody covers right now (off shift or unavailable)."""
        if actor.role not in (Role.ADMIN, Role.OPERATOR, Role.MERCHANT, Role.SYSTEM):
            raise Forbidden(f"a {actor.role.value} may not see the coverage report")
        now = self.clock()
        with self.db.read() as s:
            mid = self._desk(s, actor, merchant_id)
            codes = s.execute(select(RepairDistrict.code).where(RepairDistrict.merchant_id == mid)
                              .order_by(RepairDistrict.code)).scalars().all()
            team = self._team(s, mid)
        return {"merchant_id": mid, "now": now.isoformat(), "districts": len(codes), "technicians": len(team),
                "gaps": coverage_gaps(codes, team, now)}

    # Keys ----------------------------------------------------------------------------------------
    def rotate_keys(self, batch: int = 500) -> int:
        """Re-encrypt customer data not under the current key; returns how many values changed."""
        return reencrypt_rows(self.db, self.store.keyring, RepairRequest, [(col, aad) for _, col, aad in PII], batch)
