"""The analysis job: run the forensic core on a claim's photos (and video keyframes) against the product's
reference photos and the order's packing evidence, then let the policy decide what happens next."""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy import select

from ..cases.credit import hamming
from ..cases.errors import Invalid
from ..cases.media import fingerprint, keyframes
from ..cases.policy import worst_verdict
from ..cases.workflow import SYSTEM, State
from ..forensics import Evidence, InputError, analyze
from . import credit
from .jobs import handler
from .models import (
    Analysis,
    Blob,
    Claim,
    ClaimMedia,
    CreditFingerprint,
    PackingEvidence,
    ProductPhoto,
    utcnow,
)

log = logging.getLogger(__name__)
REUSE_DISTANCE = 6  # bits of 64 in the perceptual hash


def analysis_gave_up(store, payload: dict, error: Exception) -> None:
    """The analysis failed on every attempt: a reviewer takes the claim, and is told why."""
    with store.db.session() as s:
        c = s.execute(select(Claim).where(Claim.id == int(payload["claim_id"])).with_for_update()).scalar_one_or_none()
        if c is not None and c.state in (State.SUBMITTED.value, State.ANALYSING.value):
            store.service.apply(s, c, SYSTEM, "analysis_failed",
                                f"the analysis failed repeatedly ({type(error).__name__}); needs a reviewer")


@handler("analyse_claim", on_failure=analysis_gave_up)
def analyse_claim(store, payload: dict) -> None:
    cid = int(payload["claim_id"])
    svc = store.service
    with store.db.session() as s:
        c = s.execute(select(Claim).where(Claim.id == cid).with_for_update()).scalar_one_or_none()
        if c is None:
            return
        if c.order_id is None:  # link the merchant's order record (packing evidence), if there is one
            from .models import Order

            c.order_id = s.scalar(select(Order.id).where(Order.merchant_id == c.merchant_id,
                                                         Order.order_ref == c.order_ref))
        if c.state == State.SUBMITTED.value:
            svc.apply(s, c, SYSTEM, "start_analysis")
        elif c.state != State.ANALYSING.value:
            return  # already analysed: a repeated job does nothing
        product_id, order_id, merchant_id, order_ref = c.product_id, c.order_id, c.merchant_id, c.order_ref
    _extract_claim_keyframes(store, cid)
    refs = _references(store, product_id, order_id, merchant_id, order_ref)
    with store.db.read() as s:
        done = set(s.execute(select(Analysis.media_id).where(Analysis.claim_id == cid)).scalars())
        todo = [(m.id, m.blob_sha, m.filename) for m in s.execute(
            select(ClaimMedia).where(ClaimMedia.claim_id == cid, ClaimMedia.kind.in_(("photo", "keyframe")))
            .order_by(ClaimMedia.id)).scalars() if m.id not in done]
    for media_id, sha, filename in todo:
        if store.settings.analysis_delay_s:
            time.sleep(store.settings.analysis_delay_s)
        _analyse_one(store, cid, media_id, sha, filename, refs)
    _decide(store, cid)


def _extract_claim_keyframes(store, cid: int) -> None:
    with store.db.read() as s:
        videos = [(m.id, m.blob_sha, m.filename, m.round) for m in s.execute(
            select(ClaimMedia).where(ClaimMedia.claim_id == cid, ClaimMedia.kind == "video")).scalars()]
        have = set(s.execute(select(ClaimMedia.parent_id).where(ClaimMedia.claim_id == cid,
                                                                ClaimMedia.kind == "keyframe")).scalars())
    for vid, sha, filename, rnd in videos:
        if vid in have:
            continue
        try:
            frames = keyframes(store.blobs.path(sha))
        except Invalid as exc:
            log.warning("claim %s video %s: %s", cid, vid, exc)
            continue
        stored = [(t, store.blobs.put_bytes(jpeg, filename=f"{filename}@{t:.2f}s.jpg")) for t, jpeg in frames]
        with store.db.session() as s:
            if s.scalar(select(ClaimMedia.id).where(ClaimMedia.parent_id == vid)) is not None:
                continue
            for t, sf in stored:
                store.service._add_blob(s, sha=sf.sha256, size=sf.size, kind="photo", content_type="image/jpeg")
                s.add(ClaimMedia(claim_id=cid, blob_sha=sf.sha256, kind="keyframe", parent_id=vid, frame_time=t,
                                 filename=sf.filename[:300], round=rnd))


