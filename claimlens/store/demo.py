"""Demo data for `make run`: a merchant with products and reference photos, packing evidence, buyers,
analysed claims in several states, and log-ins for every role. Running it twice changes nothing."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from ..cases.workflow import SYSTEM
from .models import Merchant
from .uploads import ingest

DEMO_MERCHANT = "Demo Homeware Ltd"
LOGINS = {  # username: (password, role)
    "admin": ("demo-admin-pass", "admin"),
    "reviewer": ("demo-review-pass", "reviewer"),
    "merchant": ("demo-merchant-pass", "merchant"),
    "buyer": ("demo-buyer-pass", "buyer"),
    "platform": ("demo-platform-pass", "platform"),
}
REPAIR_LOGINS = {"operator": "demo-operator-pass", "technician": "demo-technician-pass"}  # repair desk staff


def _jpeg(arr) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _photos(photos_dir) -> dict[str, bytes]:
    """listing / packing / claim photos: from photos_dir (bench/demo.py writes them) or scikit-image."""
    from skimage import data

    coffee, chelsea = data.coffee(), data.chelsea()
    out = {"listing": _jpeg(coffee), "packing": _jpeg(coffee[20:, 30:]), "claim": _jpeg(coffee[10:, 10:]),
           "ai_base": _jpeg(coffee[::-1, ::-1][40:, 60:]),
           "other_listing": _jpeg(chelsea), "other_claim": _jpeg(chelsea[15:, 20:])}
    if photos_dir:
        d = Path(photos_dir)
        if all((d / f"{n}.jpg").is_file() for n in ("listing", "packing", "claim")):
            out.update({n: (d / f"{n}.jpg").read_bytes() for n in ("listing", "packing", "claim")})
    return out


def _ai_png(base_jpeg: bytes) -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "cracked ceramic mug\nSteps: 28, Sampler: DPM++ 2M, CFG scale: 6, Seed: 7, "
                                "Model hash: 31e35c80fc")
    buf = io.BytesIO()
    Image.open(io.BytesIO(base_jpeg)).convert("RGB").save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def seed_demo(store, photos_dir=None) -> dict:
    svc = store.service
    with store.db.read() as s:
        if s.scalar(select(Merchant.id).where(Merchant.name == DEMO_MERCHANT)) is not None:
            return {"seeded": False, "logins": {u: p for u, (p, _) in LOGINS.items()} | REPAIR_LOGINS}
    st = store.settings

    def up(data: bytes, name: str):
        return ingest(store.blobs, io.BytesIO(data), name, max_bytes=st.max_upload_bytes, max_pixels=st.max_pixels,
                      max_video_seconds=st.max_video_seconds)

    photos = _photos(photos_dir)
    mid = svc.create_merchant(SYSTEM, DEMO_MERCHANT)
    buyer = svc.create_buyer(SYSTEM, "Dana Demo", phone="+44 7700 900123", address="1 Demo Street, London",
                             id_number="DEMO-0001")
    buyer2 = svc.create_buyer(SYSTEM, "Eli Example", phone="+44 7700 900456")
    ids = {}
    for user, (password, role) in LOGINS.items():
        kw = {"merchant_id": mid} if role == "merchant" else {"buyer_id": buyer} if role == "buyer" else {}
        ids[user] = svc.create_user(SYSTEM, user, password, role, **kw)
    merchant = svc.actor_for_user(ids["merchant"])
    platform = svc.actor_for_user(ids["platform"])
    mug = svc.create_product(merchant, "MUG-01", "Ceramic mug, 350 ml")
    svc.add_product_photos(merchant, mug, [up(photos["listing"], "listing.jpg")])
    svc.add_packing(merchant, "DEMO-1001", [up(photos["packing"], "packing.jpg")], product_id=mug)
    poster = svc.create_product(merchant, "PRINT-02", "Cat poster")
    svc.add_product_photos(merchant, poster, [up(photos["other_listing"], "poster.jpg")])
    products = {"mug": mug, "poster": poster}
    from .service import ClaimInput

    claims = {}
    claims["forged_ai"] = svc.create_claim(platform, ClaimInput(
        "DEMO-1001", mug, "refund_only", "18.00", "The mug arrived cracked.", buyer_id=buyer),
        [up(_ai_png(photos["ai_base"]), "crack.png")])[0]
    claims["demo_claim"] = svc.create_claim(platform, ClaimInput(
        "DEMO-1002", mug, "return_and_refund", "18.00", "Chipped rim, see photo.", buyer_id=buyer2),
        [up(photos["claim"], "claim.jpg")])[0]
    claims["small_clean"] = svc.create_claim(platform, ClaimInput(
        "DEMO-1003", poster, "refund_only", "9.90", "Poster torn in transit.", buyer_id=buyer2),
        [up(photos["other_claim"], "torn.jpg")])[0]
    store.jobs.drain()
    repair = _seed_repair(store, mid, buyer, mug)
    return {"seeded": True, "merchant_id": mid, "products": products, "claims": claims, "repair": repair,
            "logins": {u: p for u, (p, _) in LOGINS.items()} | REPAIR_LOGINS}


def _seed_repair(store, mid: int, buyer: int, product: int) -> dict:
    """The shop's repair desk: two districts (North uncovered), a technician, an operator and a phoned-in job."""
    from ..cases.repair import RepairInput

    desk = store.repair
    for code, name in (("CENTRE", "City centre"), ("NORTH", "North")):
        desk.create_district(SYSTEM, code, name, merchant_id=mid)
    tech = desk.create_technician(SYSTEM, "Terry Tech", [{"district": "CENTRE", "travel_minutes": 12}], ["appliance"],
                                  username="technician", password=REPAIR_LOGINS["technician"], merchant_id=mid)
    op = desk.create_operator(SYSTEM, "operator", REPAIR_LOGINS["operator"], merchant_id=mid)
    job = desk.create_request(store.service.actor_for_user(op["user_id"]), RepairInput(
        "Dana Demo", "+44 7700 900123", "1 Demo Street, London", "CENTRE", "The mug warmer base does not heat.",
        skill="appliance", product_id=product), buyer_id=buyer)
    return {"technician_id": tech["id"], "request_id": job["id"]}
