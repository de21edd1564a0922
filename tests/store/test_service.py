"""Claim service on SQLite and PostgreSQL: lifecycle, policy, tenancy, idempotency, deadlines."""

import datetime as dt
import io

import pytest
from sqlalchemy import select, update

from claimlens.cases import Conflict, DeadlinePassed, IllegalTransition, Invalid, NotFound
from claimlens.cases.workflow import SYSTEM
from claimlens.store.models import Claim, Decision, Job
from claimlens.store.service import ClaimInput
from claimlens.store.testing import World, ai_photo, photo
from claimlens.store.uploads import ingest


def up(store, data: bytes, name="p.jpg"):
    st = store.settings
    return ingest(store.blobs, io.BytesIO(data), name, max_bytes=st.max_upload_bytes, max_pixels=st.max_pixels,
                  max_video_seconds=60)


def file_claim(w, who="buyer_x", data=None, order="O-1", amount="20.00", key=None, product=None):
    store = w.store
    inp = ClaimInput(order_ref=order, product_id=product or w.product_a, type="refund_only", amount=amount,
                     reason="arrived broken")
    return store.service.create_claim(w.actors[who], inp, [up(store, data or photo(1))], key)


def test_clean_claim_is_auto_approved_with_explanation(store):
    w = World(store)
    cid, replayed = file_claim(w)
    assert not replayed
    assert store.jobs.drain() == 1
    d = store.service.claim_detail(w.actors["buyer_x"], cid)
    assert d["state"] == "approved" and d["outcome"] == "approved"
    auto = d["decisions"][-1]
    assert auto["automatic"] and auto["action"] == "auto_approve"
    assert any("within the limit" in r for r in auto["explanation"])
    assert [e["action"] for e in d["timeline"]] == ["submit", "start_analysis", "auto_approve"]


def test_forged_claim_goes_to_merchant_then_review(store):
    w = World(store)
    cid, _ = file_claim(w, data=ai_photo(2), amount="1.00")
    store.jobs.drain()
    d = store.service.claim_detail(w.actors["reviewer"], cid)
    assert d["verdict"] == "likely_forged" and d["state"] == "awaiting_merchant"
    assert d["merchant_deadline"] is not None
    assert any("never auto-approved" in r for r in d["decisions"][-1]["explanation"])
    with pytest.raises(NotFound):  # another merchant does not see it
        store.service.act(w.actors["merchant_b"], cid, "merchant_dispute", "not ours")
    store.service.act(w.actors["merchant_a"], cid, "merchant_dispute", "the photo is AI generated")
    with pytest.raises(IllegalTransition):
        store.service.act(w.actors["merchant_a"], cid, "merchant_accept")
    store.service.act(w.actors["reviewer"], cid, "reject", "generated image", forgery_confirmed=True)
    assert store.service.claim_detail(w.actors["buyer_x"], cid)["outcome"] == "rejected"
    from claimlens.store.credit import buyer_record

    assert buyer_record(store, w.actors["admin"], w.buyer_x)["confirmed_forgeries"] == 1
    # the buyer's next small, clean claim is not auto-approved any more
    cid2, _ = file_claim(w, order="O-2", data=photo(3))
    store.jobs.drain()
    d2 = store.service.claim_detail(w.actors["buyer_x"], cid2)
    assert d2["state"] == "awaiting_merchant"
    assert any("confirmed forgery" in r for r in d2["decisions"][-1]["explanation"])


def test_reused_photo_is_flagged(store):
    w = World(store)
    data = photo(4)
    c1, _ = file_claim(w, data=data, order="O-1")
    store.jobs.drain()
    c2, _ = file_claim(w, who="buyer_y", data=data, order="O-9")
    store.jobs.drain()
    d = store.service.claim_detail(w.actors["admin"], c2)
    a = d["media"][0]["analysis"]
    assert a["reused"] and d["state"] == "awaiting_merchant"
    assert any(f["code"] == "reused_photo" and c1 in f["details"]["claims"] for f in a["document"]["findings"])


def test_idempotency_key_and_duplicate_order(store):
    w = World(store)
    cid, r1 = file_claim(w, key="abc")
    cid2, r2 = file_claim(w, key="abc")
    assert (cid2, r1, r2) == (cid, False, True)
    with pytest.raises(Conflict, match="different request"):
        file_claim(w, key="abc", amount="99.00")
    with pytest.raises(Conflict, match="still open"):
        file_claim(w, order="O-1")
    with store.db.read() as s:
        assert s.scalar(select(Job.id).where(Job.claim_id == cid)) is not None
        assert len(s.execute(select(Claim)).all()) == 1


def test_merchant_deadline(store):
    w = World(store)
    cid, _ = file_claim(w, data=ai_photo(5))
    store.jobs.drain()
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with store.db.session() as s:
        s.execute(update(Claim).where(Claim.id == cid).values(merchant_deadline=past))
    with pytest.raises(DeadlinePassed):
        store.service.act(w.actors["merchant_a"], cid, "merchant_accept")
    assert store.service.expire_deadlines() == 1
    d = store.service.claim_detail(w.actors["reviewer"], cid)
    assert d["state"] == "in_review" and d["timeline"][-1]["action"] == "merchant_window_expired"


