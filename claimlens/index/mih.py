"""Multi-index hashing over memory-mapped sorted tables: fast Hamming range search at hundreds of millions of codes.

Each 64-bit code is cut into `tables` substrings; a table holds every code of a segment sorted by the first
`key_bits` bits of one substring, with a directory of bucket offsets. A query looks up its own key and every
key `probe` bits away in each table and computes the exact Hamming distance on those buckets only. By the
pigeonhole principle every stored code within tables * (probe + 1) - 1 bits of the query is found (the
exact radius); codes further away are found when one key happens to be close enough.

The segments of NumpyBackend stay the record (same manifest, checksums, tombstones). A segment is either
indexed (its table files are listed with their CRC-32 next to it in the manifest) or part of the delta: the
few recent small segments, searched by brute force. When the delta grows past `delta_rows` it is merged into
one new indexed segment; indexed segments are merged in turn so that each is at least `ratio` times larger
than the next (a log-structured merge), which keeps the number of tables per query small.
"""

from __future__ import annotations

import numpy as np

from .backends import NO_ID, NumpyBackend, _as_codes, _dedupe, _finish
from .storage import IndexCorrupt

MAX_DELTA_SEGMENTS = 16  # small unindexed segments are merged (unindexed) beyond this many


def _flips(bits: int, probe: int) -> np.ndarray:
    """XOR masks of every key at most `probe` bits away (0, single bits, pairs)."""
    out = [0]
    if probe >= 1:
        out += [1 << i for i in range(bits)]
    if probe >= 2:
        out += [(1 << i) | (1 << j) for i in range(bits) for j in range(i + 1, bits)]
    return np.array(out, np.uint64)


