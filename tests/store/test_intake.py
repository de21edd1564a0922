"""Claim intake under concurrency on SQLite and PostgreSQL: claims that arrive together are written in one
transaction (group commit); a duplicate in the batch must not cost the others their claim, and the rows and the
audit chain must be the same as one by one."""

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from claimlens.cases import Conflict
from claimlens.store import audit
from claimlens.store.models import AuditEntry, Blob, Claim, ClaimMedia, IdempotencyKey, Job
from claimlens.store.service import ClaimInput
from claimlens.store.testing import World, photo
from claimlens.store.uploads import ingest


def test_concurrent_claims_with_duplicates_in_one_batch(store):
    import io

    w = World(store)
    st = store.settings
    files = [ingest(store.blobs, io.BytesIO(photo(i % 4)), f"p{i}.jpg", max_bytes=st.max_upload_bytes,
                    max_pixels=st.max_pixels, max_video_seconds=60) for i in range(24)]
    start = threading.Barrier(24)

    def one(i):
        # 0-15: distinct orders and keys; 16-19: the same key "dup" (one request); 20-23: the same order, no key
        order, key = (f"C-{i}", f"k-{i}") if i < 16 else ("C-dup", "dup") if i < 20 else ("C-same", None)
        inp = ClaimInput(order_ref=order, product_id=w.product_a, type="refund_only", amount="5.00", reason="r")
        start.wait()
        try:
            return store.service.submit_claim(w.actors["buyer_x"], inp, [files[i if i < 16 else 16]], key)
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(one, range(24)))
    assert store.service._intake.largest_batch > 1  # they were written together
    made = results[:16]
    assert all(not isinstance(r, Exception) and r[1] is False for r in made)
    dup = results[16:20]
    assert len({r[0] for r in dup}) == 1 and sorted(r[1] for r in dup) == [False, True, True, True]
    same = results[20:]
    assert sum(1 for r in same if isinstance(r, Conflict)) == 3 and "still open" in str(
        next(r for r in same if isinstance(r, Conflict)))
    ok = [r for r in same if not isinstance(r, Exception)]
    assert len(ok) == 1 and ok[0][1] is False

    ids = {r[0] for r in made} | {dup[0][0], ok[0][0]}
    with store.db.read() as s:
        assert set(s.execute(select(Claim.id)).scalars()) == ids
        assert s.scalar(select(func.count()).select_from(Job).where(Job.claim_id.in_(ids))) == 18
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 17
        assert s.scalar(select(func.count()).select_from(ClaimMedia)) == 18
        assert s.scalar(select(func.count()).select_from(Blob)) == 4
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "submit")) == 18
        assert audit.verify(s).ok
        # the rows read back like rows the ORM wrote: aware UTC times, JSON payloads
        c = s.get(Claim, min(ids))
        assert c.created_at.tzinfo is not None and c.state == "submitted" and c.version == 1
        assert s.execute(select(Job.payload).where(Job.claim_id == c.id)).scalar_one() == {"claim_id": c.id}
    # the claim as the API returns it equals what a read shows
    cid, _, created = made[0]
    detail = store.service.claim_detail(w.actors["buyer_x"], cid)
    for k in ("id", "order_id", "amount", "state", "created_at", "version"):
        assert created[k] == detail[k]
    assert [m["sha256"] for m in created["media"]] == [m["sha256"] for m in detail["media"]]
    # the queued analyses run
    assert store.jobs.drain() == 18
