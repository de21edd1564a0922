import numpy as np
import pytest

from claimlens.index import transforms as T
from claimlens.index.fingerprint import fingerprint
from claimlens.index.parallax import MAX_SHARE, MIN_MATCHES, parallax_evidence, shows_parallax
from claimlens.index.pixels import same_capture
from claimlens.index.verify import verify


def test_matches_off_the_fit_count_once_per_candidate_keypoint_and_within_reach():
    on, off = np.full(40, 0.5), np.full(20, 10.0)
    share, n = parallax_evidence(np.r_[on, off], np.arange(60), 1.0, 512, 3.0)
    assert n == 20 and share == pytest.approx(20 / 60)
    # the same 20 candidate keypoints also matched on the fit: repeated structure, not parallax
    share, n = parallax_evidence(np.r_[on, off], np.r_[np.arange(40), np.arange(20)], 1.0, 512, 3.0)
    assert n == 0 and share == 0.0
    # far misses are wrong matches, not parallax; a coarse query widens the tight tolerance
    assert parallax_evidence(np.r_[on, np.full(20, 100.0)], np.arange(60), 1.0, 512, 3.0) == (0.0, 0)
    assert parallax_evidence(np.r_[on, np.full(20, 4.0)], np.arange(60), 2.0, 512, 3.0) == (0.0, 0)


def _two_layer_views(photos, near_shift: int, far_shift: int = 4):
    """Two 400 x 400 views of a scene of two layers: a far one (the left of the astronaut photo) and, over the
    right half of the view, a near one (the photo's right edge). The second camera moves sideways: the far
    layer shifts by far_shift pixels, the near one by near_shift."""
    im = photos["astronaut"]  # 512 x 512
    near = im[:400, 312:512]
    views = []
    for far_dx, near_dx in ((0, 0), (far_shift, near_shift)):
        v = im[:400, 20 + far_dx : 420 + far_dx].copy()
        v[:, 200 - near_dx : 400 - near_dx] = near
        views.append(v)
    return views


@pytest.mark.parametrize("near_shift", [12, 20])
def test_two_layers_shifted_differently_show_parallax(photos, near_shift):
    left, right = _two_layer_views(photos, near_shift)
    ref, q = fingerprint(left), fingerprint(T.reencode(right), query=True)
    tr = verify(q, ref)
    assert tr is not None  # one layer fits a similarity ...
    assert tr.parallax_matches >= MIN_MATCHES and tr.parallax >= MAX_SHARE, tr  # ... the other misses it
    assert shows_parallax(tr) and not same_capture(q, ref, tr)


def test_two_layers_shifted_alike_are_one_capture(photos):
    left, right = _two_layer_views(photos, near_shift=4)  # the whole frame moved: a shifted crop of one capture
    ref, q = fingerprint(left), fingerprint(T.reencode(right), query=True)
    tr = verify(q, ref)
    assert tr is not None and not shows_parallax(tr), tr
    assert same_capture(q, ref, tr)


def _vase(shared_data, name):
    p = shared_data / "multiview/middlebury_xland16/vase" / name
    if not p.exists():
        pytest.skip("Middlebury vase stereo frames not found")
    return T.decode(p.read_bytes())


@pytest.mark.shared_data
@pytest.mark.parametrize("ref_name,query_name", [("L_00.png", "R_00.png"), ("R_16.png", "L_16.png")])
def test_the_other_camera_of_a_stereo_pair_is_rejected(shared_data, ref_name, query_name):
    ref = fingerprint(_vase(shared_data, ref_name))
    q = fingerprint(T.reencode(_vase(shared_data, query_name)), query=True)
    tr = verify(q, ref)
    assert tr is not None  # the keypoints of one depth fit a similarity
    assert shows_parallax(tr) and not same_capture(q, ref, tr), tr


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["reencode", "resize", "mirror", "crop50", "rotate5"])
def test_copies_of_a_stereo_frame_still_pass(shared_data, name):
    im = _vase(shared_data, "L_00.png")
    ref = fingerprint(im)
    q = fingerprint(T.apply(name, im, np.random.default_rng(4)), query=True)
    tr = verify(q, ref)
    assert tr is not None and tr.mirrored == (name == "mirror")
    assert not shows_parallax(tr) and same_capture(q, ref, tr), tr