def _references(store, product_id, order_id, merchant_id, order_ref) -> list[Evidence]:
    with store.db.read() as s:
        shas = [(p.blob_sha, f"reference:{p.filename or p.blob_sha[:12]}") for p in s.execute(
            select(ProductPhoto).where(ProductPhoto.product_id == product_id).order_by(ProductPhoto.id)).scalars()]
        if order_id is None:  # packing evidence registered after the claim was filed
            from .models import Order

            order_id = s.scalar(select(Order.id).where(Order.merchant_id == merchant_id, Order.order_ref == order_ref))
        if order_id is not None:
            shas += [(p.blob_sha, f"packing:{p.filename or p.blob_sha[:12]}") for p in s.execute(
                select(PackingEvidence).where(PackingEvidence.order_id == order_id,
                                              PackingEvidence.kind.in_(("photo", "keyframe")))
                .order_by(PackingEvidence.id)).scalars()]
    refs, seen = [], set()
    for sha, name in shas:
        if sha in seen:
            continue
        seen.add(sha)
        try:
            refs.append(Evidence.from_path(store.blobs.path(sha), max_pixels=store.settings.max_pixels))
            refs[-1].name = name
        except InputError as exc:
            log.warning("reference %s unusable: %s", sha[:12], exc)
    return refs


def _heatmap_png(fmap: np.ndarray) -> bytes:
    import cv2

    m = np.clip(fmap * 255, 0, 255).astype(np.uint8)
    color = cv2.applyColorMap(m, cv2.COLORMAP_JET)
    ok, buf = cv2.imencode(".png", color)
    return buf.tobytes()


def _analyse_one(store, cid: int, media_id: int, sha: str, filename: str, refs: list[Evidence]) -> None:
    fp, heat, extra = None, None, []
    try:
        ev = Evidence.from_path(store.blobs.path(sha), references=refs, max_pixels=store.settings.max_pixels)
        ev.name = filename or sha[:12]
        result = analyze(ev, only=store.settings.detectors)
        doc = result.to_dict()
        fp = fingerprint(ev.rgb)
        if result.fused.map is not None and result.fused.map.max() > 0:
            heat = store.blobs.put_bytes(_heatmap_png(result.fused.map), filename=f"heatmap-{sha[:12]}.png")
    except InputError as exc:
        doc = {"schema": "claimlens.analysis/1", "risk": None, "verdict": "unreadable", "error": str(exc),
               "findings": [], "references": [], "edited_regions": []}
    reused = False
    if fp is not None:
        extra = _reuse_findings(store, cid, sha, fp)
        seen = {c for f in extra for c in f.get("details", {}).get("claims", [])}
        for f in _index_findings(store, cid, media_id, ev):
            claims = {(m.get("meta") or {}).get("claim_id") for m in f.get("details", {}).get("matches", [])}
            if not claims <= seen:  # not already reported by the exact/near-duplicate check
                extra.append(f)
        if extra:
            reused = True
            doc["findings"] = list(doc.get("findings", [])) + extra
            doc.setdefault("reasons", [])
            doc["reasons"] = [f["message"] for f in extra] + list(doc["reasons"])
            if doc.get("verdict") not in ("likely_forged",):
                doc["verdict"] = "likely_forged" if any(f["severity"] == "critical" for f in extra) else "suspicious"
                doc["risk"] = max(doc.get("risk") or 0.0, 0.92 if doc["verdict"] == "likely_forged" else 0.6)
    with store.db.session() as s:
        if s.scalar(select(Analysis.id).where(Analysis.media_id == media_id)) is not None:
            return
        b = s.get(Blob, sha)
        if b is not None and fp and not b.fingerprint:
            b.fingerprint = fp
        if heat is not None:
            store.service._add_blob(s, sha=heat.sha256, size=heat.size, kind="heatmap", content_type="image/png")
        s.add(Analysis(claim_id=cid, media_id=media_id, risk=doc.get("risk"), verdict=doc["verdict"], document=doc,
                       heatmap_sha=heat.sha256 if heat else None, reused=reused))


