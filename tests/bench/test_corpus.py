"""The benchmark corpus generator and the bundled demo."""

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus, demo  # noqa: E402
from bench.corpus import TRANSFORMS, family, generate, plan_transform, render_claim  # noqa: E402
from bench.damage import BLENDS, DAMAGES  # noqa: E402


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def small_corpus():
    return list(generate(seed=3, n=40, sources="skimage"))


def test_same_seed_same_bytes():
    a = list(generate(seed=11, n=12, sources="skimage"))
    b = list(generate(seed=11, n=12, sources="skimage"))
    for x, y in zip(a, b):
        assert x.case_id == y.case_id
        assert x.claim == y.claim
        assert x.references == y.references
        assert (x.mask is None) == (y.mask is None)
        if x.mask is not None:
            assert np.array_equal(x.mask, y.mask)
    c = list(generate(seed=12, n=12, sources="skimage"))
    assert [x.claim for x in a] != [x.claim for x in c]


def test_every_transform_damage_and_blend_appears(small_corpus):
    fams = {family(c.transform) for c in small_corpus}
    assert set(TRANSFORMS) <= fams
    assert "no_reference" in fams
    assert set(DAMAGES) <= {c.damage for c in small_corpus if c.edited}
    assert set(BLENDS) <= {c.blend for c in small_corpus if c.edited}
    # each transform family has forged cases, and unedited ones exist too
    assert {family(c.transform) for c in small_corpus if c.edited} >= set(TRANSFORMS)
    assert any(not c.edited for c in small_corpus)
    noref = [c for c in small_corpus if c.transform == "no_reference" and c.edited]
    assert {c.blend for c in noref} == set(BLENDS)


def test_case_fields_are_consistent(small_corpus):
    for c in small_corpus:
        img = decode(c.claim)
        assert len(c.references) == len(c.reference_relations)
        assert set(c.reference_relations) <= {"derived", "same_item", "unrelated"}
        for r in c.references:
            assert decode(r).ndim == 3
        if c.edited:
            assert c.mask is not None and c.mask.dtype == bool
            assert c.mask.shape == img.shape[:2]
            assert 0 < c.mask.mean() < 0.5
            assert c.damage in DAMAGES and c.blend in BLENDS
        else:
            assert c.mask is None and c.damage is None and c.blend is None
        if c.transform == "no_reference":
            assert "derived" not in c.reference_relations
        elif not c.edited and "derived" in c.reference_relations:
            assert c.reference_relations[0] == "derived"


def _diff_inside(coffee, fam, damage, blend, seed):
    rng = np.random.default_rng(seed)
    h, w = coffee.shape[:2]
    p = plan_transform(fam, h, w, rng)
    forged, mask = render_claim(coffee, p, damage, blend, rng)
    clean, none = render_claim(coffee, p)
    assert none is None
    a, b = decode(forged).astype(np.int16), decode(clean).astype(np.int16)
    assert a.shape == b.shape and mask.shape == a.shape[:2]
    diff = np.abs(a - b).max(axis=2).astype(np.float64)
    # JPEG blocks (16 px with chroma subsampling) that touch the edit change a little too
    near = cv2.dilate(mask.astype(np.uint8), np.ones((33, 33), np.uint8)) > 0
    share = diff[near].sum() / max(diff.sum(), 1e-9)
    inside = diff[mask].mean()
    outside = diff[~near].mean() if (~near).any() else 0.0
    return share, inside, outside


@pytest.mark.parametrize("fam", TRANSFORMS)
def test_mask_follows_every_transform(coffee, fam):
    share, inside, outside = _diff_inside(coffee, fam, "stain", "feather_alpha", 5)
    assert share > 0.9, (fam, share)
    assert inside > 5 * max(outside, 0.2), (fam, inside, outside)


@pytest.mark.parametrize("damage", DAMAGES)
def test_mask_covers_each_damage(coffee, damage):
    for k, blend in enumerate(BLENDS):
        share, inside, outside = _diff_inside(coffee, "jpeg", damage, blend, 100 + k)
        assert share > 0.9, (damage, blend, share)
        assert inside > 3 * max(outside, 0.2), (damage, blend, inside, outside)


def test_shared_sources_give_independent_pairs(shared_data):
    cases = list(generate(seed=0, n=20, sources="all"))
    rels = {r for c in cases for r in c.reference_relations}
    assert {"derived", "same_item", "unrelated"} <= rels
    assert any(c.source.startswith("solidus:") for c in cases)


def test_demo_writes_three_decodable_files(tmp_path, monkeypatch):
    def no_shared():
        raise AssertionError("the demo must not read the shared data folder")

    monkeypatch.setattr(corpus, "shared_dir", no_shared)
    paths = demo.make(tmp_path / "a")
    for name in ("listing.jpg", "packing.jpg", "claim.jpg"):
        data = (tmp_path / "a" / name).read_bytes()
        im = Image.open(io.BytesIO(data))
        assert im.format == "JPEG"
        assert decode(data).shape[2] == 3
    truth = np.asarray(Image.open(paths["claim_truth.png"])) > 0
    assert truth.shape == decode((tmp_path / "a" / "claim.jpg").read_bytes()).shape[:2]
    assert 0 < truth.mean() < 0.1
    demo.make(tmp_path / "b")
    for name in ("listing.jpg", "packing.jpg", "claim.jpg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
