import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from claimlens.cases.credit import make_record, public_key_b64, sign_export, verify_export
from claimlens.cases.errors import Invalid
from claimlens.cases.identity import keyed_hash, normalise_id, normalise_phone

KEY = b"k" * 32


def test_normalisation_makes_formats_equal():
    assert normalise_phone("+44 (0)20 7946-0958") == normalise_phone("0044 20 7946 0958") == "+442079460958"
    assert normalise_id("ab-123 456") == "AB123456"
    assert keyed_hash(KEY, "phone", "+44 20 7946 0958") == keyed_hash(KEY, "phone", "0044-20-7946-0958")
    assert keyed_hash(KEY, "phone", "+44 20 7946 0958") != keyed_hash(b"other" * 7, "phone", "+44 20 7946 0958")
    with pytest.raises(Invalid):
        normalise_phone("12")


def test_signed_export_verifies_and_detects_tampering():
    key = Ed25519PrivateKey.generate()
    rec = make_record([keyed_hash(KEY, "phone", "+4915112345678")], {"refunds": 4, "confirmed_forgeries": 1}, ["ab" * 8])
    doc = sign_export([rec], "shop-a", key)
    assert "+4915112345678" not in str(doc)
    assert verify_export(doc, [public_key_b64(key)])[0]["confirmed_forgeries"] == 1
    bad = copy.deepcopy(doc)
    bad["records"][0]["confirmed_forgeries"] = 0
    with pytest.raises(Invalid, match="signature"):
        verify_export(bad, [public_key_b64(key)])
    other = Ed25519PrivateKey.generate()
    with pytest.raises(Invalid, match="untrusted"):
        verify_export(doc, [public_key_b64(other)])
    forged = sign_export([rec], "shop-a", other)
    forged["public_key"] = doc["public_key"]  # claims to be shop-a, signed by someone else
    with pytest.raises(Invalid, match="signature"):
        verify_export(forged, [public_key_b64(key)])
