import numpy as np
import pytest

from claimlens.index import transforms as T
from claimlens.index.fingerprint import Fingerprint, fingerprint, trim_borders
from claimlens.index.verify import verify


def hamming(a, b) -> int:
    return int(np.unpackbits(a ^ b).sum())


@pytest.fixture(scope="module")
def indexed(photos):
    return {n: fingerprint(im) for n, im in photos.items()}


@pytest.mark.parametrize("name", list(T.TRANSFORMS))
def test_every_transformation_verifies_against_its_original(photos, indexed, name):
    rng = np.random.default_rng(7)
    for photo, im in photos.items():
        q = fingerprint(T.apply(name, im, rng), query=True)
        tr = verify(q, indexed[photo])
        assert tr is not None, f"{name} of {photo} not verified"
        assert tr.mirrored == (name == "mirror")
        if name == "crop50":
            assert 0.35 < tr.crop < 0.65
        if name == "resize":
            assert 0.4 < tr.scale < 0.6
        if name == "rotate5":
            assert 3 < abs(tr.rotation) < 7


@pytest.mark.parametrize("name", ["reencode", "resize", "mirror", "border"])
def test_global_hash_survives_whole_photo_edits(photos, indexed, name):
    for photo, im in photos.items():
        q = fingerprint(T.apply(name, im))
        d = min(hamming(q.global_hash, indexed[photo].global_hash), hamming(q.mirror_hash, indexed[photo].global_hash))
        assert d <= 12, f"{name} of {photo}: {d} bits"


def test_unrelated_photos_do_not_verify(photos, indexed):
    names = list(photos)
    for a in names:
        q = fingerprint(photos[a], query=True)
        for b in names:
            if a != b:
                assert verify(q, indexed[b]) is None, f"{a} matched {b}"


def test_border_trim_finds_a_frame(photos):
    framed = T.border(photos["coffee"], frac=0.1)
    t, b, l, r = trim_borders(framed[..., 0])
    p = int(max(photos["coffee"].shape[:2]) * 0.1)
    assert min(t, b, l, r) >= p - 1 and max(t, b, l, r) <= p + 2


def test_fingerprint_round_trip(photos):
    fp = fingerprint(photos["chelsea"])
    back = Fingerprint.from_bytes(fp.to_bytes())
    assert np.array_equal(back.global_hash, fp.global_hash)
    assert np.array_equal(back.keypoints.desc, fp.keypoints.desc)
    assert back.trim == fp.trim and back.shape == fp.shape


@pytest.mark.shared_data
def test_small_real_photos_verify_after_crop_and_mirror(shared_data):
    paths = sorted((shared_data / "multiview/ukbench_kongwang01/dataset").glob("*.jpg"))[:24:4]
    if not paths:
        pytest.skip("ukbench photos not found")
    rng = np.random.default_rng(3)
    for p in paths:
        im = T.decode(p.read_bytes())
        ref = fingerprint(im)
        for name in ("crop50", "mirror"):
            assert verify(fingerprint(T.apply(name, im, rng), query=True), ref) is not None, f"{name} {p.name}"
