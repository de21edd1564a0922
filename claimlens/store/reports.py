"""Assembling a claim's evidence report: photos (as embedded thumbnails), hashes, findings, heatmaps,
references, decisions and the audit timeline."""

from __future__ import annotations

import base64
import datetime as dt
import io

from PIL import Image
from sqlalchemy import select

from .. import __version__
from ..cases.report import render_html, render_pdf
from ..cases.workflow import Actor
from . import audit
from .models import AuditHead, Buyer, Claim, Merchant, Order, PackingEvidence, Product, ProductPhoto

THUMB = 640


def _thumb(path, long_side: int = THUMB) -> str | None:
    try:
        with Image.open(path) as im:
            im.draft("RGB", (long_side, long_side))
            im = im.convert("RGB")
            im.thumbnail((long_side, long_side))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:
        return None


def report_data(store, actor: Actor, claim_id: int) -> dict:
    detail = store.service.claim_detail(actor, claim_id)  # also the access check
    media = []
    for m in detail["media"]:
        a = m["analysis"]
        item = dict(m)
        item["image"] = _thumb(store.blobs.path(m["sha256"])) if m["kind"] != "video" else None
        item["heatmap"] = _thumb(store.blobs.path(a["heatmap_sha256"])) if a and a.get("heatmap_sha256") else None
        item["findings"] = (a["document"].get("findings") or []) if a else []
        item["references"] = (a["document"].get("references") or []) if a else []
        media.append(item)
    with store.db.read() as s:
        c = s.get(Claim, claim_id)
        merchant = s.get(Merchant, c.merchant_id).name
        product = s.get(Product, c.product_id)
        buyer = s.get(Buyer, c.buyer_id).display_name
        refs = [{"kind": "product reference", "filename": p.filename, "sha256": p.blob_sha} for p in s.execute(
            select(ProductPhoto).where(ProductPhoto.product_id == c.product_id).order_by(ProductPhoto.id)).scalars()]
        order_id = c.order_id or s.scalar(select(Order.id).where(Order.merchant_id == c.merchant_id,
                                                                 Order.order_ref == c.order_ref))
        if order_id is not None:
            refs += [{"kind": f"packing {p.kind}", "filename": p.filename, "sha256": p.blob_sha} for p in s.execute(
                select(PackingEvidence).where(PackingEvidence.order_id == order_id)
                .order_by(PackingEvidence.id)).scalars()]
        head = s.get(AuditHead, 1)
        entries = {e.seq: e.hash for e in audit.claim_entries(s, claim_id)}
    return {"claim": detail, "media": media, "decisions": detail["decisions"], "timeline": detail["timeline"],
            "merchant": merchant, "product": f"{product.name} ({product.sku})", "buyer": buyer, "references": refs,
            "chain_head": (head.seq, head.hash), "entry_hashes": entries, "platform": store.settings.platform_name, "version": __version__,
            "requested_by": actor.label,
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def claim_report_html(store, actor: Actor, claim_id: int) -> str:
    return render_html(report_data(store, actor, claim_id))


def claim_report_pdf(store, actor: Actor, claim_id: int) -> bytes:
    return render_pdf(claim_report_html(store, actor, claim_id))