def test_more_evidence_round_is_reanalysed(store):
    w = World(store)
    cid, _ = file_claim(w, data=ai_photo(6))
    store.jobs.drain()
    store.service.act(w.actors["merchant_a"], cid, "merchant_dispute", "fake")
    store.service.act(w.actors["reviewer"], cid, "request_evidence", "send a photo of the label")
    with pytest.raises(NotFound):
        store.service.add_evidence(w.actors["buyer_y"], cid, [up(store, photo(7))])
    store.service.add_evidence(w.actors["buyer_x"], cid, [up(store, photo(7))])
    store.jobs.drain()
    d = store.service.claim_detail(w.actors["reviewer"], cid)
    assert d["state"] == "in_review"
    assert [m["round"] for m in d["media"]] == [1, 2] and all(m["analysis"] for m in d["media"])


def test_appeal_and_final(store):
    w = World(store)
    cid, _ = file_claim(w)
    store.jobs.drain()  # auto-approved
    with pytest.raises(Exception):
        store.service.act(w.actors["buyer_x"], cid, "appeal", "I won?")
    store.service.act(w.actors["merchant_a"], cid, "appeal", "the item was never damaged")
    store.service.act(w.actors["admin"], cid, "overturn", "merchant proved delivery intact")
    d = store.service.claim_detail(w.actors["buyer_x"], cid)
    assert d["state"] == "final" and d["outcome"] == "rejected"
    with store.db.read() as s:
        actors = [x.actor for x in s.execute(select(Decision).where(Decision.claim_id == cid)).scalars()]
    assert actors[0] == "system" and actors[-1].startswith("admin:admin#")


def test_reused_photo_index_finds_a_mirrored_crop(tmp_path, db_url):
    """With claimlens.index on, a mirrored, cropped copy of another claim's photo is reported."""
    pytest.importorskip("claimlens.index")
    import numpy as np

    from claimlens.store import Store
    from claimlens.store.testing import jpeg_bytes, make_settings, photo_array

    st = Store(make_settings(tmp_path, db_url, photo_index=True))
    try:
        w = World(st)
        base = photo_array(0, (300, 400))
        c1, _ = file_claim(w, data=jpeg_bytes(base), order="O-1")
        st.jobs.drain()
        copy = np.ascontiguousarray(base[20:280, 30:370][:, ::-1])
        c2, _ = file_claim(w, who="buyer_y", data=jpeg_bytes(copy, 80), order="O-2")
        st.jobs.drain()
        a = st.service.claim_detail(w.actors["admin"], c2)["media"][0]["analysis"]
        hits = [f for f in a["document"]["findings"] if f["detector"] != "reuse" or f["code"] == "reused_photo"]
        assert a["reused"], a["document"]["findings"]
        assert any(m["meta"]["claim_id"] == c1 for f in hits for m in f.get("details", {}).get("matches", []))
    finally:
        st.close()


def test_concurrent_writers_keep_the_audit_chain(store):
    """Threads filing claims and creating merchants at once: every entry is chained, none is lost."""
    import threading

    from claimlens.store import audit

    w = World(store)
    errors = []

    def work(k):
        try:
            for i in range(5):
                file_claim(w, who="buyer_x" if k % 2 else "buyer_y", order=f"T-{k}-{i}", data=photo(k))
                store.service.create_merchant(SYSTEM, f"m-{k}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    with store.db.read() as s:
        r = audit.verify(s)
        assert r.ok, r
        n_claims = len(s.execute(select(Claim.id)).all())
    assert n_claims == 30
    assert r.checked >= 60


def test_analysis_that_keeps_failing_goes_to_a_reviewer(store, monkeypatch):
    from claimlens.store import analysis

    w = World(store)
    cid, _ = file_claim(w)

    def boom(*a, **k):
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(analysis, "_references", boom)
    with store.db.session() as s:
        s.execute(update(Job).where(Job.claim_id == cid).values(max_attempts=2))
    assert store.jobs.drain() == 1  # first attempt fails, the retry waits for its back-off
    with store.db.session() as s:
        s.execute(update(Job).where(Job.claim_id == cid).values(lease_until=None))
    store.jobs.drain()
    d = store.service.claim_detail(w.actors["reviewer"], cid)
    assert d["state"] == "in_review" and d["timeline"][-1]["action"] == "analysis_failed"
    with store.db.read() as s:
        job = s.execute(select(Job).where(Job.claim_id == cid)).scalar_one()
    assert job.state == "failed" and job.attempts == 2 and "detector crashed" in job.error


def test_repair_desk_roles_are_added_at_their_desk(store):
    for role in ("operator", "technician"):
        with pytest.raises(Invalid, match=f"/api/repair/{role}s"):
            store.service.create_user(SYSTEM, f"new-{role}", "long-enough-pass", role)
