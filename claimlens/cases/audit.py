"""The audit chain: each entry's hash covers the previous hash, so edits and deletions show."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "at", "actor", "action", "claim_id", "from_state", "to_state", "reason", "data")


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(prev_hash: str, entry: dict) -> str:
    body = {k: entry.get(k) for k in HASHED_FIELDS}
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(body)).hexdigest()


@dataclass
class ChainCheck:
    ok: bool
    checked: int
    first_bad: int | None = None  # seq of the first entry that does not verify
    reason: str = ""


def verify_chain(entries, head: tuple[int, str] | None = None) -> ChainCheck:
    """entries: dicts in seq order with HASHED_FIELDS, prev_hash and hash. head: the stored (seq, hash) of the tip."""
    prev, expect_seq, n = GENESIS, 1, 0
    for e in entries:
        n += 1
        if e["seq"] != expect_seq:
            return ChainCheck(False, n, expect_seq, f"entry {expect_seq} is missing (next is {e['seq']})")
        if e["prev_hash"] != prev:
            return ChainCheck(False, n, e["seq"], "previous-hash link broken")
        if entry_hash(prev, e) != e["hash"]:
            return ChainCheck(False, n, e["seq"], "entry content does not match its hash")
        prev, expect_seq = e["hash"], expect_seq + 1
    if head is not None and (head[0] != expect_seq - 1 or (head[0] and head[1] != prev)):
        return ChainCheck(False, n, expect_seq, f"chain ends at {expect_seq - 1} but the head says {head[0]}: tail deleted")
    return ChainCheck(True, n)
