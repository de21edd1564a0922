"""Appending to and verifying the hash-chained audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select

from ..cases.audit import HASHED_FIELDS, ChainCheck, entry_hash, verify_chain
from .models import AuditEntry, AuditHead


_head = AuditHead.__table__
LOCK_HEAD = select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update()
INSERT_ENTRY = AuditEntry.__table__.insert()
MOVE_HEAD = _head.update().where(_head.c.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash"))


def next_entry(seq: int, prev_hash: str, *, actor: str, action: str, claim_id=None, from_state=None, to_state=None,
               reason: str = "", data: dict | None = None, now: dt.datetime | None = None) -> dict:
    """The row of entry `seq` chained after `prev_hash` (what `append` and the batch intake write)."""
    at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    e = {"seq": seq, "at": at, "actor": actor, "action": action, "claim_id": claim_id,
         "from_state": from_state, "to_state": to_state, "reason": reason or "", "data": data}
    return dict(e, prev_hash=prev_hash, hash=entry_hash(prev_hash, e))


def append(session, *, actor: str, action: str, claim_id=None, from_state=None, to_state=None, reason: str = "",
           data: dict | None = None, now: dt.datetime | None = None) -> dict:
    """Add an entry in the caller's transaction. Locking the head row serialises appenders."""
    conn = session.connection()
    head_seq, head_hash = conn.execute(LOCK_HEAD).one()
    e = next_entry(head_seq + 1, head_hash, actor=actor, action=action, claim_id=claim_id, from_state=from_state,
                   to_state=to_state, reason=reason, data=data, now=now)
    conn.execute(INSERT_ENTRY, e)
    conn.execute(MOVE_HEAD, {"seq": e["seq"], "hash": e["hash"]})
    return e


def entry_dict(e: AuditEntry) -> dict:
    d = {k: getattr(e, k) for k in HASHED_FIELDS}
    d.update(prev_hash=e.prev_hash, hash=e.hash)
    return d


def verify(session, batch: int = 5000) -> ChainCheck:
    head = session.get(AuditHead, 1)

    def rows():
        last = 0
        while True:
            chunk = session.execute(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            ).scalars().all()
            if not chunk:
                return
            for e in chunk:
                yield entry_dict(e)
            last = chunk[-1].seq
            session.expunge_all()

    return verify_chain(rows(), None if head is None else (head.seq, head.hash))


def claim_entries(session, claim_id: int) -> list[AuditEntry]:
    return list(session.execute(
        select(AuditEntry).where(AuditEntry.claim_id == claim_id).order_by(AuditEntry.seq)).scalars())
