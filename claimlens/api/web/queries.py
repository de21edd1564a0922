"""Reads the console needs that the claim service does not offer: the review queue with filters, who may see a
stored file, the matched reference of an analysis, analysis progress, a merchant's orders. Every function checks
the actor with claimlens.cases.access, like the service does."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from ...cases import access
from ...cases.errors import Forbidden, NotFound
from ...cases.workflow import Actor, Role, State
from ...store.models import (
    Analysis,
    Blob,
    Buyer,
    Claim,
    ClaimMedia,
    Job,
    Merchant,
    Order,
    PackingEvidence,
    Product,
    ProductPhoto,
    utcnow,
)

REVIEWERS = (Role.REVIEWER, Role.ADMIN)
REVIEW_STATES = (State.IN_REVIEW.value, State.APPEALED.value)
AGES = {"1d": (None, 1), "over1d": (1, None), "over3d": (3, None)}


@dataclass
class QueueFilter:
    verdict: str = ""
    merchant: int | None = None
    amount_min: float | None = None
    amount_max: float | None = None
    age: str = ""
    scope: str = "review"  # review, open, all


def require_reviewer(actor: Actor) -> None:
    if actor.role not in REVIEWERS:
        raise Forbidden("only reviewers see the review queue")


def queue(store, actor: Actor, f: QueueFilter, limit: int = 500) -> list[dict]:
    """Claims for reviewers, riskiest first, then the nearest deadline."""
    require_reviewer(actor)
    q = (select(Claim, Merchant.name, Buyer.display_name)
         .join(Merchant, Merchant.id == Claim.merchant_id).join(Buyer, Buyer.id == Claim.buyer_id))
    if f.scope == "review":
        q = q.where(Claim.state.in_(REVIEW_STATES))
    elif f.scope == "open":
        q = q.where(Claim.state.not_in((State.REJECTED.value, State.FINAL.value)))
    if f.verdict:
        q = q.where(Claim.verdict == f.verdict)
    if f.merchant:
        q = q.where(Claim.merchant_id == f.merchant)
    if f.amount_min is not None:
        q = q.where(Claim.amount_cents >= round(f.amount_min * 100))
    if f.amount_max is not None:
        q = q.where(Claim.amount_cents <= round(f.amount_max * 100))
    if f.age in AGES:
        now = utcnow()
        older, younger = AGES[f.age]
        if older is not None:
            q = q.where(Claim.created_at <= now - dt.timedelta(days=older))
        if younger is not None:
            q = q.where(Claim.created_at > now - dt.timedelta(days=younger))
    q = q.order_by(Claim.risk.is_(None), Claim.risk.desc(), Claim.merchant_deadline.is_(None),
                   Claim.merchant_deadline, Claim.id).limit(limit)
    with store.db.read() as s:
        return [{"id": c.id, "order_ref": c.order_ref, "merchant": mname, "merchant_id": c.merchant_id,
                 "buyer": bname, "amount": f"{c.amount_cents / 100:.2f}", "currency": c.currency, "risk": c.risk,
                 "verdict": c.verdict, "state": c.state, "type": c.type,
                 "deadline": iso(c.merchant_deadline), "created_at": iso(c.created_at)}
                for c, mname, bname in s.execute(q).all()]


def merchants(store, actor: Actor) -> list[dict]:
    require_reviewer(actor)
    with store.db.read() as s:
        return [{"id": m.id, "name": m.name} for m in s.execute(select(Merchant).order_by(Merchant.name)).scalars()]


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds") if t else None


def claim_names(store, claim: dict) -> dict:
    """Merchant, buyer and product names of a claim (the actor has already been allowed to see it)."""
    with store.db.read() as s:
        m = s.get(Merchant, claim["merchant_id"])
        b = s.get(Buyer, claim["buyer_id"])
        p = s.get(Product, claim["product_id"])
        return {"merchant": m.name if m else "", "buyer": b.display_name if b else "",
                "product": f"{p.name} ({p.sku})" if p else ""}


def can_see_blob(store, actor: Actor, sha: str, claim_id: int | None = None) -> str:
    """The content type of blob `sha` if the actor may see it, else NotFound. Buyers see only their own photos."""
    with store.db.read() as s:
        blob = s.get(Blob, sha)
        if blob is None:
            raise NotFound("file not found")
        # a photo of a claim the actor may read
        rows = s.execute(select(Claim.merchant_id, Claim.buyer_id).join(ClaimMedia, ClaimMedia.claim_id == Claim.id)
                         .where(ClaimMedia.blob_sha == sha)).all()
        if any(access.can_read_claim(actor, m, b) for m, b in rows):
            return blob.content_type
        if actor.role is Role.BUYER:
            raise NotFound("file not found")
        # a heatmap of a claim the actor may read
        rows = s.execute(select(Claim.merchant_id, Claim.buyer_id).join(Analysis, Analysis.claim_id == Claim.id)
                         .where(Analysis.heatmap_sha == sha)).all()
        if any(access.can_read_claim(actor, m, b) for m, b in rows):
            return blob.content_type
        # a reference photo or packing evidence of a merchant the actor may see
        owners = list(s.execute(select(Product.merchant_id).join(ProductPhoto, ProductPhoto.product_id == Product.id)
                                .where(ProductPhoto.blob_sha == sha)).scalars())
        owners += list(s.execute(select(Order.merchant_id).join(PackingEvidence, PackingEvidence.order_id == Order.id)
                                 .where(PackingEvidence.blob_sha == sha)).scalars())
        for mid in owners:
            try:
                access.check_merchant(actor, mid)
                return blob.content_type
            except NotFound:
                continue
        raise NotFound("file not found")


def matched_reference(doc: dict) -> dict | None:
    """The reference the claim photo was made from (or the most similar one): name, relation, sha256."""
    refs = doc.get("references") or []
    if not refs:
        return None
    derived = [r for r in refs if r.get("relation") == "derived"]
    pool = derived or [r for r in refs if r.get("relation") == "same_item"]
    if not pool:
        return None
    best = max(pool, key=lambda r: r.get("confidence") or 0.0)
    inputs = {i["path"]: i["sha256"] for i in doc.get("inputs", []) if i.get("role") == "reference"}
    return {**best, "sha256": inputs.get(best.get("path"))}


def progress(store, actor: Actor, claim_id: int) -> dict:
    """How far the analysis of a claim is: photos analysed of photos to analyse, and the claim's state."""
    with store.db.read() as s:
        c = s.get(Claim, claim_id)
        if c is None:
            raise NotFound("claim not found")
        access.check_claim(actor, c.merchant_id, c.buyer_id)
        total = s.scalar(select(func.count()).select_from(ClaimMedia).where(
            ClaimMedia.claim_id == claim_id, ClaimMedia.kind.in_(("photo", "keyframe")))) or 0
        done = s.scalar(select(func.count()).select_from(Analysis).where(Analysis.claim_id == claim_id)) or 0
        failed = s.scalar(select(func.count()).select_from(Job).where(Job.claim_id == claim_id,
                                                                       Job.state == "failed")) or 0
        running = c.state in (State.SUBMITTED.value, State.ANALYSING.value)
        return {"claim_id": c.id, "state": c.state, "running": running, "done": min(done, total), "total": total,
                "failed": bool(failed), "version": c.version}


