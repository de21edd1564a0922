"""Appending to and verifying the hash-chained audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ..cases.audit import HASHED_FIELDS, ChainCheck, entry_hash, verify_chain
from .models import AuditEntry, AuditHead


def append(session, *, actor: str, action: str, claim_id=None, from_state=None, to_state=None, reason: str = "",
           data: dict | None = None, now: dt.datetime | None = None) -> AuditEntry:
    """Add an entry in the caller's transaction. Locking the head row serialises appenders."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    e = {"seq": head.seq + 1, "at": at, "actor": actor, "action": action, "claim_id": claim_id,
         "from_state": from_state, "to_state": to_state, "reason": reason or "", "data": data}
    h = entry_hash(head.hash, e)
    entry = AuditEntry(prev_hash=head.hash, hash=h, **e)
    session.add(entry)
    head.seq, head.hash = e["seq"], h
    return entry


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