class MihBackend(NumpyBackend):
    def __init__(self, path, nbits: int = 64, create: bool = True, check: bool = True, tables: int = 2,
                 key_bits: int = 24, probe: int = 1, delta_rows: int = 1 << 16, ratio: int = 4):
        if nbits != 64:
            raise ValueError("multi-index hashing works on 64-bit codes")
        if not 1 <= tables <= 8 or not 4 <= key_bits <= min(32, 64 // tables):
            raise ValueError("bad table layout")
        self.n_tables, self.key_bits, self.probe = tables, key_bits, probe
        self.delta_rows, self.ratio = delta_rows, ratio
        self.auto_merge = True  # bulk loads switch this off and call compact() at the end
        self.tables: dict[int, dict] = {}
        super().__init__(path, nbits, create, check)

    @property
    def exact_radius(self) -> int:
        return self.n_tables * (self.probe + 1) - 1

    # Files ----------------------------------------------------------------------------------------
    def _open_segment_extra(self, seg: dict, check: bool, keep: set) -> None:
        info = seg.get("mih")
        if not info:
            return
        n = seg["count"]
        parts = []
        files = info["files"]
        if len(files) != 3 * info["tables"]:
            raise IndexCorrupt(f"segment {seg['seq']} lists the wrong number of table files", str(self.path))
        for j in range(info["tables"]):
            codes, rows, dirs = (self._open_array(f["name"], f["crc"], check, keep) for f in files[3 * j : 3 * j + 3])
            if codes.shape != (n,) or rows.shape != (n,) or dirs.shape != ((1 << info["key_bits"]) + 1,) \
                    or (n and int(dirs[-1]) != n):
                raise IndexCorrupt(f"table {files[3 * j]['name']} has the wrong shape", str(self.path))
            # plain ndarray views of the maps: indexing a np.memmap costs more than the small gathers themselves
            parts.append((np.asarray(codes), np.asarray(rows), np.asarray(dirs)))
        self.tables[seg["seq"]] = {"sub_bits": info["sub_bits"], "key_bits": info["key_bits"], "parts": parts}

    def _load(self, check: bool) -> None:
        self.tables = {}
        super()._load(check)

    def _build_tables(self, seq: int, codes: np.ndarray) -> dict:
        """Write the sorted tables of one segment's codes; returns its manifest entry."""
        n = len(codes)
        if n >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 rows")
        sub = 64 // self.n_tables
        kb = int(np.clip(np.ceil(np.log2(max(n, 2))), 4, self.key_bits))  # about one code per bucket at most
        u = np.ascontiguousarray(codes).view(np.uint64).ravel()
        files = []
        for j in range(self.n_tables):
            packed = (u >> np.uint64(j * sub)) & np.uint64((1 << kb) - 1)
            counts = np.bincount(packed.astype(np.int64), minlength=1 << kb)
            packed <<= np.uint64(32)
            packed |= np.arange(n, dtype=np.uint64)
            packed.sort()  # by key, then row
            rows = (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            del packed
            dirs = np.zeros((1 << kb) + 1, np.uint32 if n < (1 << 32) else np.int64)
            np.cumsum(counts, out=dirs[1:])
            del counts
            for kind, arr in (("codes", u[rows]), ("rows", rows), ("dir", dirs)):
                name = f"seg-{seq:08d}-mih{j}-{kind}.npy"
                files.append({"name": name, "crc": self._write_array(name, arr)})
                del arr
            del rows, dirs
        return {"tables": self.n_tables, "sub_bits": sub, "key_bits": kb, "files": files}

    def _merge(self, positions: list[int], index: bool, drop_tombstones: bool = False) -> None:
        """Replace the segments at `positions` by one segment of their live rows (indexed or not)."""
        ids, codes = [np.zeros(0, np.int64)], [np.zeros((0, self.nbytes), np.uint8)]
        for p in positions:
            (_, i, c), alive = self.segments[p], self._alive[p]
            ids.append(np.asarray(i) if alive is None else np.asarray(i)[alive])
            codes.append(np.asarray(c) if alive is None else np.asarray(c)[alive])
        ids, codes = np.concatenate(ids), np.concatenate(codes)
        m = dict(self.manifest)
        seq = m["next_seq"]
        gone = {self.segments[p][0] for p in positions}
        segs = [s for s in m["segments"] if s["seq"] not in gone]
        if len(ids):
            seg = {"seq": seq, "count": len(ids), "ids": f"seg-{seq:08d}-ids.npy", "codes": f"seg-{seq:08d}-codes.npy"}
            seg["ids_crc"] = self._write_array(seg["ids"], ids)
            seg["codes_crc"] = self._write_array(seg["codes"], codes)
            del ids
            if index:
                seg["mih"] = self._build_tables(seq, codes)
            segs.append(seg)
        m["segments"] = segs
        m["next_seq"] = seq + 1
        if drop_tombstones:
            m["tombstones"] = None
        self._commit(m)
        self._load(check=False)  # also deletes the merged segments' files

    def compact(self) -> None:
        """Merge every segment into one indexed segment, dropping dead rows and tombstones."""
        self._merge(list(range(len(self.segments))), index=True, drop_tombstones=True)

    def _after_add(self) -> None:
        if not self.auto_merge:
            return
        delta = [p for p, (seq, _, _) in enumerate(self.segments) if seq not in self.tables]
        if sum(len(self.segments[p][1]) for p in delta) >= self.delta_rows:
            self._merge(delta, index=True)
        elif len(delta) > MAX_DELTA_SEGMENTS:
            self._merge(delta, index=False)
            return
        # log-structured: the newer of two neighbouring indexed segments is merged while not much smaller
        while True:
            runs = [p for p, (seq, _, _) in enumerate(self.segments) if seq in self.tables]
            if len(runs) < 2:
                return
            a, b = runs[-2], runs[-1]
            if len(self.segments[b][1]) * self.ratio < len(self.segments[a][1]):
                return
            self._merge([a, b], index=True)

    # Search ---------------------------------------------------------------------------------------
    def _segment_pairs(self, pos: int, q: np.ndarray, radius: int):
        """(query index, row) pairs of one segment within radius, with distances (may repeat)."""
        seq, ids, codes = self.segments[pos]
        t = self.tables.get(seq)
        if t is None:  # delta: brute force
            w = np.asarray(codes).view(np.uint64).ravel()
            if not len(w):
                return None
            d = np.bitwise_count(q[:, None] ^ w[None, :])
            qi, rows = np.nonzero(d <= radius)
            return qi, rows, d[qi, rows]
        sub, kb = t["sub_bits"], t["key_bits"]
        flips = _flips(kb, self.probe)
        nq = len(q)
        out_q, out_r, out_d = [], [], []
        for j, (tc, tr, td) in enumerate(t["parts"]):
            keys = (q >> np.uint64(j * sub)) & np.uint64((1 << kb) - 1)
            probes = (keys[:, None] ^ flips[None, :]).ravel().astype(np.int64)
            pq = np.repeat(np.arange(nq), len(flips))
            start = td[probes].astype(np.int64)
            lens = td[probes + 1].astype(np.int64) - start
            total = int(lens.sum())
            if not total:
                continue
            ends = np.cumsum(lens)
            offs = np.arange(total, dtype=np.int64) + np.repeat(start - (ends - lens), lens)
            qq = np.repeat(pq, lens)
            d = np.bitwise_count(tc[offs] ^ q[qq])
            keep = d <= radius
            out_q.append(qq[keep])
            out_r.append(tr[offs[keep]].astype(np.int64))
            out_d.append(d[keep])
        if not out_q:
            return None
        return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)

    def range_search(self, queries, radius: int, k: int | None = None):
        """Every live (query index, id, distance) within radius, one per query and id; exact up to exact_radius."""
        q = _as_codes(queries, self.nbytes).view(np.uint64).ravel()
        all_q, all_i, all_d = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for pos in range(len(self.segments)):
            hit = self._segment_pairs(pos, q, radius)
            if hit is None:
                continue
            qi, rows, d = hit
            alive = self._alive[pos]
            if alive is not None:
                ok = alive[rows]
                qi, rows, d = qi[ok], rows[ok], d[ok]
            all_q.append(qi)
            all_i.append(np.asarray(self.segments[pos][1])[rows])
            all_d.append(d.astype(np.int64))
        return _dedupe(np.concatenate(all_q), np.concatenate(all_i), np.concatenate(all_d))

    def search(self, queries, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest among the rows found; exact for rows within exact_radius (approximate beyond, as FAISS MIH)."""
        q = _as_codes(queries, self.nbytes)
        qi, ids, d = self.range_search(q, self.nbits if radius is None else radius)
        nq = len(q)
        best_d = np.full((nq, k), np.iinfo(np.int32).max, np.int32)
        best_i = np.full((nq, k), NO_ID, np.int64)
        o = np.lexsort((ids, d, qi))
        qi, ids, d = qi[o], ids[o], d[o]
        starts = np.searchsorted(qi, np.arange(nq))
        rank = np.arange(len(qi)) - starts[qi] if len(qi) else np.zeros(0, np.int64)
        sel = rank < k
        best_d[qi[sel], rank[sel]] = d[sel]
        best_i[qi[sel], rank[sel]] = ids[sel]
        return _finish(best_d, best_i, radius, self.nbits)

    def stats(self) -> dict:
        indexed = [len(i) for seq, i, _ in self.segments if seq in self.tables]
        return {"indexed_segments": len(indexed), "indexed_rows": int(sum(indexed)),
                "delta_rows": int(sum(len(i) for seq, i, _ in self.segments if seq not in self.tables))}
