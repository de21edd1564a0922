import numpy as np
import pytest

from claimlens.index.backends import NumpyBackend, _dedupe
from claimlens.index.mih import MihBackend
from claimlens.index.storage import IndexCorrupt


def flip(codes, rng, max_bits):
    out = codes.copy()
    for row in out:
        for b in rng.choice(64, int(rng.integers(0, max_bits + 1)), replace=False):
            row[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def brute(codes, ids, q, radius):
    d = np.bitwise_count(q.view(np.uint64).ravel()[:, None] ^ codes.view(np.uint64).ravel()[None, :])
    qi, r = np.nonzero(d <= radius)
    return _dedupe(qi, ids[r], d[qi, r])


@pytest.fixture
def rows():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (30000, 8), dtype=np.uint8)
    return np.arange(30000, dtype=np.int64) // 3, codes, rng  # three codes per id


def test_exact_within_the_radius_like_brute_force(tmp_path, rows):
    ids, codes, rng = rows
    b = MihBackend(tmp_path / "m", delta_rows=7000)
    for s in range(0, len(ids), 2000):
        b.add(ids[s : s + 2000], codes[s : s + 2000])
    st = b.stats()
    assert st["indexed_segments"] >= 1 and st["delta_rows"] > 0  # both paths are searched
    q = flip(codes[rng.choice(len(codes), 300)], rng, b.exact_radius)
    got, want = b.range_search(q, b.exact_radius), brute(codes, ids, q, b.exact_radius)
    assert len(got[0]) >= 300 and all((g == w).all() for g, w in zip(got, want))
    # beyond the exact radius: no false hits, most true ones
    q = flip(codes[rng.choice(len(codes), 300)], rng, 8)
    got, want = b.range_search(q, 10), brute(codes, ids, q, 10)
    pairs = set(zip(got[0].tolist(), got[1].tolist()))
    assert pairs <= set(zip(want[0].tolist(), want[1].tolist())) and len(pairs) >= 0.7 * len(want[0])
    nb = NumpyBackend(tmp_path / "n")
    nb.add(ids, codes)
    q = flip(codes[:50], rng, 3)
    assert (b.search(q, 1)[1] == nb.search(q, 1)[1]).all()


def test_incremental_add_merge_remove_and_reopen(tmp_path, rows):
    ids, codes, rng = rows
    b = MihBackend(tmp_path / "m", delta_rows=3000, ratio=2)
    for s in range(0, 24000, 600):
        b.add(ids[s : s + 600], codes[s : s + 600])
    st = b.stats()
    assert st["indexed_rows"] + st["delta_rows"] == 24000 and st["indexed_rows"] >= 21000
    assert len(b.segments) <= 6  # merged log-structured, not one segment per add
    assert b.remove([ids[10], ids[20000]]) == 2
    q = flip(codes[[10, 20000, 5000]], rng, 3)
    hit = b.search(q, 1)[1][:, 0]
    assert hit[0] != ids[10] and hit[1] != ids[20000] and hit[2] == ids[5000]
    b.add([ids[10]], codes[10:11])  # back again after removal
    b2 = MihBackend(tmp_path / "m")
    assert b2.search(q, 1)[1][:, 0].tolist()[0] == ids[10] and b2.count() == 24000 - 6 + 1
    b2.compact()
    assert b2.stats() == {"indexed_segments": 1, "indexed_rows": 24000 - 6 + 1, "delta_rows": 0}
    assert b2.verify() == []
    hit = MihBackend(tmp_path / "m").search(q, 1)[1][:, 0]
    assert hit[0] == ids[10] and hit[1] != ids[20000] and hit[2] == ids[5000]


def test_corrupt_or_missing_table_is_detected(tmp_path, rows):
    ids, codes, _ = rows
    b = MihBackend(tmp_path / "m")
    b.add(ids[:5000], codes[:5000])
    b.compact()
    table = sorted((tmp_path / "m").glob("seg-*-mih1-codes.npy"))[0]
    raw = bytearray(table.read_bytes())
    raw[-77] ^= 0x10
    table.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="checksum mismatch"):
        MihBackend(tmp_path / "m")
    assert any("mih1-codes" in p for p in MihBackend(tmp_path / "m", check=False).verify())
    table.unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        MihBackend(tmp_path / "m", check=False)


def test_tables_are_plain_views_of_the_files(tmp_path, rows):
    ids, codes, _ = rows
    b = MihBackend(tmp_path / "m")
    b.add(ids, codes)
    b.compact()
    parts = [a for t in b.tables.values() for p in t["parts"] for a in p]
    assert parts and all(type(a) is np.ndarray and not a.flags.owndata and not a.flags.writeable for a in parts)
    q = codes[:20]
    qi, got, d = b.range_search(q, 0)
    assert (qi == np.arange(20)).all() and (got == ids[:20]).all() and (d == 0).all()
