"""Console pages. Handlers are plain functions (thread pool): they read the session, call the claim service
(claimlens.store.service), the repair desk (store.repair) or claimlens.api.web.queries, and render a template.
Domain errors become HTML pages with the same status the API would answer.

The upload pages are async (`upload_page`): like the JSON API they stream the body into blob-store temp files
(claimlens.api.multipart), check the form's CSRF token before anything is linked, and run the store work in the
thread pool."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import inspect
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature
from starlette.concurrency import run_in_threadpool

from ...cases import access
from ...cases.errors import DomainError, Forbidden, Invalid, NotFound
from ...cases.repair import OPEN_STATES, RepairInput
from ...cases.workflow import Actor, ClaimType, Role, State
from ...forensics import ImageTooLarge, InputError
from ..deps import SESSION_COOKIE, SESSION_MAX_AGE, session_serializer
from ..multipart import FileTooLarge, StreamedForm, TooManyFiles, read_upload_form, stored_files
from . import queries
from .i18n import LANG_COOKIE, LANGS, Translator, pick_language

HERE = Path(__file__).parent
PREFIX = "/console"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
SEVERITY_ORDER = ["critical", "high", "medium", "low", "info"]
DECISIONS = {"approve": "a", "reject": "r", "request_evidence": "m", "uphold": "", "overturn": ""}


class LoginRequired(Exception):
    pass


@dataclass
class Ctx:
    request: Request
    store: object
    actor: Actor | None
    t: Translator
    csrf: str

    @property
    def lang(self) -> str:
        return self.t.lang

    def need(self, *roles: Role) -> Actor:
        if self.actor is None:
            raise LoginRequired()
        if roles and self.actor.role not in roles:
            raise Forbidden(self.t("err.forbidden"))
        return self.actor

    def render(self, name: str, status: int = 200, **kw) -> HTMLResponse:
        kw.update(t=self.t, lang=self.lang, actor=self.actor, csrf=self.csrf, prefix=PREFIX, home=home_url(self.actor),
                  path=self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else ""))
        return templates.TemplateResponse(self.request, name, kw, status_code=status)


def _ctx(request: Request) -> Ctx:
    store = request.app.state.store
    lang = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    actor, cookie = None, request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            uid = session_serializer(store).loads(cookie, max_age=SESSION_MAX_AGE)["uid"]
            actor = store.service.actor_for_user(int(uid))
        except (BadSignature, KeyError, TypeError, ValueError):
            actor = None
    csrf = csrf_token(store, cookie) if actor is not None else ""
    return Ctx(request, store, actor, Translator(lang), csrf)


def csrf_token(store, cookie: str | None) -> str:
    return hmac.new(store.session_secret.encode(), (cookie or "").encode(), hashlib.sha256).hexdigest()[:32]


def check_csrf(ctx: Ctx, token: str) -> None:
    if not ctx.csrf or not hmac.compare_digest(ctx.csrf, token or ""):
        raise Forbidden("the form expired; reload the page and try again")


def home_url(actor: Actor | None) -> str:
    if actor is None:
        return f"{PREFIX}/login"
    return PREFIX + {Role.MERCHANT: "/merchant", Role.BUYER: "/my", Role.OPERATOR: "/desk",
                     Role.TECHNICIAN: "/jobs"}.get(actor.role, "/queue")


def page(fn):
    """Run a page handler with its context; log-in redirects and domain errors become pages."""

    @functools.wraps(fn)
    def wrapper(request: Request, *a, **kw):
        ctx = _ctx(request)
        try:
            return fn(ctx, *a, **kw)
        except PAGE_ERRORS as exc:
            return failure_page(ctx, exc)

    return _with_request(fn, wrapper)


def upload_page(fn):
    """`page` for an async upload handler, which reads the body itself (`handle_upload`)."""

    @functools.wraps(fn)
    async def wrapper(request: Request, *a, **kw):
        ctx = await run_in_threadpool(_ctx, request)
        try:
            return await fn(ctx, *a, **kw)
        except PAGE_ERRORS as exc:
            return failure_page(ctx, exc)

    return _with_request(fn, wrapper)


def _with_request(fn, wrapper):
    # FastAPI reads the signature: the handler's first parameter (ctx) is replaced by the request
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[1:]
    wrapper.__signature__ = sig.replace(parameters=[
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request), *params])
    del wrapper.__wrapped__
    return wrapper


PAGE_ERRORS = (LoginRequired, DomainError, HTTPException, ImageTooLarge, InputError)


def failure_page(ctx: Ctx, exc: Exception) -> Response:
    """The log-in redirect or the error page for what a handler raised (one of PAGE_ERRORS)."""
    if isinstance(exc, LoginRequired):
        url = ctx.request.url
        nxt = url.path + (f"?{url.query}" if url.query else "")
        return RedirectResponse(f"{PREFIX}/login?next={quote(nxt)}", status_code=303)
    if isinstance(exc, FileTooLarge):  # stopped while the file was arriving
        return error_page(ctx, 413, ctx.t("err.too_big", name=exc.filename or "file", mb=megabytes(exc.limit)))
    if isinstance(exc, TooManyFiles):
        return error_page(ctx, 413, ctx.t("err.too_many", n=exc.limit))
    if isinstance(exc, DomainError):
        return error_page(ctx, exc.status, ctx.t.error(exc))
    if isinstance(exc, HTTPException):
        return error_page(ctx, exc.status_code, str(exc.detail))
    if isinstance(exc, ImageTooLarge):
        return error_page(ctx, 413, ctx.t.error(exc))
    return error_page(ctx, 422, ctx.t.error(exc))


def megabytes(n: int) -> str:
    """A size limit as the console shows it, in MB: one decimal below 10 MB unless it is whole."""
    mb = n / 1024 / 1024
    return f"{mb:.0f}" if mb >= 10 or mb == int(mb) else f"{mb:.1f}"


def error_page(ctx: Ctx, status: int, message: str) -> HTMLResponse:
    if status == 403:
        message = message or ctx.t("err.forbidden")
    if status == 404:
        message = ctx.t("err.not_found")
    return ctx.render("error.html", status=status, status_code=status, message=message)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(nxt: str | None, default: str) -> str:
    if nxt and nxt.startswith(PREFIX + "/") and not nxt.startswith("//") and "\\" not in nxt:
        return nxt
    return default


async def handle_upload(ctx: Ctx, work: Callable[[StreamedForm], Any]):
    """Read the posted form, its files streamed into blob-store temp files (the API's limits); refuse it unless its
    CSRF token is right; then run `work(form)` in the thread pool (it links what it keeps with `stored_files`).
    The form's temp files are dropped afterwards, whatever happened."""
    form = await read_upload_form(ctx.request, ctx.store, urlencoded=True)
    try:
        check_csrf(ctx, form.get("csrf", ""))
        return await run_in_threadpool(work, form)
    finally:
        form.discard()


def _fields(form: StreamedForm, *names: str, **defaults: str) -> dict[str, str]:
    """Text fields of a form; "" (or the given default) when missing or empty."""
    return {n: form.get(n) or defaults.get(n, "") for n in (*names, *defaults)}


# Session and language -------------------------------------------------------------------------
@router.get("/")
@page
def index(ctx: Ctx):
    return see_other(home_url(ctx.actor))


@router.get("/login")
@page
def login_form(ctx: Ctx, next: str = ""):
    return ctx.render("login.html", next=next, error=None)


@router.post("/login")
@page
def login(ctx: Ctx, username: str = Form(""), password: str = Form(""), next: str = Form("")):
    actor = ctx.store.service.login(username.strip(), password)
    if actor is None:
        return ctx.render("login.html", status=401, next=next, error=ctx.t("login_failed"), username=username)
    resp = see_other(safe_next(next, home_url(actor)))
    cookie = session_serializer(ctx.store).dumps({"uid": actor.user_id})
    resp.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax")
    return resp


@router.post("/logout")
@page
def logout(ctx: Ctx):
    resp = see_other(f"{PREFIX}/login")
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/lang/{code}")
@page
def set_language(ctx: Ctx, code: str, next: str = ""):
    resp = see_other(safe_next(next, home_url(ctx.actor)))
    if code in LANGS:
        resp.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax")
    return resp


# Reviewer --------------------------------------------------------------------------------------
def _float(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


@router.get("/queue")
@page
def review_queue(ctx: Ctx, verdict: str = "", merchant: str = "", amount_min: str = "", amount_max: str = "",
                 age: str = "", scope: str = "review"):
    actor = ctx.need()
    queries.require_reviewer(actor)
    f = queries.QueueFilter(verdict=verdict, merchant=int(merchant) if merchant.isdigit() else None,
                            amount_min=_float(amount_min), amount_max=_float(amount_max), age=age,
                            scope=scope if scope in ("review", "open", "all") else "review")
    rows = queries.queue(ctx.store, actor, f)
    return ctx.render("queue.html", rows=rows, f=f, merchants=queries.merchants(ctx.store, actor),
                      verdicts=["likely_forged", "suspicious", "no_evidence_of_forgery", "unreadable"],
                      query=str(ctx.request.url.query))


def _neighbours(ctx: Ctx, claim_id: int) -> tuple[int | None, int | None]:
    if ctx.actor is None or ctx.actor.role not in queries.REVIEWERS:
        return None, None
    ids = [r["id"] for r in queries.queue(ctx.store, ctx.actor, queries.QueueFilter())]
    if claim_id not in ids:
        return None, (ids[0] if ids else None)
    i = ids.index(claim_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def _photo_view(ctx: Ctx, m: dict) -> dict:
    """What the viewer needs for one analysed photo: reference, heatmap, regions, findings in plain words."""
    a = m.get("analysis") or {}
    doc = a.get("document") or {}
    findings = sorted(doc.get("findings", []), key=lambda f: SEVERITY_ORDER.index(f.get("severity", "info"))
                      if f.get("severity") in SEVERITY_ORDER else 9)
    reuse_ids = []
    for f in findings:
        if f.get("detector") == "reuse":
            reuse_ids += (f.get("details") or {}).get("claims", [])
    img = doc.get("image") or {}
    w, h = img.get("width") or 0, img.get("height") or 0
    regions = []
    for i, r in enumerate(doc.get("edited_regions") or []):
        x, y, rw, rh = (r.get("bbox") or [0, 0, 0, 0])[:4]
        if w and h:
            regions.append({"n": i + 1, "x": x / w, "y": y / h, "w": rw / w, "h": rh / h, "score": r.get("score")})
    return {"media": m, "analysis": a, "doc": doc, "risk": a.get("risk"), "verdict": a.get("verdict"),
            "reference": queries.matched_reference(doc), "heatmap": a.get("heatmap_sha256"), "regions": regions,
            "findings": [dict(f, words=ctx.t.finding(f)) for f in findings if f.get("detector") != "reuse"],
            "reuse": [dict(f, words=ctx.t.finding(f)) for f in findings if f.get("detector") == "reuse"],
            "reuse_claims": queries.other_claims(ctx.store, ctx.actor, sorted(set(reuse_ids))),
            "aspect": (w / h) if w and h else 1.5, "width": w, "height": h}


@router.get("/claims/new")
@page
def new_claim_form(ctx: Ctx):
    ctx.need(Role.BUYER)
    return _claim_form(ctx)


def _claim_form(ctx: Ctx, error: str | None = None, values: dict | None = None, status: int = 200):
    st = ctx.store.settings
    return ctx.render("claim_form.html", status=status, error=error, values=values or {},
                      products=queries.catalogue(ctx.store), types=[t.value for t in ClaimType],
                      max_files=st.max_files, max_bytes=st.max_upload_bytes,
                      max_mb=megabytes(st.max_upload_bytes), key=uuid.uuid4().hex)


@router.post("/claims/new")
@upload_page
async def new_claim(ctx: Ctx):
    from ...store.service import ClaimInput

    actor = ctx.need(Role.BUYER)

    def work(form: StreamedForm):
        values = _fields(form, "order_ref", "product_id", "amount", "reason", type="refund_only")
        if not values["order_ref"].strip() or not values["product_id"].isdigit() or not values["amount"].strip():
            return _claim_form(ctx, ctx.t("err.required"), values, 422)
        if not form.files:
            return _claim_form(ctx, ctx.t("err.no_photo"), values, 422)
        try:
            data = ClaimInput(order_ref=values["order_ref"].strip(), product_id=int(values["product_id"]),
                              type=values["type"], amount=values["amount"].strip(), reason=values["reason"].strip())
            cid, _ = ctx.store.service.create_claim(actor, data, stored_files(ctx.store, form),
                                                    idempotency_key=form.get("key") or None)
        except DomainError as exc:
            return _claim_form(ctx, ctx.t.error(exc), values, exc.status)
        except (ImageTooLarge, InputError) as exc:
            return _claim_form(ctx, ctx.t.error(exc), values, 422)
        return see_other(f"{PREFIX}/claims/{cid}?filed=1")

    return await handle_upload(ctx, work)


@router.get("/claims/{claim_id}")
@page
def case_page(ctx: Ctx, claim_id: int, media: int | None = None, filed: int = 0, done: str = "", answered: int = 0):
    actor = ctx.need()
    access.check_not_repair_staff(actor)
    d = ctx.store.service.claim_detail(actor, claim_id)
    names = queries.claim_names(ctx.store, d)
    staff = actor.role in queries.REVIEWERS or actor.role is Role.PLATFORM
    sees_analysis = actor.role is not Role.BUYER
    photos = [_photo_view(ctx, m) for m in d["media"] if m["kind"] in ("photo", "keyframe")] if sees_analysis else []
    videos = [m for m in d["media"] if m["kind"] == "video"]
    current = None
    if photos:
        chosen = [p for p in photos if p["media"]["id"] == media]
        current = chosen[0] if chosen else max(photos, key=lambda p: (p["risk"] is not None, p["risk"] or 0))
    credit = None
    if actor.role in (Role.REVIEWER, Role.ADMIN, Role.PLATFORM):
        from ...store import credit as credit_mod

        credit = credit_mod.buyer_record(ctx.store, actor, d["buyer_id"])
    prev_id, next_id = _neighbours(ctx, claim_id)
    decisions = [a for a in d["allowed_actions"] if a in DECISIONS] if actor.role in queries.REVIEWERS else []
    merchant_can_answer = actor.role is Role.MERCHANT and d["state"] == State.AWAITING_MERCHANT.value
    packing = None
    if sees_analysis:  # the merchant's packing evidence for the order
        try:
            packing = ctx.store.service.get_packing(actor, d["order_id"], d["merchant_id"])["evidence"]
        except DomainError:
            packing = None
    progress = queries.progress(ctx.store, actor, claim_id)
    return ctx.render("case.html", packing=packing, claim=d, names=names, photos=photos, current=current, videos=videos,
                      credit=credit, prev_id=prev_id, next_id=next_id, decisions=decisions, staff=staff,
                      sees_analysis=sees_analysis, merchant_can_answer=merchant_can_answer, progress=progress,
                      filed=filed, done=done, answered=answered, keys=DECISIONS)


@router.get("/claims/{claim_id}/status.json")
@page
def claim_status(ctx: Ctx, claim_id: int):
    actor = ctx.need()
    p = queries.progress(ctx.store, actor, claim_id)
    p["state_label"] = ctx.t(f"state.{p['state']}")
    if p["running"]:
        p["message"] = (ctx.t("progress.running", done=min(p["done"] + 1, max(p["total"], 1)), total=p["total"])
                        if p["state"] == State.ANALYSING.value else ctx.t("progress.waiting"))
    else:
        p["message"] = ctx.t("progress.done")
    return JSONResponse(p, headers={"Cache-Control": "no-store"})


@router.post("/claims/{claim_id}/decide")
@page
def decide(ctx: Ctx, claim_id: int, action: str = Form(""), reason: str = Form(""), forgery: str = Form(""),
           csrf: str = Form("")):
    actor = ctx.need(Role.REVIEWER, Role.ADMIN)
    check_csrf(ctx, csrf)
    if action not in DECISIONS:
        raise Invalid(f"unknown decision {action!r}")
    c = ctx.store.service.act(actor, claim_id, action, reason.strip(), forgery_confirmed=bool(forgery))
    return see_other(f"{PREFIX}/claims/{claim_id}?done={c['state']}")


@router.post("/claims/{claim_id}/answer")
@upload_page
async def merchant_answer(ctx: Ctx, claim_id: int):
    actor = ctx.need(Role.MERCHANT)
    # 404 before storing anything for a claim one cannot see
    c = await run_in_threadpool(queries.claim_for_merchant_answer, ctx.store, actor, claim_id)

    def work(form: StreamedForm):
        choice = form.get("choice", "")
        if choice not in ("accept", "dispute"):
            raise Invalid("choose to accept or to dispute the claim")
        if form.files:  # packing evidence of the claim's order, for the reviewer
            ctx.store.service.add_packing(actor, c["order_ref"], stored_files(ctx.store, form), c["product_id"])
        ctx.store.service.act(actor, claim_id, f"merchant_{choice}", form.get("reason", "").strip())
        return see_other(f"{PREFIX}/claims/{claim_id}?answered=1")

    return await handle_upload(ctx, work)


@router.get("/claims/{claim_id}/report.html")
@page
def report_html(ctx: Ctx, claim_id: int):
    from ...store.reports import claim_report_html as make

    actor = ctx.need(Role.MERCHANT, Role.REVIEWER, Role.ADMIN, Role.PLATFORM)
    return HTMLResponse(make(ctx.store, actor, claim_id), headers={
        "Content-Disposition": f'attachment; filename="claim-{claim_id}-report.html"'})


@router.get("/claims/{claim_id}/report.pdf")
@page
def report_pdf(ctx: Ctx, claim_id: int):
    from ...store.reports import claim_report_pdf as make

    actor = ctx.need(Role.MERCHANT, Role.REVIEWER, Role.ADMIN, Role.PLATFORM)
    return Response(make(ctx.store, actor, claim_id), media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="claim-{claim_id}-report.pdf"'})


@router.get("/claims/{claim_id}/overlay/{media_id}.png")
@page
def heatmap_overlay(ctx: Ctx, claim_id: int, media_id: int):
    """The heatmap as a transparent red overlay: clear where nothing was found, red where edited."""
    actor = ctx.need(Role.MERCHANT, Role.REVIEWER, Role.ADMIN, Role.PLATFORM)
    d = ctx.store.service.claim_detail(actor, claim_id)
    m = next((m for m in d["media"] if m["id"] == media_id), None)
    sha = ((m or {}).get("analysis") or {}).get("heatmap_sha256")
    if not sha:
        raise NotFound("no heatmap")
    return Response(overlay_png(ctx.store.blobs.read(sha)), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=86400"})


@functools.cache
def _jet_inverse():
    """A 32x32x32 table from a (quantised) JET colour back to its value 0..255."""
    import cv2
    import numpy as np

    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(-1, 1), cv2.COLORMAP_JET)
    lut = lut.reshape(256, 3).astype(np.float32)
    grid = np.stack(np.meshgrid(*[np.arange(32, dtype=np.float32) * 8 + 4] * 3, indexing="ij"), -1).reshape(-1, 3)
    dist = (lut ** 2).sum(1)[None, :] - 2 * grid @ lut.T  # |grid|^2 is the same for every column
    return dist.argmin(1).astype(np.uint8).reshape(32, 32, 32)


def overlay_png(heatmap_png: bytes) -> bytes:
    """Turn the JET-coloured heatmap into a transparent red overlay: clear where nothing was found."""
    import cv2
    import numpy as np
    from PIL import Image

    bgr = cv2.imdecode(np.frombuffer(heatmap_png, np.uint8), cv2.IMREAD_COLOR)
    q = bgr >> 3
    value = _jet_inverse()[q[..., 0], q[..., 1], q[..., 2]].astype(np.float32) / 255.0
    alpha = np.clip((value - 0.15) / 0.6, 0, 1) * 200
    rgba = np.zeros((*bgr.shape[:2], 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (40 + 180 * (1 - value)).astype(np.uint8)
    rgba[..., 3] = alpha.astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return buf.getvalue()


@router.get("/files/{sha}")
@page
def stored_file(ctx: Ctx, sha: str):
    actor = ctx.need()
    if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        raise NotFound("file not found")
    ctype = queries.can_see_blob(ctx.store, actor, sha)
    return FileResponse(ctx.store.blobs.path(sha), media_type=ctype,
                        headers={"Cache-Control": "private, max-age=86400"})


# Merchant --------------------------------------------------------------------------------------
@router.get("/merchant")
@page
def merchant_home(ctx: Ctx):
    actor = ctx.need(Role.MERCHANT)
    claims = [c for c in ctx.store.service.list_claims(actor, limit=500)
              if c["state"] not in (State.FINAL.value,)]
    order = {State.AWAITING_MERCHANT.value: 0}
    claims.sort(key=lambda c: (order.get(c["state"], 1), c["merchant_deadline"] or "9999", -c["id"]))
    return ctx.render("merchant.html", claims=claims)


@router.get("/products")
@page
def products(ctx: Ctx, added: int = 0, error: str = ""):
    actor = ctx.need(Role.MERCHANT)
    return ctx.render("products.html", products=ctx.store.service.list_products(actor), added=added, error=error)


@router.post("/products")
@page
def create_product(ctx: Ctx, sku: str = Form(""), name: str = Form(""), csrf: str = Form("")):
    actor = ctx.need(Role.MERCHANT)
    check_csrf(ctx, csrf)
    try:
        ctx.store.service.create_product(actor, sku.strip(), name.strip())
    except DomainError as exc:
        return ctx.render("products.html", status=exc.status, products=ctx.store.service.list_products(actor),
                          added=0, error=ctx.t.error(exc))
    return see_other(f"{PREFIX}/products")


@router.post("/products/{product_id}/photos")
@upload_page
async def add_reference_photos(ctx: Ctx, product_id: int):
    actor = ctx.need(Role.MERCHANT)
    await run_in_threadpool(ctx.store.service.check_product_write, actor, product_id)  # before storing anything

    def work(form: StreamedForm):
        try:
            if not form.files:
                raise Invalid(ctx.t("err.no_photo"))
            ids = ctx.store.service.add_product_photos(actor, product_id,
                                                       stored_files(ctx.store, form, allow_video=False))
        except DomainError as exc:
            return ctx.render("products.html", status=exc.status, added=0, error=ctx.t.error(exc),
                              products=ctx.store.service.list_products(actor))
        return see_other(f"{PREFIX}/products?{urlencode({'added': len(ids)})}#product-{product_id}")

    return await handle_upload(ctx, work)


@router.get("/orders")
@page
def orders(ctx: Ctx, error: str = ""):
    actor = ctx.need(Role.MERCHANT)
    return ctx.render("orders.html", orders=queries.merchant_orders(ctx.store, actor),
                      products=ctx.store.service.list_products(actor), error=error)


@router.post("/orders")
@upload_page
async def add_packing(ctx: Ctx):
    actor = ctx.need(Role.MERCHANT)

    def work(form: StreamedForm):
        order_ref, product_id = form.get("order_ref", ""), form.get("product_id", "")
        try:
            if not order_ref.strip() or not form.files:
                raise Invalid(ctx.t("err.required"))
            ctx.store.service.add_packing(actor, order_ref.strip(), stored_files(ctx.store, form),
                                          int(product_id) if product_id.isdigit() else None)
        except DomainError as exc:
            return ctx.render("orders.html", status=exc.status, orders=queries.merchant_orders(ctx.store, actor),
                              products=ctx.store.service.list_products(actor), error=ctx.t.error(exc))
        return see_other(f"{PREFIX}/orders")

    return await handle_upload(ctx, work)


# Buyer -----------------------------------------------------------------------------------------
@router.get("/my")
@page
def my_claims(ctx: Ctx):
    actor = ctx.need(Role.BUYER)
    return ctx.render("my_claims.html", claims=ctx.store.service.list_claims(actor, limit=200))


# Repair desk -----------------------------------------------------------------------------------
# The rules (who moves a request, dispatch choice, SLA, who sees customer data) live in claimlens.cases.repair and
# claimlens.store.repair_desk; these pages only call store.repair and show what it answers.
OPEN = {s.value for s in OPEN_STATES}
JOB_ACTIONS = ("accept", "decline", "arrive", "resolve")
TIMES = ("created_at", "due_at", "dispatched_at", "accept_by", "eta_at", "accepted_at", "on_site_at", "closed_at")


def _utc(value) -> str | None:
    """A service time (ISO string or datetime) as UTC ISO seconds, which the page shows in the viewer's zone."""
    if not value:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return queries.iso(value)


def _times(r: dict) -> dict:
    r = dict(r)
    for k in TIMES:
        if k in r:
            r[k] = _utc(r[k])
    if r.get("timeline"):
        r["timeline"] = [dict(e, at=_utc(e["at"])) for e in r["timeline"]]
    return r


def _desk_page(ctx: Ctx, error: str | None = None, values: dict | None = None, status: int = 200,
               found: list[dict] | None = None, phone: str = "", search_error: str | None = None):
    actor, repair = ctx.actor, ctx.store.repair
    techs = repair.list_technicians(actor)
    board = repair.sla_view(actor)
    board["requests"] = [_times(r) for r in board["requests"]]
    return ctx.render("desk.html", status=status, board=board, coverage=repair.coverage(actor), technicians=techs,
                      names={t["id"]: t["name"] for t in techs}, districts=repair.list_districts(actor),
                      products=queries.desk_products(ctx.store, actor),
                      skills=sorted({s for t in techs for s in t["skills"]}), error=error, values=values or {},
                      found=found, phone=phone, search_error=search_error)


@router.get("/desk")
@page
def desk(ctx: Ctx):
    ctx.need(Role.OPERATOR)
    return _desk_page(ctx)


@router.post("/desk/requests")
@page
def file_repair_request(ctx: Ctx, customer_name: str = Form(""), phone: str = Form(""), address: str = Form(""),
                        district: str = Form(""), product_id: str = Form(""), skill: str = Form(""),
                        fault: str = Form(""), priority: str = Form("normal"), csrf: str = Form("")):
    actor = ctx.need(Role.OPERATOR)
    check_csrf(ctx, csrf)
    values = {"customer_name": customer_name, "phone": phone, "address": address, "district": district,
              "product_id": product_id, "skill": skill, "fault": fault, "priority": priority}
    if not all(v.strip() for v in (customer_name, phone, address, district, fault)):
        return _desk_page(ctx, ctx.t("err.required"), values, 422)
    data = RepairInput(customer_name=customer_name, phone=phone, address=address, district=district, fault=fault,
                       skill=skill.strip() or None, product_id=int(product_id) if product_id.isdigit() else None,
                       priority=priority)
    try:
        r = ctx.store.repair.create_request(actor, data)
    except DomainError as exc:
        return _desk_page(ctx, ctx.t.error(exc), values, exc.status)
    return see_other(f"{PREFIX}/desk/requests/{r['id']}?filed=1")


@router.post("/desk/search")
@page
def search_caller(ctx: Ctx, phone: str = Form(""), csrf: str = Form("")):
    """By POST, like the API, so that no access log records the phone number."""
    actor = ctx.need(Role.OPERATOR)
    check_csrf(ctx, csrf)
    try:
        ids = ctx.store.repair.find_requests(actor, phone)
    except DomainError as exc:
        return _desk_page(ctx, phone=phone, search_error=ctx.t.error(exc), status=exc.status)
    found = [_times(ctx.store.repair.get_request(actor, i)) for i in reversed(ids[-20:])]
    return _desk_page(ctx, found=found, phone=phone)


def _request_page(ctx: Ctx, request_id: int, status: int = 200, error: str | None = None, **kw):
    actor = ctx.actor
    r = _times(ctx.store.repair.get_request(actor, request_id))
    techs = ctx.store.repair.list_technicians(actor)
    return ctx.render("repair_request.html", status=status, r=r, technicians=techs, error=error,
                      names={t["id"]: t["name"] for t in techs}, desk=actor.role is Role.OPERATOR, **kw)


@router.get("/desk/requests/{request_id}")
@page
def desk_request(ctx: Ctx, request_id: int, filed: int = 0, moved: int = 0):
    ctx.need(Role.OPERATOR)
    return _request_page(ctx, request_id, filed=filed, moved=moved)


@router.post("/desk/dispatch")
@page
def redispatch(ctx: Ctx, request_id: str = Form(""), technician_id: str = Form(""), reason: str = Form(""),
               csrf: str = Form("")):
    """Manual override: send the request to a named technician (or let the desk choose again), with a reason."""
    actor = ctx.need(Role.OPERATOR)
    check_csrf(ctx, csrf)
    if not request_id.isdigit():
        raise Invalid(ctx.t("err.required"))
    tid = int(technician_id) if technician_id.isdigit() else None
    try:
        ctx.store.repair.dispatch(actor, int(request_id), tid, reason.strip())
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _request_page(ctx, int(request_id), status=exc.status, error=ctx.t.error(exc))
    return see_other(f"{PREFIX}/desk/requests/{request_id}?moved=1")


def _jobs_page(ctx: Ctx, status: int = 200, error: str | None = None, done: str = ""):
    actor, repair = ctx.actor, ctx.store.repair
    me = next(iter(repair.list_technicians(actor)), None)
    rows = repair.list_requests(actor, limit=100)
    open_jobs = [_times(repair.get_request(actor, r["id"])) for r in rows if r["state"] in OPEN]
    open_jobs.sort(key=lambda r: (r["sla"]["minutes_left"], r["id"]))
    closed = [_times(r) for r in rows if r["state"] not in OPEN][:20]
    return ctx.render("jobs.html", status=status, me=me, jobs=open_jobs, closed=closed, error=error, done=done)


@router.get("/jobs")
@page
def jobs(ctx: Ctx, done: str = ""):
    ctx.need(Role.TECHNICIAN)
    return _jobs_page(ctx, done=done)


@router.get("/jobs/{job_id}")
@page
def job_page(ctx: Ctx, job_id: int):
    ctx.need(Role.TECHNICIAN)
    return _request_page(ctx, job_id)


@router.post("/jobs/{job_id}/act")
@page
def job_action(ctx: Ctx, job_id: int, action: str = Form(""), reason: str = Form(""), csrf: str = Form("")):
    actor = ctx.need(Role.TECHNICIAN)
    check_csrf(ctx, csrf)
    if action not in JOB_ACTIONS:
        raise Invalid(f"unknown action {action!r}")
    try:
        res = ctx.store.repair.act(actor, job_id, action, reason.strip())
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _jobs_page(ctx, status=exc.status, error=ctx.t.error(exc))
    return see_other(f"{PREFIX}/jobs?{urlencode({'done': res['state']})}")


@router.post("/jobs/availability")
@page
def job_availability(ctx: Ctx, available: str = Form(""), csrf: str = Form("")):
    actor = ctx.need(Role.TECHNICIAN)
    check_csrf(ctx, csrf)
    me = next(iter(ctx.store.repair.list_technicians(actor)), None)
    if me is None:
        raise NotFound("technician not found")
    ctx.store.repair.update_technician(actor, me["id"], {"available": available == "1"})
    return see_other(f"{PREFIX}/jobs")
