import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from claimlens.index import IndexCorrupt, PhotoIndex, reuse_findings
from claimlens.index import transforms as T
from claimlens.index.backends import NumpyBackend
from claimlens.index.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fps(photos):
    return {n: fingerprint(im) for n, im in photos.items()}


def build(path, fps, backend="numpy"):
    ix = PhotoIndex(path, backend)
    ix.add_many([(i + 1, fp, {"claim": f"C{i + 1}", "buyer": f"buyer-{n}"}) for i, (n, fp) in enumerate(fps.items())])
    return ix


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_search_finds_edited_copies_only(tmp_path, photos, fps, backend):
    ix = build(tmp_path / "ix", fps, backend)
    names = list(fps)
    rng = np.random.default_rng(5)
    for name in ("crop50", "mirror", "screenshot", "overlay"):
        for i, n in enumerate(names[:4]):
            m = ix.search(T.apply(name, photos[n], rng))
            assert m and m[0].photo_id == i + 1, f"{name} of {n}"
            assert m[0].meta["claim"] == f"C{i + 1}" and m[0].inliers >= 15
            assert m[0].transform.mirrored == (name == "mirror")
    # a photo not in the index matches nothing
    from skimage import data

    assert ix.search(data.hubble_deep_field()) == []
    ix.save()
    ix.close()
    assert PhotoIndex(tmp_path / "ix").stats()["photos"] == len(fps)


