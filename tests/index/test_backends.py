import numpy as np
import pytest

from claimlens.index.backends import FaissBackend, NumpyBackend, open_backend
from claimlens.index.storage import IndexCorrupt

KINDS = ["numpy", "mih", "faiss", "hnsw"]


def flip_bits(codes, n, rng):
    out = codes.copy()
    for row in out:
        for b in rng.choice(64, n, replace=False):
            row[b // 8] ^= np.uint8(1 << (b % 8))
    return out


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return np.arange(2000, dtype=np.int64) * 7, rng.integers(0, 256, (2000, 8), dtype=np.uint8), rng


@pytest.mark.parametrize("kind", KINDS)
def test_add_search_remove_save_load(tmp_path, data, kind):
    ids, codes, rng = data
    b = open_backend(tmp_path / "b", 64, kind)
    b.add(ids[:1000], codes[:1000])
    b.add(ids[1000:], codes[1000:])
    assert b.count() == 2000
    q = flip_bits(codes[[5, 1500]], 3, rng)
    D, I = b.search(q, 3)
    assert I[:, 0].tolist() == [ids[5], ids[1500]] and D[:, 0].tolist() == [3, 3]

    assert b.remove([ids[5], 999_999]) == 1
    D, I = b.search(q, 3, radius=8)
    assert ids[5] not in I[0] and I[1, 0] == ids[1500]
    assert b.count() == 1999 and ids[5] not in b.live_ids()

    b.add([ids[5]], codes[5:6])  # an id may come back after removal
    b.save()
    b2 = open_backend(tmp_path / "b", 64, kind)
    assert b2.count() == 2000
    assert b2.search(q, 1)[1][:, 0].tolist() == [ids[5], ids[1500]]
    assert b2.verify() == []


@pytest.mark.parametrize("kind", ["numpy", "mih", "faiss"])
def test_radius_and_padding(tmp_path, data, kind):
    ids, codes, _ = data
    b = open_backend(tmp_path / "b", 64, kind)
    b.add(ids[:10], codes[:10])
    D, I = b.search(codes[:1], 20, radius=0)
    assert I[0, 0] == ids[0] and (I[0, 1:] == -1).all() and (D[0, 1:] == -1).all()
    empty = open_backend(tmp_path / "e", 64, kind)
    assert (empty.search(codes[:2], 3)[1] == -1).all()


def test_several_rows_per_id_and_compaction(tmp_path, data):
    ids, codes, _ = data
    b = NumpyBackend(tmp_path / "b")
    for i in range(30):  # more segments than MAX_SEGMENTS: merged on the way
        b.add(np.full(4, i), codes[4 * i : 4 * i + 4])
    assert len(b.segments) <= 25 and b.count() == 120
    b.remove([3])
    assert b.count() == 116
    b.compact()
    assert len(b.segments) == 1 and b.count() == 116 and b.tomb_ids.size == 0
    assert len(b.codes_of(4)) == 4 and len(b.codes_of(3)) == 0
    assert NumpyBackend(tmp_path / "b").count() == 116


def test_faiss_matches_brute_force(tmp_path, data):
    ids, codes, rng = data
    nb, fb = NumpyBackend(tmp_path / "n"), FaissBackend(tmp_path / "f", nflip=2)
    for b in (nb, fb):
        b.add(ids, codes)
    q = flip_bits(codes[:50], 4, rng)
    assert (nb.search(q, 1)[1] == fb.search(q, 1)[1]).all()


@pytest.mark.parametrize("kind", ["numpy", "mih", "faiss"])
def test_flipped_bytes_in_a_segment_are_reported(tmp_path, data, kind):
    ids, codes, _ = data
    b = open_backend(tmp_path / "b", 64, kind)
    b.add(ids, codes)
    b.save()
    seg = sorted((tmp_path / "b").glob("seg-*-codes.npy"))[0]
    raw = bytearray(seg.read_bytes())
    raw[-100] ^= 0xFF
    seg.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="checksum mismatch"):
        open_backend(tmp_path / "b", 64, kind)
    assert any("checksum" in p for p in open_backend(tmp_path / "b", 64, kind, check=False).verify())


def test_corrupt_faiss_snapshot_and_missing_segment(tmp_path, data):
    ids, codes, _ = data
    b = FaissBackend(tmp_path / "b")
    b.add(ids, codes)
    b.save()
    p = tmp_path / "b" / "faiss.index"
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    p.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="faiss.index"):
        FaissBackend(tmp_path / "b")
    next((tmp_path / "b").glob("seg-*-ids.npy")).unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        NumpyBackend(tmp_path / "b")


def test_garbage_manifest_is_a_clear_error(tmp_path, data):
    ids, codes, _ = data
    NumpyBackend(tmp_path / "b").add(ids, codes)
    (tmp_path / "b" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match="manifest.json"):
        NumpyBackend(tmp_path / "b")
