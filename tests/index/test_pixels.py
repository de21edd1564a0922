import numpy as np
import pytest

from claimlens.index import transforms as T
from claimlens.index.fingerprint import fingerprint
from claimlens.index.pixels import MIN_AGREEMENT, agreement, same_capture
from claimlens.index.verify import verify


@pytest.mark.parametrize("name", ["reencode", "resize", "crop50", "mirror", "overlay"])
def test_copies_of_a_photo_agree(photos, name):
    rng = np.random.default_rng(2)
    for n in ("coffee", "astronaut"):
        ref = fingerprint(photos[n])
        q = fingerprint(T.apply(name, photos[n], rng), query=True)
        tr = verify(q, ref)
        assert tr is not None and same_capture(q, ref, tr), f"{name} of {n}: {agreement(q, ref, tr)}"


def test_old_fingerprints_without_a_thumbnail_are_not_judged(photos):
    ref = fingerprint(photos["coffee"])
    ref.thumb = None
    q = fingerprint(T.apply("resize", photos["coffee"]), query=True)
    assert agreement(q, ref, verify(q, ref)) is None and same_capture(q, ref, verify(q, ref))


@pytest.mark.shared_data
@pytest.mark.parametrize("scene", ["graf", "wall"])
def test_another_capture_of_the_scene_is_rejected(shared_data, scene):
    folder = shared_data / "multiview/oxford_affine_mllab/data"
    if not (folder / f"{scene}1.png").exists():
        pytest.skip("Oxford affine photos not found")
    ref = fingerprint(T.decode((folder / f"{scene}1.png").read_bytes()))
    q = fingerprint(T.reencode(T.decode((folder / f"{scene}2.png").read_bytes())), query=True)
    tr = verify(q, ref)
    assert tr is not None  # the keypoints fit a similarity: only the pixels tell the captures apart
    assert agreement(q, ref, tr) < MIN_AGREEMENT - 0.3 and not same_capture(q, ref, tr)
