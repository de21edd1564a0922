"""C2PA detector on the c2pa-rs fixtures: AI source types, invalid manifests, offline reading, no crashes."""

import pytest

from claimlens.forensics.base import run_detector
from claimlens.forensics.detectors.c2pa_manifest import OFFLINE_SETTINGS, C2paDetector, read_manifest_store
from claimlens.forensics.evidence import Evidence

FX = "c2pa-rs/sdk/tests/fixtures"


def run(path):
    return run_detector(C2paDetector(), Evidence.from_path(path))


def by_code(result):
    return {f.code: f for f in result.findings}


def test_firefly_then_photoshop(shared_data):
    r = run(shared_data / FX / "ocsp.jpg")
    f = by_code(r)
    assert f["c2pa_ai_generated"].severity == "critical"
    assert f["c2pa_ai_generated"].details["digital_source_type"] == "trainedAlgorithmicMedia"
    assert f["c2pa_ai_generated"].details["action"] == "c2pa.created"
    assert "Firefly" in f["c2pa_ai_generated"].details["software"]
    assert f["c2pa_ai_edited"].severity == "high"
    assert f["c2pa_ai_edited"].details["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia"
    assert "Photoshop" in f["c2pa_manifest"].details["claim_generator"]
    assert f["c2pa_manifest"].details["validation_state"] == "Valid"
    # The Adobe signer is not on a trust list here: informational only.
    assert f["c2pa_untrusted_signer"].severity == "info"
    assert r.score == pytest.approx(0.92)


def test_pixels_changed_after_signing(shared_data):
    f = by_code(run(shared_data / FX / "XCA.jpg"))
    assert f["c2pa_edited_after_signing"].severity == "high"
    assert "assertion.dataHash.mismatch" in f["c2pa_edited_after_signing"].details["codes"]
    assert f["c2pa_manifest"].details["validation_state"] == "Invalid"
    # The same claim without the pixel change validates.
    ok = by_code(run(shared_data / FX / "CA.jpg"))
    assert "c2pa_edited_after_signing" not in ok and "c2pa_invalid" not in ok
    assert ok["c2pa_manifest"].details["validation_state"] == "Valid"


def test_other_invalid_manifests(shared_data):
    f = by_code(run(shared_data / FX / "E-sig-CA.jpg"))
    assert f["c2pa_invalid"].severity == "medium" and "claimSignature.mismatch" in f["c2pa_invalid"].details["codes"]
    f = by_code(run(shared_data / FX / "CIE-sig-CA.jpg"))
    assert f["c2pa_ingredient_invalid"].severity == "low"
    assert "claimSignature.mismatch" in f["c2pa_ingredient_invalid"].details["codes"]
    f = by_code(run(shared_data / FX / "no_alg.jpg"))
    assert f["c2pa_unreadable"].severity == "low"


def test_generator_and_source_types(shared_data):
    f = by_code(run(shared_data / FX / "C.jpg"))
    assert f["c2pa_manifest"].details["claim_generator"].startswith("make_test_images")
    assert f["c2pa_ai_generated"].details["digital_source_type"] == "algorithmicMedia"
    f = by_code(run(shared_data / FX / "C_with_CAWG_data.jpg"))
    actions = f["c2pa_actions"].details["actions"]
    assert any(a["source_type"] and a["source_type"].endswith("digitalCapture") for a in actions)
    assert all(x.severity == "info" for x in f.values())  # a signed camera capture is not suspicious
    f = by_code(run(shared_data / "c2pa-rs/cli/tests/fixtures/verify.jpeg"))
    assert f["c2pa_edited"].severity == "medium" and "Photoshop" in f["c2pa_manifest"].details["claim_generator"]


def test_remote_manifest_is_reported_not_fetched(shared_data):
    data = (shared_data / FX / "cloud.jpg").read_bytes()
    store, error = read_manifest_store(data, "image/jpeg")
    assert store is None and "could not fetch" not in error  # fetching is switched off, not attempted
    f = by_code(run(shared_data / FX / "cloud.jpg"))
    assert f["c2pa_remote_manifest"].severity == "info"
    assert f["c2pa_remote_manifest"].details["url"].startswith("https://cai-manifests.adobe.com/")
    f = by_code(run(shared_data / FX / "libpng-test_with_url.png"))
    assert f["c2pa_remote_manifest"].details["url"] == "http://localhost:5000/libpng-test.c2pa"


def test_host_allow_list_blocks_fetching_on_its_own(shared_data):
    import io

    import c2pa

    settings = {**OFFLINE_SETTINGS, "verify": {"remote_manifest_fetch": True, "ocsp_fetch": False}}
    ctx = c2pa.Context.from_dict(settings)
    with pytest.raises(c2pa.C2paError, match="not permitted"):
        c2pa.Reader("image/jpeg", io.BytesIO((shared_data / FX / "cloud.jpg").read_bytes()), None, ctx)


def test_every_fixture_runs_and_plain_files_say_nothing(shared_data):
    files = sorted(p for p in (shared_data / "c2pa-rs").rglob("*") if p.suffix.lower() in
                   (".jpg", ".jpeg", ".png", ".webp", ".avif", ".heif", ".tiff"))
    assert len(files) >= 30
    plain = {"no_manifest.jpg", "IMG_0003.jpg", "P1000827.jpg", "earth_apollo17.jpg", "libpng-test.png",
             "sample1.png", "sample1.webp", "sample1.avif", "sample1.heif", "test.tiff"}
    seen = set()
    for p in files:
        r = run(p)
        assert not r.reason.startswith("internal error"), (p.name, r.reason)
        if p.name in plain:
            seen.add(p.name)
            assert r.applicable and r.findings == [], p.name
    assert seen == plain
