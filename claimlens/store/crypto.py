"""Personal data at rest: AES-256-GCM under a key ring (key id stored with each ciphertext), and keyed hashes."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..cases.identity import keyed_hash

PREFIX = "v1"


class DecryptError(Exception):
    pass


class KeyRing:
    """keys: 'kid:base64key,kid:base64key' - the first is current; the others still decrypt."""

    def __init__(self, spec: str):
        self.keys: dict[str, AESGCM] = {}
        self.current: str | None = None
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            kid, _, b64 = part.partition(":")
            raw = base64.b64decode(b64)
            if len(raw) not in (16, 24, 32) or not kid or "$" in kid:
                raise ValueError(f"data key {kid!r} must be 16/24/32 bytes, base64")
            self.keys[kid] = AESGCM(raw)
            self.current = self.current or kid
        if self.current is None:
            raise ValueError("no data key configured")

    def encrypt(self, plaintext: str | None, aad: str) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(12)
        ct = self.keys[self.current].encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{PREFIX}${self.current}${base64.b64encode(nonce + ct).decode()}"

    def key_id(self, token: str) -> str:
        return token.split("$")[1]

    def decrypt(self, token: str | None, aad: str) -> str | None:
        if token is None:
            return None
        try:
            prefix, kid, b64 = token.split("$")
        except ValueError:
            raise DecryptError("malformed ciphertext") from None
        if prefix != PREFIX or kid not in self.keys:
            raise DecryptError(f"no key {kid!r} to decrypt with")
        raw = base64.b64decode(b64)
        try:
            return self.keys[kid].decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except InvalidTag:
            raise DecryptError("ciphertext does not authenticate (altered, or wrong key)") from None

    def needs_rotation(self, token: str | None) -> bool:
        return token is not None and self.key_id(token) != self.current


class Hasher:
    """Keyed hash for search: equal normalised identifiers give equal hashes, guessing needs the key."""

    def __init__(self, key_b64: str):
        self.key = base64.b64decode(key_b64)

    def __call__(self, kind: str, value: str | None) -> str | None:
        return None if not value else keyed_hash(self.key, kind, value)


def reencrypt_rows(db, keyring: KeyRing, model, fields, batch: int = 500) -> int:
    """Re-encrypt under the current key every ciphertext of `model` not under it; fields: (column, aad) pairs.
    Works in batches by id, one transaction each; returns how many values changed."""
    from sqlalchemy import select

    changed = last = 0
    while True:
        with db.session() as s:
            rows = s.execute(select(model).where(model.id > last).order_by(model.id).limit(batch)).scalars().all()
            if not rows:
                return changed
            for row in rows:
                for col, aad in fields:
                    tok = getattr(row, col)
                    if keyring.needs_rotation(tok):
                        setattr(row, col, keyring.encrypt(keyring.decrypt(tok, aad), aad))
                        changed += 1
            last = rows[-1].id
