import pytest
from PIL import Image

from claimlens.cases.errors import Invalid
from claimlens.cases.media import fingerprint, keyframes, probe_video
from claimlens.store.testing import photo_array, video_bytes


def test_keyframes_of_a_pyav_video(tmp_path):
    data = video_bytes(tmp_path, frames=30)
    p = tmp_path / "v.mp4"
    p.write_bytes(data)
    info = probe_video(p)
    assert (info["width"], info["height"]) == (320, 240)
    frames = keyframes(p)
    assert 2 <= len(frames) <= 4  # gop 10 over 30 frames
    times = [t for t, _ in frames]
    assert times == sorted(times) and times[0] == 0
    import io

    im = Image.open(io.BytesIO(frames[0][1]))
    assert im.size == (320, 240)
    # the first keyframe looks like the photo the video was made from
    from claimlens.cases.credit import hamming

    assert hamming(fingerprint(im), fingerprint(photo_array(0, (240, 320)))) <= 8


def test_not_a_video(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_bytes(b"not a video at all" * 10)
    with pytest.raises(Invalid):
        probe_video(p)
    with pytest.raises(Invalid):
        keyframes(p)
