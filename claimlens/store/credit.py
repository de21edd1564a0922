"""Buyer credit record: history on this platform, signed export for other platforms, import and matching."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from ..cases import access
from ..cases.credit import make_record, sign_export, verify_export
from ..cases.errors import NotFound
from ..cases.policy import BuyerHistory
from ..cases.workflow import Actor, Role
from . import audit
from .models import Analysis, Blob, Buyer, Claim, ClaimMedia, CreditFingerprint, CreditRecord, Decision, utcnow

LOOKBACK_DAYS = 90


def history(s, buyer_id: int, now: dt.datetime | None = None) -> BuyerHistory:
    since = (now or utcnow()) - dt.timedelta(days=LOOKBACK_DAYS)
    refunds = s.scalar(select(func.count()).select_from(Claim).where(
        Claim.buyer_id == buyer_id, Claim.outcome == "approved", Claim.updated_at >= since)) or 0
    forgeries = s.scalar(select(func.count(func.distinct(Decision.claim_id))).join(Claim, Claim.id == Decision.claim_id)
                         .where(Claim.buyer_id == buyer_id, Decision.forgery_confirmed.is_(True))) or 0
    reused = s.scalar(select(func.count()).select_from(Analysis).join(Claim, Claim.id == Analysis.claim_id)
                      .where(Claim.buyer_id == buyer_id, Analysis.reused.is_(True))) or 0
    ext_forgeries = ext_reused = 0
    b = s.get(Buyer, buyer_id)
    if b is not None and b.subjects:
        rows = s.execute(select(CreditRecord.key_id, func.max(CreditRecord.confirmed_forgeries),
                                func.max(CreditRecord.reused_photos))
                         .where(CreditRecord.subject.in_(b.subjects)).group_by(CreditRecord.key_id)).all()
        ext_forgeries = sum(r[1] or 0 for r in rows)
        ext_reused = sum(r[2] or 0 for r in rows)
    return BuyerHistory(refunds=refunds, confirmed_forgeries=forgeries, reused_photos=reused,
                        external_forgeries=ext_forgeries, external_reused_photos=ext_reused)


def buyer_record(store, actor: Actor, buyer_id: int) -> dict:
    if not (actor.role in (Role.ADMIN, Role.PLATFORM, Role.REVIEWER) or
            (actor.role is Role.BUYER and actor.buyer_id == buyer_id)):
        raise NotFound("buyer not found")
    with store.db.read() as s:
        if s.get(Buyer, buyer_id) is None:
            raise NotFound("buyer not found")
        h = history(s, buyer_id)
        claims = s.scalar(select(func.count()).select_from(Claim).where(Claim.buyer_id == buyer_id)) or 0
        return {"buyer_id": buyer_id, "claims": claims, "recent_refunds": h.refunds,
                "confirmed_forgeries": h.confirmed_forgeries, "reused_photos": h.reused_photos,
                "external": {"confirmed_forgeries": h.external_forgeries, "reused_photos": h.external_reused_photos}}


def export(store, actor: Actor) -> dict:
    """A signed document of keyed hashes, counts and photo fingerprints; no identities."""
    access.require_role(actor, Role.ADMIN, Role.PLATFORM, Role.SYSTEM)
    records = []
    with store.db.read() as s:
        for b in s.execute(select(Buyer).order_by(Buyer.id)).scalars():
            if not b.subjects:
                continue
            claims = s.scalar(select(func.count()).select_from(Claim).where(Claim.buyer_id == b.id)) or 0
            if not claims:
                continue
            refunds = s.scalar(select(func.count()).select_from(Claim).where(
                Claim.buyer_id == b.id, Claim.outcome == "approved")) or 0
            h = history(s, b.id)
            bad_claims = select(Decision.claim_id).where(Decision.forgery_confirmed.is_(True))
            fps = s.execute(
                select(Blob.fingerprint).join(ClaimMedia, ClaimMedia.blob_sha == Blob.sha256)
                .join(Claim, Claim.id == ClaimMedia.claim_id)
                .outerjoin(Analysis, Analysis.media_id == ClaimMedia.id)
                .where(Claim.buyer_id == b.id, Blob.fingerprint.is_not(None),
                       (Analysis.reused.is_(True)) | (Claim.id.in_(bad_claims)))
            ).scalars().all()
            records.append(make_record(b.subjects, {"claims": claims, "refunds": refunds,
                                                    "confirmed_forgeries": h.confirmed_forgeries,
                                                    "reused_photos": h.reused_photos}, fps))
    doc = sign_export(records, store.settings.platform_name, store.signing_key)
    with store.db.session() as s:
        audit.append(s, actor=actor.label, action="credit_export", data={"records": len(records)})
    return doc


def import_doc(store, actor: Actor, doc: dict, trusted: list[str] | None = None) -> dict:
    """Verify the signature against the trusted keys, then replace that issuer's earlier import."""
    access.require_role(actor, Role.ADMIN, Role.PLATFORM, Role.SYSTEM)
    keys = list(trusted or []) + list(store.settings.credit_trusted_keys)
    records = verify_export(doc, keys)
    kid, issuer = doc["key_id"], str(doc.get("issuer", ""))[:200]
    with store.db.session() as s:
        s.execute(delete(CreditRecord).where(CreditRecord.key_id == kid))
        s.execute(delete(CreditFingerprint).where(CreditFingerprint.key_id == kid))
        fps = set()
        for r in records:
            for subj in r["subjects"]:
                s.add(CreditRecord(issuer=issuer, key_id=kid, subject=str(subj)[:64],
                                   claims=int(r.get("claims", 0)), refunds=int(r.get("refunds", 0)),
                                   confirmed_forgeries=int(r.get("confirmed_forgeries", 0)),
                                   reused_photos=int(r.get("reused_photos", 0)),
                                   photo_fingerprints=list(r.get("photo_fingerprints", []))[:100]))
            fps.update(str(f)[:32] for f in r.get("photo_fingerprints", []))
        for f in sorted(fps):
            s.add(CreditFingerprint(issuer=issuer, key_id=kid, fingerprint=f))
        s.flush()
        matched = sum(1 for b in s.execute(select(Buyer)).scalars()
                      if b.subjects and set(b.subjects) & {sj for r in records for sj in r["subjects"]})
        audit.append(s, actor=actor.label, action="credit_import",
                     data={"issuer": issuer, "key_id": kid, "records": len(records), "matched_buyers": matched})
    return {"issuer": issuer, "key_id": kid, "records": len(records), "fingerprints": len(fps),
            "matched_buyers": matched}
