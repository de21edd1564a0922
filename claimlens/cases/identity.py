"""Normalised customer identifiers and keyed hashes of them (search and cross-platform matching)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from .errors import Invalid


def normalise_phone(phone: str) -> str:
    """'+44 (0)20 7946-0958' and '0044 20 7946 0958' both become '+442079460958'."""
    s = unicodedata.normalize("NFKC", phone or "").strip()
    s = s.replace("(0)", "")
    plus = s.startswith("+")
    digits = re.sub(r"\D", "", s)
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if len(digits) < 5:
        raise Invalid("phone number has too few digits")
    return ("+" if plus else "") + digits


def normalise_id(id_number: str) -> str:
    s = unicodedata.normalize("NFKC", id_number or "").upper()
    s = re.sub(r"[\s\-./]", "", s)
    if len(s) < 4:
        raise Invalid("ID number is too short")
    return s


NORMALISERS = {"phone": normalise_phone, "id": normalise_id}


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of the normalised value; without the key nobody can test guesses."""
    norm = NORMALISERS[kind](value)
    return hmac.new(key, f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()