def _reuse_findings(store, cid: int, sha: str, fp: str) -> list[dict]:
    """The same photo (or a near copy) in another claim here, or in another platform's forged claims."""
    out = []
    with store.db.read() as s:
        rows = s.execute(select(ClaimMedia.claim_id, Blob.sha256, Blob.fingerprint)
                         .join(Blob, Blob.sha256 == ClaimMedia.blob_sha)
                         .where(ClaimMedia.claim_id != cid, Blob.fingerprint.is_not(None))).all()
        ext = s.execute(select(CreditFingerprint.issuer, CreditFingerprint.fingerprint)).all()
    exact = sorted({c for c, sh, _ in rows if sh == sha})
    near = sorted({c for c, sh, f in rows if sh != sha and hamming(f, fp) <= REUSE_DISTANCE} - set(exact))
    if exact:
        out.append({"detector": "reuse", "code": "reused_photo", "severity": "critical",
                    "message": f"the identical photo was already submitted with claim(s) {exact[:10]}",
                    "details": {"claims": exact[:50], "sha256": sha}})
    if near:
        out.append({"detector": "reuse", "code": "near_duplicate_photo", "severity": "high",
                    "message": f"a near-identical photo was submitted with claim(s) {near[:10]}",
                    "details": {"claims": near[:50]}})
    issuers = sorted({i for i, f in ext if hamming(f, fp) <= REUSE_DISTANCE})
    if issuers:
        out.append({"detector": "reuse", "code": "photo_in_credit_record", "severity": "high",
                    "message": f"this photo matches one from a confirmed or reused claim at {', '.join(issuers)}",
                    "details": {"issuers": issuers}})
    return out


# The index (and its SQLite connection) belongs to one thread: every index call runs there.
_index_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claimlens-index")
_indexes: dict = {}


def _photo_index(store):
    """This process's handle on the reused-photo index (call on the index thread), or None when off."""
    path = store.settings.data_dir / "index"
    if path not in _indexes:
        try:
            from ..index import PhotoIndex

            _indexes[path] = PhotoIndex(path)
        except Exception as exc:  # the index is an extra: the analysis goes on without it
            log.warning("reused-photo index unavailable: %s", exc)
            _indexes[path] = None
    return _indexes[path]


def _index_findings(store, cid: int, media_id: int, ev) -> list[dict]:
    """Verified matches from claimlens.index (survives crops, mirroring, framing); the photo is then indexed.

    Each process keeps its own in-memory view of the index; the database check above sees every process."""
    if not store.settings.photo_index:
        return []
    with store.db.read() as s:
        own = list(s.execute(select(ClaimMedia.id).where(ClaimMedia.claim_id == cid)).scalars())

    def work():
        idx = _photo_index(store)
        if idx is None:
            return []
        from ..index import reuse_findings

        found = [f.to_dict() for f in reuse_findings(ev, idx, exclude_ids=own)]
        idx.add(media_id, ev, {"label": f"claim {cid} photo {media_id}", "claim_id": cid})
        return found

    try:
        return _index_thread.submit(work).result(timeout=300)
    except Exception as exc:
        log.warning("reused-photo index search failed for claim %s: %s", cid, exc)
        return []


def _decide(store, cid: int) -> None:
    svc = store.service
    now = utcnow()
    with store.db.session() as s:
        c = s.execute(select(Claim).where(Claim.id == cid).with_for_update()).scalar_one()
        if c.state != State.ANALYSING.value:
            return
        analyses = list(s.execute(select(Analysis).where(Analysis.claim_id == cid)).scalars())
        verdicts = [a.verdict for a in analyses]
        c.verdict = worst_verdict(verdicts)
        c.risk = max((a.risk for a in analyses if a.risk is not None), default=None)
        summary = {"verdict": c.verdict, "risk": c.risk, "photos": len(analyses)}
        if c.merchant_answered_at is not None or c.evidence_round > 1:
            svc.apply(s, c, SYSTEM, "reanalysis_done", f"new evidence analysed: {c.verdict}", data=summary)
            return
        hist = credit.history(s, c.buyer_id, now)
        decision = store.settings.auto_approval.decide(c.type, c.amount_cents, verdicts, hist)
        summary["history"] = hist.__dict__
        if decision.approve:
            svc.apply(s, c, SYSTEM, "auto_approve", decision.explanation, data=summary,
                      explanation=decision.reasons, automatic=True)
        else:
            c.merchant_deadline = now + dt.timedelta(hours=store.settings.answer_window_hours)
            summary["merchant_deadline"] = c.merchant_deadline.isoformat()
            svc.apply(s, c, SYSTEM, "analysis_done", decision.explanation, data=summary,
                      explanation=decision.reasons, automatic=True)
