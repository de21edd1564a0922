"""Endpoints. Handlers are plain functions (run in the thread pool): parse, call the service, answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..cases.errors import Invalid
from ..cases.workflow import USER_ACTIONS, Actor, Role
from ..store import Store
from ..store.service import ClaimInput
from .deps import SESSION_COOKIE, SESSION_MAX_AGE, current_actor, get_store, session_serializer
from .multipart import FILES, form_body, read_upload_form, stored_files

router = APIRouter(prefix="/api")
ActorDep = Annotated[Actor, Depends(current_actor)]
StoreDep = Annotated[Store, Depends(get_store)]


# Sessions and users ----------------------------------------------------------------------------
class Login(BaseModel):
    username: str
    password: str


@router.post("/login", tags=["auth"], summary="Log in: returns an API token and sets a session cookie")
def login(body: Login, response: Response, store: StoreDep):
    actor = store.service.login(body.username, body.password)
    if actor is None:
        raise HTTPException(401, "wrong username or password")
    token = store.service.issue_token(actor, actor.user_id, "login")
    cookie = session_serializer(store).dumps({"uid": actor.user_id})
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax")
    return {"token": token, "role": actor.role.value, "user_id": actor.user_id}


@router.post("/logout", tags=["auth"])
def logout(response: Response):
    response.delete_cookie(SESSION_COOKIE)
    return {"ok": True}


@router.get("/me", tags=["auth"])
def me(actor: ActorDep):
    return {"user_id": actor.user_id, "username": actor.name, "role": actor.role.value,
            "merchant_id": actor.merchant_id, "buyer_id": actor.buyer_id}


class NewMerchant(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@router.post("/merchants", status_code=201, tags=["admin"])
def create_merchant(body: NewMerchant, actor: ActorDep, store: StoreDep):
    return {"id": store.service.create_merchant(actor, body.name)}


class NewBuyer(BaseModel):
    display_name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=64)
    address: str | None = Field(None, max_length=1000)
    id_number: str | None = Field(None, max_length=64)


@router.post("/buyers", status_code=201, tags=["admin"], summary="Register a buyer (personal data is encrypted)")
def create_buyer(body: NewBuyer, actor: ActorDep, store: StoreDep):
    return {"id": store.service.create_buyer(actor, body.display_name, body.phone, body.address, body.id_number)}


class BuyerSearch(BaseModel):
    phone: str | None = Field(None, max_length=64)
    id_number: str | None = Field(None, max_length=64)


@router.post("/buyers/search", tags=["admin"],
             summary="Find buyers by phone or ID number (keyed hash; POST so that no log records them)")
def find_buyers(body: BuyerSearch, actor: ActorDep, store: StoreDep):
    return {"ids": store.service.find_buyers(actor, body.phone, body.id_number)}


@router.get("/buyers/{buyer_id}", tags=["admin"])
def get_buyer(buyer_id: int, actor: ActorDep, store: StoreDep):
    return store.service.buyer_pii(actor, buyer_id)


@router.get("/buyers/{buyer_id}/credit", tags=["credit"], summary="The buyer's credit record here and imported")
def buyer_credit(buyer_id: int, actor: ActorDep, store: StoreDep):
    from ..store import credit

    return credit.buyer_record(store, actor, buyer_id)


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=120)
    password: str | None = Field(None, max_length=200)
    role: str
    merchant_id: int | None = None
    buyer_id: int | None = None


@router.post("/users", status_code=201, tags=["admin"])
def create_user(body: NewUser, actor: ActorDep, store: StoreDep):
    uid = store.service.create_user(actor, body.username, body.password, body.role, body.merchant_id, body.buyer_id)
    return {"id": uid}


@router.post("/users/{user_id}/tokens", status_code=201, tags=["admin"], summary="Issue an API token")
def issue_token(user_id: int, actor: ActorDep, store: StoreDep, name: str = ""):
    return {"token": store.service.issue_token(actor, user_id, name)}


class Revoke(BaseModel):
    token: str = Field(min_length=1, max_length=200)


@router.post("/tokens/revoke", tags=["auth"],
             summary="Revoke an API token (its holder or an admin). Refused at once by this server process; "
                     "other processes trust a checked token for at most CLAIMLENS_TOKEN_CACHE_S (default 5 s)")
def revoke_token(body: Revoke, actor: ActorDep, store: StoreDep):
    store.service.revoke_token(actor, body.token)
    return {"revoked": True}


@router.delete("/users/{user_id}/tokens", tags=["admin"], summary="Revoke every API token of a user")
def revoke_user_tokens(user_id: int, actor: ActorDep, store: StoreDep):
    return {"revoked": store.service.revoke_user_tokens(actor, user_id)}


# Products, references, packing evidence --------------------------------------------------------
class NewProduct(BaseModel):
    sku: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=300)
    merchant_id: int | None = None


@router.post("/products", status_code=201, tags=["merchant"])
def create_product(body: NewProduct, actor: ActorDep, store: StoreDep):
    pid = store.service.create_product(actor, body.sku, body.name, body.merchant_id)
    return store.service.get_product(actor, pid)


@router.get("/products", tags=["merchant"])
def list_products(actor: ActorDep, store: StoreDep):
    return store.service.list_products(actor)


@router.get("/products/{product_id}", tags=["merchant"])
def get_product(product_id: int, actor: ActorDep, store: StoreDep):
    return store.service.get_product(actor, product_id)


@router.post("/products/{product_id}/photos", status_code=201, tags=["merchant"],
             summary="Register reference photos of a product",
             openapi_extra=form_body({"files": FILES | {"description": "photos of the product"}}, ["files"]))
async def add_product_photos(product_id: int, request: Request, actor: ActorDep, store: StoreDep):
    await run_in_threadpool(store.service.check_product_write, actor, product_id)  # before storing anything
    form = await read_upload_form(request, store)
    try:
        def work():
            store.service.add_product_photos(actor, product_id, stored_files(store, form, allow_video=False))
            return store.service.get_product(actor, product_id)

        return await run_in_threadpool(work)
    finally:
        form.discard()


@router.post("/orders/{order_ref}/packing", status_code=201, tags=["merchant"],
             summary="Register packing photos and videos of an order (video keyframes are extracted)",
             openapi_extra=form_body({"files": FILES | {"description": "packing photos and videos"},
                                      "product_id": {"type": "integer"},
                                      "merchant_id": {"type": "integer", "description": "admins only"}}, ["files"]))
async def add_packing(order_ref: str, request: Request, actor: ActorDep, store: StoreDep):
    if actor.role not in (Role.MERCHANT, Role.ADMIN):
        raise HTTPException(403, f"a {actor.role.value} may not register packing evidence")
    form = await read_upload_form(request, store)
    try:
        product_id, merchant_id = _int_field(form, "product_id"), _int_field(form, "merchant_id")
        return await run_in_threadpool(lambda: store.service.add_packing(actor, order_ref, stored_files(store, form),
                                                                         product_id, merchant_id))
    finally:
        form.discard()


@router.get("/orders/{order_ref}/packing", tags=["merchant"])
def get_packing(order_ref: str, actor: ActorDep, store: StoreDep, merchant_id: int | None = None):
    return store.service.get_packing(actor, order_ref, merchant_id)


# Claims ----------------------------------------------------------------------------------------
CLAIM_FORM = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["order_id", "product_id", "type", "amount", "files"],
        "properties": {
            "order_id": {"type": "string", "maxLength": 120},
            "product_id": {"type": "integer"},
            "type": {"type": "string", "enum": ["refund_only", "return_and_refund", "repair"]},
            "amount": {"type": "string", "description": "decimal, e.g. 12.50"},
            "reason": {"type": "string", "maxLength": 5000},
            "currency": {"type": "string", "maxLength": 3, "default": "EUR"},
            "buyer_id": {"type": "integer", "description": "required for platform and admin callers"},
            "merchant_id": {"type": "integer"},
            "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "photos (JPEG, PNG, WebP, HEIC, ...) and videos"},
        }}}}},
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                    "description": "a retry with the same key returns the first claim (200) instead of a new one"}],
}


def _int_field(form, name: str, required: bool = False) -> int | None:
    v = form.get(name)
    if v in (None, ""):
        if required:
            raise Invalid(f"{name} is required")
        return None
    try:
        return int(str(v))
    except ValueError:
        raise Invalid(f"{name} must be an integer") from None


def _text_field(form, name: str, limit: int, default: str | None = None) -> str:
    v = form.get(name, default)
    if v is None:
        raise Invalid(f"{name} is required")
    if not isinstance(v, str):
        raise Invalid(f"{name} must be a text field")
    if len(v) > limit:
        raise Invalid(f"{name} is longer than {limit} characters")
    return v


@router.post("/claims", status_code=201, tags=["claims"], openapi_extra=CLAIM_FORM,
             summary="File a claim with photos/videos; the analysis is queued. Idempotency-Key makes retries safe.")
async def create_claim(request: Request, actor: ActorDep, store: StoreDep):
    if actor.role not in (Role.BUYER, Role.PLATFORM, Role.ADMIN):
        raise HTTPException(403, f"a {actor.role.value} may not file claims")
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key.strip()) <= 200):
        raise Invalid("Idempotency-Key must have 1 to 200 characters")
    form = await read_upload_form(request, store)
    try:
        data = ClaimInput(order_ref=_text_field(form, "order_id", 120), product_id=_int_field(form, "product_id", True),
                          type=_text_field(form, "type", 40), amount=_text_field(form, "amount", 40),
                          reason=_text_field(form, "reason", 5000, ""), currency=_text_field(form, "currency", 3, "EUR"),
                          buyer_id=_int_field(form, "buyer_id"), merchant_id=_int_field(form, "merchant_id"))
        if not form.files:
            raise Invalid("a claim needs at least one photo or video (form field 'files')")

        def work():
            return store.service.submit_claim(actor, data, stored_files(store, form), key)

        cid, replayed, created = await run_in_threadpool(work)
    finally:
        form.discard()
    if replayed:
        detail = await run_in_threadpool(store.service.claim_detail, actor, cid)
        return JSONResponse(detail, status_code=200, headers={"Idempotent-Replayed": "true"})
    return JSONResponse(created, status_code=201)


@router.get("/claims", tags=["claims"])
def list_claims(actor: ActorDep, store: StoreDep, state: str | None = None,
                limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)):
    return store.service.list_claims(actor, state, limit, offset)


@router.get("/claims/{claim_id}", tags=["claims"])
def get_claim(claim_id: int, actor: ActorDep, store: StoreDep):
    return store.service.claim_detail(actor, claim_id)


class Action(BaseModel):
    reason: str = Field("", max_length=5000)
    forgery_confirmed: bool = False


@router.post("/claims/{claim_id}/actions/{action}", tags=["claims"],
             summary="Move a claim: " + ", ".join(USER_ACTIONS) + " (409 when not allowed from its state)")
def act(claim_id: int, action: str, body: Action, actor: ActorDep, store: StoreDep):
    return store.service.act(actor, claim_id, action, body.reason, body.forgery_confirmed)


@router.post("/claims/{claim_id}/evidence", tags=["claims"], summary="More evidence, when a reviewer asked for it",
             openapi_extra=form_body({"files": FILES | {"description": "photos and videos"},
                                      "reason": {"type": "string", "maxLength": 5000}}, ["files"]))
async def add_evidence(claim_id: int, request: Request, actor: ActorDep, store: StoreDep):
    # 404 before storing anything for a claim one cannot see
    await run_in_threadpool(store.service.claim_detail, actor, claim_id)
    form = await read_upload_form(request, store)
    try:
        reason = _text_field(form, "reason", 5000, "")
        return await run_in_threadpool(lambda: store.service.add_evidence(actor, claim_id, stored_files(store, form),
                                                                          reason))
    finally:
        form.discard()


@router.get("/claims/{claim_id}/media/{media_id}", tags=["claims"], response_class=FileResponse)
def get_media(claim_id: int, media_id: int, actor: ActorDep, store: StoreDep):
    path, ctype = store.service.media_file(actor, claim_id, media_id)
    return FileResponse(path, media_type=ctype)


@router.get("/claims/{claim_id}/report.html", tags=["reports"], response_class=HTMLResponse,
            summary="Evidence report: photos, SHA-256, findings, heatmaps, timeline, decisions")
def report_html(claim_id: int, actor: ActorDep, store: StoreDep):
    from ..store.reports import claim_report_html

    return HTMLResponse(claim_report_html(store, actor, claim_id))


@router.get("/claims/{claim_id}/report.pdf", tags=["reports"], response_class=Response)
def report_pdf(claim_id: int, actor: ActorDep, store: StoreDep):
    from ..store.reports import claim_report_pdf

    pdf = claim_report_pdf(store, actor, claim_id)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="claim-{claim_id}.pdf"'})


# Audit and credit ------------------------------------------------------------------------------
@router.get("/audit/verify", tags=["admin"], summary="Check the audit hash chain")
def audit_verify(actor: ActorDep, store: StoreDep):
    from ..store import audit

    if actor.role is not Role.ADMIN:
        raise HTTPException(403, "admins only")
    with store.db.read() as s:
        r = audit.verify(s)
    return {"ok": r.ok, "checked": r.checked, "first_bad": r.first_bad, "reason": r.reason}


@router.get("/credit/export", tags=["credit"], summary="Signed export of buyer credit records (no identities)")
def credit_export(actor: ActorDep, store: StoreDep):
    from ..store import credit

    return credit.export(store, actor)


@router.post("/credit/import", tags=["credit"], summary="Import another platform's signed export")
async def credit_import(request: Request, actor: ActorDep, store: StoreDep):
    from ..store import credit

    try:
        doc = await request.json()
    except ValueError:
        raise Invalid("body is not JSON") from None
    return await run_in_threadpool(credit.import_doc, store, actor, doc)


@router.get("/healthz", tags=["ops"])
def healthz(store: StoreDep):
    with store.db.read() as s:
        s.execute(__import__("sqlalchemy").text("SELECT 1"))
    return {"ok": True}
