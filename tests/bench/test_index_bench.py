import numpy as np
import pytest

from bench import index as B
from claimlens.index import transforms as T
from claimlens.index.fingerprint import fingerprint
from claimlens.index.verify import verify


@pytest.fixture(scope="module")
def photos():
    from skimage import data

    return {n: np.ascontiguousarray(getattr(data, n)()[..., :3]) for n in ("astronaut", "chelsea", "coffee")}


def test_upper_rate_is_the_one_sided_clopper_pearson_bound():
    assert B.upper_rate(0, 3000) == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-6)  # about 3 / n
    assert B.upper_rate(0, 100) > B.upper_rate(0, 1000) > B.upper_rate(0, 10000)
    assert B.upper_rate(5, 1000) > 5 / 1000
    assert B.upper_rate(10, 10) == 1.0


def test_corner_crops_take_each_corner_and_skip_small_photos():
    im = np.arange(400 * 500).reshape(400, 500) % 251
    crops = B.corner_crops(im)
    assert len(crops) == 4 and all(c.shape == (240, 300) for c in crops)
    assert crops[0][0, 0] == im[0, 0] and crops[3][-1, -1] == im[-1, -1]
    assert crops[1][0, -1] == im[0, -1] and crops[2][-1, 0] == im[-1, 0]
    assert B.corner_crops(im[:300]) == []


def test_false_match_stats_split_whole_photos_from_corner_crops():
    false = np.array([False, True, False, False, True, False])
    corner = np.array([False, False, False, True, True, True])
    st = B.false_match_stats(false, corner, ["a", "b", "c", "a", "b", "c"])
    assert st["n_false"] == 2 and st["n_neg"] == 6 and st["false_per_1000"] == pytest.approx(1000 / 3)
    assert (st["false_whole"], st["n_whole"], st["false_corner"], st["n_corner"]) == (1, 3, 1, 3)
    assert st["false_photos"] == ["b"] and st["n_neg_photos"] == 3
    assert st["false_upper_per_1000"] > st["false_per_1000"]


def test_content_reproduced_tells_a_shared_render_from_a_shared_logo(photos):
    """One object pasted, turned, into two composites shares its pixels; two objects that carry one logo do not."""
    import cv2

    obj = photos["astronaut"][40:360, 140:380]  # 320 x 240: the "render"
    a = np.zeros((600, 700, 3), np.uint8)
    a[100:420, 60:300] = obj
    a[150:450, 400:640] = photos["chelsea"][0:300, 100:340]  # a second, different object
    rot = cv2.getRotationMatrix2D((300, 300), 20, 1.0)
    b = cv2.warpAffine(np.pad(obj, ((140, 140), (180, 180), (0, 0))), rot, (600, 600))  # the first alone, turned
    assert B.content_reproduced(b, a) >= B.REPRODUCED
    logo = photos["astronaut"][100:200, 180:300]
    c, d = photos["coffee"].copy(), photos["chelsea"].copy()
    c[50:150, 50:170] = logo
    d[100:200, 250:370] = logo
    assert verify(fingerprint(c, query=True), fingerprint(d)) is not None  # the logo fits ...
    assert B.content_reproduced(c, d) < 0.5  # ... the rest of each photo is not the other's
    assert B.content_reproduced(T.reencode(photos["coffee"]), photos["coffee"]) >= B.REPRODUCED


def test_other_photos_leave_out_masks_and_duplicates(shared_data):
    photos = B.other_photos(shared_data)
    names = [n for n, _ in photos]
    if not names:
        pytest.skip("no other photos in the shared data")
    assert not any(n.endswith("_gt.png") for n in names)
    keys = {im.tobytes()[:4096] + bytes(str(im.shape), "ascii") for _, im in photos}
    assert len(keys) == len(photos)
    assert all(min(im.shape[:2]) >= 32 and im.ndim == 3 for _, im in photos)


def test_a_size_the_machine_cannot_hold_is_skipped_with_the_reason(tmp_path):
    assert "free disk" in B.lacking(10**12, tmp_path)
    assert B.lacking(1000, tmp_path) == ""
