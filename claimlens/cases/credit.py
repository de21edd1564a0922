"""Buyer credit record shared across platforms: keyed hashes and photo fingerprints, signed with Ed25519.

No names, phone numbers or IDs leave the platform: a subject is the HMAC of a normalised identifier under
the consortium key every member holds, so members can match buyers without learning who they are.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .audit import canonical
from .errors import Invalid

SCHEMA = "claimlens.credit/1"
COUNTS = ("claims", "refunds", "confirmed_forgeries", "reused_photos")


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def key_id(public_b64: str) -> str:
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def sign_export(records: list[dict], issuer: str, key: Ed25519PrivateKey, now: dt.datetime | None = None) -> dict:
    pub = public_key_b64(key)
    doc = {
        "schema": SCHEMA,
        "issuer": issuer,
        "created_at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "key_id": key_id(pub),
        "public_key": pub,
        "records": records,
    }
    doc["signature"] = base64.b64encode(key.sign(canonical(doc))).decode()
    return doc


def verify_export(doc: dict, trusted_public_keys: list[str]) -> list[dict]:
    """The records of a signed export, if its signature verifies under one of the trusted keys."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise Invalid(f"not a {SCHEMA} document")
    if doc.get("public_key") not in trusted_public_keys:
        raise Invalid(f"export signed by an untrusted key {doc.get('key_id')!r} (issuer {doc.get('issuer')!r})")
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(doc["public_key"]))
        pub.verify(base64.b64decode(doc.get("signature") or ""), canonical(body))
    except (InvalidSignature, ValueError, TypeError):
        raise Invalid("credit export signature does not verify: altered or not from this issuer") from None
    records = doc.get("records")
    if not isinstance(records, list):
        raise Invalid("credit export has no records list")
    for r in records:
        if not isinstance(r, dict) or not isinstance(r.get("subjects"), list):
            raise Invalid("credit record without subjects")
    return records


def make_record(subjects: list[str], counts: dict, fingerprints: list[str]) -> dict:
    rec = {"subjects": sorted(set(subjects)), "photo_fingerprints": sorted(set(fingerprints))}
    rec.update({k: int(counts.get(k, 0)) for k in COUNTS})
    return rec


def hamming(a: str, b: str) -> int:
    try:
        return bin(int(a, 16) ^ int(b, 16)).count("1")
    except ValueError:
        return 64