def test_remove_and_replace(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    assert ix.remove(1) and not ix.remove(1)
    assert ix.search(photos["coffee"]) == []
    ix.add(1, photos["coffee"], {"claim": "again"})
    ix.add(1, photos["coffee"], {"claim": "replaced"})
    m = ix.search(T.apply("resize", photos["coffee"]))
    assert [x.photo_id for x in m] == [1] and m[0].meta == {"claim": "replaced"}
    assert ix.globals.count() == len(fps) and ix.verify_integrity() == []


def test_reuse_findings(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    from claimlens.forensics.evidence import Evidence

    ev = Evidence.from_bytes(T.jpeg(T.crop(photos["astronaut"])), "claim.jpg")
    (f,) = reuse_findings(ev, ix)
    assert (f.detector, f.code, f.severity) == ("reuse", "reused_photo", "high")
    assert "C2" in f.message and "buyer-astronaut" in f.message and "cropped" in f.message
    assert f.details["matches"][0]["photo_id"] == 2
    assert reuse_findings(ev, ix, exclude_ids=[2]) == []


def test_corrupt_fingerprint_is_reported(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    ix.close()
    db = sqlite3.connect(tmp_path / "ix" / "photos.sqlite")
    blob = bytearray(db.execute("SELECT fp FROM photos WHERE id=1").fetchone()[0])
    blob[200] ^= 0xFF
    db.execute("UPDATE photos SET fp=? WHERE id=1", (bytes(blob),))
    db.commit()
    db.close()
    ix = PhotoIndex(tmp_path / "ix")
    assert any("photo 1" in p for p in ix.verify_integrity())
    with pytest.raises(IndexCorrupt, match="photo 1"):
        ix._load_fp(1)


def test_corrupt_verification_record_is_reported(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    slot = ix.db.execute("SELECT slot FROM vslots WHERE id=2").fetchone()[0]
    ix.close()
    from claimlens.index.vstore import RECORD

    with open(tmp_path / "ix" / "verify.dat", "r+b") as f:  # one flipped descriptor byte of photo 2
        f.seek(slot * RECORD.itemsize + RECORD.fields["desc"][1] + 100)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    ix = PhotoIndex(tmp_path / "ix")
    with pytest.raises(IndexCorrupt, match="photo 2"):
        ix.search(T.apply("crop50", photos["astronaut"]))
    assert any("photo 2" in p for p in ix.verify_integrity())
    ix.close()
    # a file cut short is reported when the index is opened
    size = (tmp_path / "ix" / "verify.dat").stat().st_size
    os.truncate(tmp_path / "ix" / "verify.dat", size - 1000)
    with pytest.raises(IndexCorrupt, match="verify.dat"):
        PhotoIndex(tmp_path / "ix")


def test_verification_records_are_written_for_an_older_index(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    ix.db.execute("DROP TABLE vslots")
    ix.db.execute("DELETE FROM state WHERE key='vstore'")
    ix.close()
    (tmp_path / "ix" / "verify.dat").unlink()
    ix = PhotoIndex(tmp_path / "ix")
    assert ix.verify_integrity() == []
    assert [m.photo_id for m in ix.search(T.apply("mirror", photos["chelsea"]))] == [3]


def test_reopen_repairs_an_interrupted_add(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    # as if killed after the table commit but before the backends were written
    ix.db.execute("INSERT INTO photos(id, meta, fp, fp_crc, added) SELECT 99, meta, fp, fp_crc, added FROM photos WHERE id=1")
    ix._set_state("generations", "dirty")
    ix.globals.add([77], [np.zeros(8, np.uint8)])  # and a stray from a lost table write
    ix.close()
    ix = PhotoIndex(tmp_path / "ix")
    assert ix.repaired == {"removed": [77], "reindexed": [99]}
    assert ix.verify_integrity() == []
    assert {m.photo_id for m in ix.search(photos["coffee"])} == {1, 99}


CRASH_WORKER = textwrap.dedent(
    """
    import sys, numpy as np
    from skimage import data
    from claimlens.index import PhotoIndex
    from claimlens.index.fingerprint import fingerprint
    fps = [fingerprint(getattr(data, n)()) for n in ("coffee", "camera", "moon")]
    ix = PhotoIndex(sys.argv[1])
    print("ready", flush=True)
    rng = np.random.default_rng(int(sys.argv[2]))
    i = ix.count() * 10 + 1
    while True:
        n = int(rng.integers(1, 6))
        ix.add_many([(i + j, fps[(i + j) % 3], {"claim": str(i + j)}) for j in range(n)])
        i += n
        if rng.random() < 0.1:
            ix.remove(int(rng.integers(1, i)))
    """
)


def test_kill_mid_add_leaves_a_consistent_index(tmp_path):
    path = tmp_path / "ix"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = np.random.default_rng(11)
    for round_ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", CRASH_WORKER, str(path), str(round_)],
                                stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.1, 0.6)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ix = PhotoIndex(path)
        assert ix.verify_integrity() == []
        assert ix.count() > 0 and ix.globals.count() == ix.count()
        assert ix.locals.count() == sum(len(ix._load_fp(int(i)).local_codes()) for i in ix.globals.live_ids())
        ix.close()


BACKEND_WORKER = textwrap.dedent(
    """
    import sys, numpy as np
    from claimlens.index.backends import NumpyBackend
    b = NumpyBackend(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:  # batches of 100 rows; every row of batch k carries code bytes equal to k % 256
        b.add(np.arange(i * 100, i * 100 + 100), np.full((100, 8), i % 256, np.uint8))
        i += 1
    """
)


def test_kill_mid_segment_write_leaves_no_torn_rows(tmp_path):
    path = tmp_path / "b"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", BACKEND_WORKER, str(path)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    b = NumpyBackend(path)
    ids, codes = b._live_rows()
    assert len(ids) > 0 and len(ids) % 100 == 0
    assert (codes == (ids // 100 % 256).astype(np.uint8)[:, None]).all()
    assert not list(path.glob("*.tmp*"))


def test_verification_record_round_trip(photos):
    from claimlens.index.vstore import PTS_SCALE, pack, unpack

    fp = fingerprint(photos["rocket"])
    back = unpack(pack(7, fp)[0])
    assert np.array_equal(back.keypoints.desc, fp.keypoints.desc)
    assert np.abs(back.keypoints.pts - fp.keypoints.pts).max() <= 0.5 / PTS_SCALE
    assert np.array_equal(back.thumb, fp.thumb) and np.array_equal(back.global_hash, fp.global_hash)
    assert (back.trim, back.shape, back.keypoints.size) == (fp.trim, fp.shape, fp.keypoints.size)


def test_bytes_of_an_uncommitted_write_are_ignored_and_overwritten(tmp_path, photos, fps):
    ix = build(tmp_path / "ix", fps)
    ix.close()
    with open(tmp_path / "ix" / "verify.dat", "ab") as f:  # records written, then killed before the commit
        f.write(os.urandom(30000))
    ix = PhotoIndex(tmp_path / "ix")
    assert ix.verify_integrity() == []
    ix.add(50, T.apply("border", photos["moon"]), {"claim": "C50"})
    ix.close()
    ix = PhotoIndex(tmp_path / "ix")
    assert ix.verify_integrity() == []
    assert [m.photo_id for m in ix.search(T.apply("crop50", photos["moon"]), k=1)] in ([7], [50])
    assert {m.photo_id for m in ix.search(T.apply("crop50", photos["coins"]))} == {8}
