import cv2
import numpy as np
import pytest

from claimlens.index import PhotoIndex
from claimlens.index import transforms as T
from claimlens.index.coverage import MIN_COVERAGE, covers_too_little, fit_coverage
from claimlens.index.fingerprint import fingerprint
from claimlens.index.pixels import MAX_DIFFERING, differing_share, same_capture
from claimlens.index.verify import verify


def _grid(x0, y0, x1, y1, n=6):
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.c_[xs.ravel(), ys.ravel()]


def test_inliers_over_the_whole_footprint_cover_it_and_a_patch_does_not():
    pts = _grid(0, 0, 400, 300)
    quad = np.array([[0, 0], [400, 0], [400, 300], [0, 300]], np.float32)
    assert fit_coverage(pts, pts, quad) == pytest.approx(1.0)
    patch = _grid(180, 130, 220, 170)  # a 40 x 40 logo in a 400 x 300 overlap
    assert fit_coverage(patch, pts, quad) == pytest.approx(40 * 40 / (400 * 300))


def test_only_candidate_keypoints_inside_the_query_footprint_count():
    cand = _grid(0, 0, 400, 400)
    inliers = _grid(0, 0, 200, 200)
    top_left = np.array([[0, 0], [200, 0], [200, 200], [0, 200]], np.float32)  # the query shows a quarter
    assert fit_coverage(inliers, cand, top_left) == pytest.approx(1.0)
    assert fit_coverage(inliers, cand, top_left[::-1].copy()) == pytest.approx(1.0)  # either winding
    whole = np.array([[0, 0], [400, 0], [400, 400], [0, 400]], np.float32)
    assert fit_coverage(inliers, cand, whole) == pytest.approx(0.25)


def test_too_few_keypoints_cannot_be_judged():
    quad = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], np.float32)
    two = np.array([[10.0, 10.0], [20.0, 20.0]])
    assert fit_coverage(two, two, quad) == 1.0


def _product(photos, body: str, logo_at: tuple[int, int]):
    """A listing-style photo: white background, a product of the given shape with its own surface texture (a
    low-contrast photo), and one printed logo that both products share."""
    im = np.full((480, 640, 3), 250, np.uint8)
    shape = np.zeros((480, 640), np.uint8)
    if body == "mug":
        cv2.rectangle(shape, (180, 120), (420, 420), 1, -1)
        cv2.ellipse(shape, (440, 270), (70, 90), 0, -90, 90, 1, 18)
        surface = photos["camera"][:480, :512]
    else:  # a cap
        cv2.ellipse(shape, (320, 300), (220, 150), 0, 180, 360, 1, -1)
        cv2.rectangle(shape, (90, 300), (560, 330), 1, -1)
        surface = photos["coffee"][:480, :600]
    tex = cv2.resize(np.ascontiguousarray(surface), (640, 480)).astype(np.float32)
    im[shape > 0] = (40 + 0.4 * tex[shape > 0]).astype(np.uint8)
    logo = photos["astronaut"][100:170, 200:260]  # 70 x 60, richly textured
    y, x = logo_at
    im[y : y + logo.shape[0], x : x + logo.shape[1]] = logo
    return im


def test_a_shared_logo_on_another_product_is_not_a_copy(tmp_path, photos):
    mug, cap = _product(photos, "mug", (200, 260)), _product(photos, "cap", (200, 290))
    ref, q = fingerprint(cap), fingerprint(T.reencode(mug), query=True)
    tr = verify(q, ref)
    assert tr is not None  # the logo alone fits a similarity ...
    assert tr.coverage < MIN_COVERAGE and covers_too_little(tr), tr  # ... over a patch of what both photos show
    assert differing_share(q, ref, tr) > MAX_DIFFERING  # the rest of the overlap shows other things
    assert not same_capture(q, ref, tr)
    ix = PhotoIndex(tmp_path / "ix", "numpy")
    ix.add_many([(1, fingerprint(cap), {"claim": "C1"})])
    assert ix.search(T.reencode(mug)) == []
    ix.add_many([(2, fingerprint(mug), {"claim": "C2"})])
    assert [m.photo_id for m in ix.search(T.reencode(mug))] == [2]  # its own copy is still found


def _listing(shared_data, name):
    p = next((shared_data / "solidus_products").rglob(name), None)
    if p is None:
        pytest.skip(f"{name} not found in the shared data")
    return T.decode(p.read_bytes())


def test_real_listing_photos_sharing_a_logo_do_not_match(shared_data, tmp_path):
    mug, cap = _listing(shared_data, "solidus_mug.jpg"), _listing(shared_data, "solidus_snapback_cap.jpg")
    ix = PhotoIndex(tmp_path / "ix", "numpy")
    ix.add_many([(1, fingerprint(cap), {"claim": "C1"})])
    for k in (0.5, 0.75):  # the mug photo resized: the logo fits the cap's
        q_im = T.reencode(cv2.resize(mug, None, fx=k, fy=k, interpolation=cv2.INTER_AREA))
        q = fingerprint(q_im, query=True)
        tr = verify(q, ix.vstore.get(1))
        assert tr is None or not same_capture(q, ix.vstore.get(1), tr), tr
        assert ix.search(q_im) == []


def test_a_real_copy_whose_logo_is_its_only_strong_structure_is_kept(shared_data):
    """A black cap whose seams do not survive the re-encode, under a sticker and a caption: the fit spans little
    more than the logo, but the rest of the overlap shows the same content."""
    cap = _listing(shared_data, "solidus_snapback_cap.jpg")
    ref = fingerprint(cap)
    kept = low = 0
    for seed in range(6):
        q = fingerprint(T.apply("overlay", cap, np.random.default_rng(seed)), query=True)
        tr = verify(q, ref)
        if tr is None:
            continue  # the sticker hid the logo
        low += covers_too_little(tr)
        kept += same_capture(q, ref, tr)
        assert same_capture(q, ref, tr), (seed, tr, differing_share(q, ref, tr))
    assert kept >= 3 and low >= 1  # the case the coverage check alone would lose


def test_differing_share_follows_tone_edits_not_content():
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (16, 16), dtype=np.uint8), (256, 256), interpolation=cv2.INTER_CUBIC)
    im = np.dstack([base] * 3)
    ref = fingerprint(im)
    brighter = fingerprint(T.brightness(im), query=True)
    tr = verify(brighter, ref)
    assert tr is not None and differing_share(brighter, ref, tr) < 0.05
    half = im.copy()
    half[:, 128:] = 255 - half[:, 128:]  # half of the photo shows something else
    other = fingerprint(half, query=True)
    tr = verify(other, ref)
    if tr is not None:  # the unchanged half fits
        assert differing_share(other, ref, tr) > 0.3


@pytest.mark.parametrize("name", ["crop50", "mirror", "overlay", "screenshot", "rotate5"])
def test_copies_cover_the_overlap(photos, name):
    rng = np.random.default_rng(3)
    for n in ("coffee", "rocket", "chelsea"):
        ref, q = fingerprint(photos[n]), fingerprint(T.apply(name, photos[n], rng), query=True)
        tr = verify(q, ref)
        assert tr is not None and not covers_too_little(tr), (n, tr)
