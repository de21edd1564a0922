"""Repair desk endpoints: districts, technicians and operators (managed by admins and the shop), repair requests
by phone (operators) or online (customers), dispatch, technicians' jobs, the SLA view and the coverage report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from ..cases.errors import Forbidden
from ..cases.repair import REPAIR_ACTIONS, RepairInput
from ..cases.workflow import Actor, Role
from ..store import Store
from .deps import current_actor, get_store

router = APIRouter(prefix="/api/repair", tags=["repair"])
ActorDep = Annotated[Actor, Depends(current_actor)]
StoreDep = Annotated[Store, Depends(get_store)]
MerchantQ = Annotated[int | None, Query(description="the shop whose desk to use (admins only; others have their own)")]
USER_ACTIONS = [a for a in REPAIR_ACTIONS if a not in ("dispatch", "reassign", "accept_timeout")]


# Districts, technicians, operators ------------------------------------------------------------
class NewDistrict(BaseModel):
    code: str = Field(min_length=1, max_length=40, examples=["MITTE"])
    name: str = Field(min_length=1, max_length=200)
    merchant_id: int | None = None


@router.post("/districts", status_code=201, summary="Add a district to a repair desk (admin, shop)")
def create_district(body: NewDistrict, actor: ActorDep, store: StoreDep):
    return store.repair.create_district(actor, body.code, body.name, body.merchant_id)


@router.get("/districts", summary="The desk's districts")
def list_districts(actor: ActorDep, store: StoreDep, merchant_id: MerchantQ = None):
    return store.repair.list_districts(actor, merchant_id)


class Coverage(BaseModel):
    district: str = Field(min_length=1, max_length=40)
    travel_minutes: int = Field(ge=0, le=1440, description="estimated travel time from the technician's base")


class NewTechnician(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    districts: list[Coverage] = Field(default_factory=list, max_length=500)
    skills: list[str] = Field(default_factory=list, max_length=50)
    shift_start: str = Field("00:00", description="HH:MM local time; equal start and end: all day")
    shift_end: str = Field("00:00", description="HH:MM; before the start: the shift runs over midnight")
    timezone: str = Field("UTC", max_length=64, examples=["Europe/Berlin"])
    max_jobs: int = Field(3, ge=1, le=50)
    username: str | None = Field(None, max_length=120, description="a log-in for the technician (role technician)")
    password: str | None = Field(None, max_length=200)
    merchant_id: int | None = None


@router.post("/technicians", status_code=201, summary="Add a technician with districts, skills and shift (admin, shop)")
def create_technician(body: NewTechnician, actor: ActorDep, store: StoreDep):
    return store.repair.create_technician(
        actor, body.name, [c.model_dump() for c in body.districts], body.skills, body.shift_start, body.shift_end,
        body.timezone, body.max_jobs, body.username, body.password, body.merchant_id)


@router.get("/technicians", summary="The desk's technicians with coverage, shift, availability and load")
def list_technicians(actor: ActorDep, store: StoreDep, merchant_id: MerchantQ = None):
    return store.repair.list_technicians(actor, merchant_id)


class TechnicianChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    districts: list[Coverage] | None = Field(None, max_length=500)
    skills: list[str] | None = Field(None, max_length=50)
    shift_start: str | None = None
    shift_end: str | None = None
    timezone: str | None = Field(None, max_length=64)
    max_jobs: int | None = Field(None, ge=1, le=50)
    available: bool | None = None
    active: bool | None = None


@router.patch("/technicians/{technician_id}",
              summary="Change a technician (admin, shop); a technician sets only their own availability")
def update_technician(technician_id: int, body: TechnicianChange, actor: ActorDep, store: StoreDep):
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return store.repair.update_technician(actor, technician_id, changes)


class NewOperator(BaseModel):
    username: str = Field(min_length=1, max_length=120)
    password: str | None = Field(None, max_length=200)
    merchant_id: int | None = None


@router.post("/operators", status_code=201, summary="Add an operator log-in to a repair desk (admin, shop)")
def create_operator(body: NewOperator, actor: ActorDep, store: StoreDep):
    return store.repair.create_operator(actor, body.username, body.password, body.merchant_id)


# Requests --------------------------------------------------------------------------------------
class NewRequest(BaseModel):
    customer_name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=1000)
    district: str = Field(min_length=1, max_length=40)
    fault: str = Field(min_length=1, max_length=5000, description="what is broken")
    skill: str | None = Field(None, max_length=40, description="the skill the job needs, e.g. washer")
    product_id: int | None = None
    order_id: str | None = Field(None, max_length=120)
    priority: str = Field("normal", description="normal or urgent")
    channel: str | None = Field(None, description="phone (operators) or online (customers); set from who files")
    merchant_id: int | None = Field(None, description="the shop: required for customers and admins")
    buyer_id: int | None = Field(None, description="a registered customer, when an operator takes their call")


@router.post("/requests", status_code=201,
             summary="File a repair request: operators for callers, customers online. Dispatched at once when a "
                     "technician can take it; the answer explains the choice")
def create_request(body: NewRequest, actor: ActorDep, store: StoreDep):
    data = RepairInput(body.customer_name, body.phone, body.address, body.district, body.fault, body.skill,
                       body.product_id, body.order_id, body.priority, body.channel)
    return store.repair.create_request(actor, data, body.merchant_id, body.buyer_id)


@router.get("/requests", summary="Repair requests: the desk's (operators, shop), one's own (customers, technicians)")
def list_requests(actor: ActorDep, store: StoreDep, state: str | None = None, merchant_id: MerchantQ = None,
                  limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)):
    return store.repair.list_requests(actor, state, merchant_id, limit, offset)


@router.get("/jobs", summary="A technician's own jobs")
def my_jobs(actor: ActorDep, store: StoreDep, state: str | None = None):
    if actor.role is not Role.TECHNICIAN:
        raise Forbidden("jobs are listed for technicians; the desk uses /api/repair/requests")
    return store.repair.list_requests(actor, state)


class PhoneSearch(BaseModel):
    phone: str = Field(min_length=1, max_length=64)


@router.post("/requests/search", summary="A caller's requests by phone (keyed hash; POST so that no log records it)")
def search_requests(body: PhoneSearch, actor: ActorDep, store: StoreDep, merchant_id: MerchantQ = None):
    return {"ids": store.repair.find_requests(actor, body.phone, merchant_id)}


@router.get("/requests/{request_id}", summary="One request with customer data, dispatch explanation, SLA, timeline",
            description="dispatch.explanation and sla.reason are English text; dispatch.explanation_codes (one per "
                        "line) and sla.reason_code give each as {code, params} for rendering in another language. "
                        "Notes stored before the codes existed have only the English lines.")
def get_request(request_id: int, actor: ActorDep, store: StoreDep):
    return store.repair.get_request(actor, request_id)


class DispatchBody(BaseModel):
    technician_id: int | None = Field(None, description="send this technician (manual override); empty: choose")
    reason: str = Field("", max_length=2000)


@router.post("/requests/{request_id}/dispatch",
             summary="Dispatch or re-dispatch (operators, admins): automatic choice, or a named technician with a reason")
def dispatch(request_id: int, body: DispatchBody, actor: ActorDep, store: StoreDep):
    return store.repair.dispatch(actor, request_id, body.technician_id, body.reason)


class ActionBody(BaseModel):
    reason: str = Field("", max_length=5000)


@router.post("/requests/{request_id}/actions/{action}",
             summary="Move a request: " + ", ".join(USER_ACTIONS) + " (409 when not allowed from its state)")
def act(request_id: int, action: str, body: ActionBody, actor: ActorDep, store: StoreDep):
    return store.repair.act(actor, request_id, action, body.reason)


@router.get("/sla", summary="Open requests by time left against the 30-minute response target")
def sla(actor: ActorDep, store: StoreDep, merchant_id: MerchantQ = None):
    return store.repair.sla_view(actor, merchant_id)


@router.get("/coverage", summary="Districts nobody covers, or nobody covers now")
def coverage(actor: ActorDep, store: StoreDep, merchant_id: MerchantQ = None):
    return store.repair.coverage(actor, merchant_id)