def merchant_orders(store, actor: Actor) -> list[dict]:
    """The merchant's orders with their packing evidence (video keyframes under their video)."""
    if actor.role is not Role.MERCHANT:
        raise Forbidden("only merchants have orders here")
    with store.db.read() as s:
        orders = list(s.execute(select(Order).where(Order.merchant_id == actor.merchant_id)
                                .order_by(Order.id.desc())).scalars())
        products = {p.id: p.name for p in s.execute(select(Product).where(
            Product.merchant_id == actor.merchant_id)).scalars()}
    out = []
    for o in orders:
        packing = store.service.get_packing(actor, o.order_ref)
        items = [e for e in packing["evidence"] if e["kind"] != "keyframe"]
        for e in items:
            e["keyframes"] = [k for k in packing["evidence"] if k["parent_id"] == e["id"]]
        out.append({"order_ref": o.order_ref, "product": products.get(o.product_id, ""),
                    "created_at": iso(o.created_at), "evidence": items})
    return out


def catalogue(store) -> list[dict]:
    """Products a buyer can file a claim about, with the merchant's name (the public shop catalogue)."""
    with store.db.read() as s:
        rows = s.execute(select(Product, Merchant.name).join(Merchant, Merchant.id == Product.merchant_id)
                         .order_by(Merchant.name, Product.name)).all()
        return [{"id": p.id, "name": p.name, "sku": p.sku, "merchant": m} for p, m in rows]


def claim_for_merchant_answer(store, actor: Actor, claim_id: int) -> dict:
    """order_ref and product of a claim the merchant may answer."""
    with store.db.read() as s:
        c = s.get(Claim, claim_id)
        if c is None:
            raise NotFound("claim not found")
        access.check_claim(actor, c.merchant_id, c.buyer_id)
        return {"order_ref": c.order_ref, "product_id": c.product_id, "merchant_id": c.merchant_id}


def other_claims(store, actor: Actor, ids: list[int]) -> list[dict]:
    """Claims named by a reuse finding that the actor may open."""
    if not ids:
        return []
    with store.db.read() as s:
        rows = s.execute(select(Claim).where(Claim.id.in_([int(i) for i in ids[:50]]))).scalars()
        return [{"id": c.id, "order_ref": c.order_ref, "state": c.state}
                for c in rows if access.can_read_claim(actor, c.merchant_id, c.buyer_id)]



def desk_products(store, actor: Actor) -> list[dict]:
    """Products of the operator's shop, for the phone request form (the operator's desk is its shop's)."""
    if actor.role is not Role.OPERATOR or actor.merchant_id is None:
        raise Forbidden("only the shop's operators file phone requests here")
    with store.db.read() as s:
        rows = s.execute(select(Product).where(Product.merchant_id == actor.merchant_id).order_by(Product.name))
        return [{"id": p.id, "name": p.name, "sku": p.sku} for p in rows.scalars()]
