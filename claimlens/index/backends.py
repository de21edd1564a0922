"""Hamming search backends behind one interface.

NumpyBackend (the embedded default): a folder of append-only segments (ids and packed codes, memory-mapped
.npy files), a tombstone list and a manifest that names every file with its CRC-32. Each add/remove writes
new files, fsyncs them and then atomically replaces the manifest, so a crash leaves the previous state.
Search is exact brute force (XOR + popcount with NumPy).

FaissBackend: the same durable files, plus a FAISS binary index (multi-index hashing by default, or HNSW)
over the live rows for sub-linear search at millions of codes. The FAISS index is a cache: it is saved as a
snapshot tagged with the manifest generation and rebuilt from the segments when it is missing or stale.
"""

from __future__ import annotations

import os
import zlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from .storage import IndexCorrupt, atomic_write, crc32_file, fsync_dir, read_json, remove_strays, write_json

MANIFEST = "manifest.json"
MAX_SEGMENTS = 24  # merge segments beyond this many
NO_ID = -1


class Backend(ABC):
    """add(ids, vectors), remove(ids), search(queries, k) -> (distances, ids), save(), count()."""

    nbits: int

    @abstractmethod
    def add(self, ids, vectors) -> None: ...

    @abstractmethod
    def remove(self, ids) -> int: ...

    @abstractmethod
    def search(self, queries, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest rows per query: (distances int32, ids int64), both (n_queries, k); -1 ids pad."""

    def range_search(self, queries, radius: int, k: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, id, distance) for stored rows within `radius` of each query, one per query and id.

        This default keeps at most k rows per query; backends that can list every row in range override it."""
        D, I = self.search(queries, k, radius)
        qi, col = np.nonzero(I >= 0)
        return _dedupe(qi, I[qi, col], D[qi, col])

    @abstractmethod
    def save(self) -> None: ...

    @abstractmethod
    def count(self) -> int:
        """Live rows (a photo may own several rows)."""

    @abstractmethod
    def live_ids(self) -> np.ndarray:
        """Distinct ids with at least one live row."""


def _as_codes(vectors, nbytes: int) -> np.ndarray:
    v = np.ascontiguousarray(np.asarray(vectors, dtype=np.uint8))
    if v.ndim == 1:
        v = v.reshape(1, -1)
    if v.shape[1] != nbytes:
        raise ValueError(f"expected {nbytes}-byte codes, got {v.shape[1]}")
    return v


def _words(codes: np.ndarray) -> np.ndarray:
    """(n, nbytes) uint8 to (n, nbytes/8) uint64 without copying when possible."""
    return codes.view(np.uint64) if codes.shape[1] % 8 == 0 else codes


class NumpyBackend(Backend):
    extra_files: tuple[str, ...] = ()

    def __init__(self, path, nbits: int = 64, create: bool = True, check: bool = True):
        if nbits % 64:
            raise ValueError("nbits must be a multiple of 64")
        self.path = Path(path)
        self.nbytes = nbits // 8
        self.nbits = nbits
        if not (self.path / MANIFEST).exists():
            if not create:
                raise FileNotFoundError(f"no index at {self.path}")
            self.path.mkdir(parents=True, exist_ok=True)
            write_json(self.path / MANIFEST, {"version": 1, "nbits": nbits, "generation": 0, "next_seq": 1,
                                              "segments": [], "tombstones": None})
        self._load(check)

    # Loading ------------------------------------------------------------------------------------
    def _load(self, check: bool) -> None:
        m = read_json(self.path / MANIFEST)
        if m.get("nbits") != self.nbits:
            raise IndexCorrupt(f"manifest says {m.get('nbits')}-bit codes, expected {self.nbits}", str(self.path))
        self.manifest = m
        keep = {MANIFEST}
        self.segments = []  # (seq, ids memmap, codes memmap)
        for s in m["segments"]:
            ids = self._open_array(s["ids"], s["ids_crc"], check, keep)
            codes = self._open_array(s["codes"], s["codes_crc"], check, keep)
            if len(ids) != s["count"] or codes.shape != (s["count"], self.nbytes):
                raise IndexCorrupt(f"segment {s['codes']} has the wrong shape", str(self.path))
            self.segments.append((s["seq"], ids, codes))
            self._open_segment_extra(s, check, keep)
        t = m["tombstones"]
        if t:
            arr = self._open_array(t["file"], t["crc"], check, keep)
            self.tomb_ids, self.tomb_seq = np.array(arr[:, 0]), np.array(arr[:, 1])
        else:
            self.tomb_ids = np.zeros(0, np.int64)
            self.tomb_seq = np.zeros(0, np.int64)
        keep.update(self.extra_files)
        remove_strays(self.path, keep, ("seg-*.npy", "tomb-*.npy", "*.tmp*"))
        self._alive = [self._alive_mask(seq, ids) for seq, ids, _ in self.segments]

    def _open_array(self, name: str, crc: int, check: bool, keep: set) -> np.ndarray:
        p = self.path / name
        keep.add(name)
        if not p.exists():
            raise IndexCorrupt(f"index file {name} is missing; run `index verify` / `index rebuild`", str(self.path))
        if check and crc32_file(p) != crc:
            raise IndexCorrupt(f"checksum mismatch in {name}: the file is corrupt; rebuild the index", str(self.path))
        try:
            return np.load(p, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise IndexCorrupt(f"cannot read {name} ({exc})", str(self.path)) from None

    def _alive_mask(self, seq: int, ids: np.ndarray) -> np.ndarray | None:
        """None when every row of the segment is live."""
        if not len(self.tomb_ids):
            return None
        order = np.argsort(self.tomb_ids)
        t_ids, t_seq = self.tomb_ids[order], self.tomb_seq[order]
        pos = np.clip(np.searchsorted(t_ids, ids), 0, len(t_ids) - 1)
        dead = (t_ids[pos] == ids) & (seq < t_seq[pos])
        return None if not dead.any() else ~dead

    # Writing ------------------------------------------------------------------------------------
    def _write_array(self, name: str, arr: np.ndarray) -> int:
        p = self.path / name
        tmp = p.with_name(p.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.save(f, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        return crc32_file(p)

    def _commit(self, manifest: dict) -> None:
        fsync_dir(self.path)
        manifest["generation"] = self.manifest["generation"] + 1
        write_json(self.path / MANIFEST, manifest)
        self.manifest = manifest

    def add(self, ids, vectors) -> None:
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        codes = _as_codes(vectors, self.nbytes)
        if len(ids) != len(codes):
            raise ValueError("ids and vectors differ in length")
        if not len(ids):
            return
        m = dict(self.manifest)
        seq = m["next_seq"]
        seg = {"seq": seq, "count": len(ids), "ids": f"seg-{seq:08d}-ids.npy", "codes": f"seg-{seq:08d}-codes.npy"}
        seg["ids_crc"] = self._write_array(seg["ids"], ids)
        seg["codes_crc"] = self._write_array(seg["codes"], codes)
        m["segments"] = m["segments"] + [seg]
        m["next_seq"] = seq + 1
        self._commit(m)
        ids_mm = np.load(self.path / seg["ids"], mmap_mode="r")
        codes_mm = np.load(self.path / seg["codes"], mmap_mode="r")
        self.segments.append((seq, ids_mm, codes_mm))
        self._alive.append(self._alive_mask(seq, ids_mm))
        self._on_add(ids_mm, codes_mm)
        self._after_add()

    def _after_add(self) -> None:
        if len(self.segments) > MAX_SEGMENTS:
            self.compact()

    def remove(self, ids) -> int:
        ids = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        present = np.intersect1d(ids, self.live_ids())
        if not len(present):
            return 0
        m = dict(self.manifest)
        seq = m["next_seq"]  # rows in segments before this sequence number are dead
        keep = ~np.isin(self.tomb_ids, present)
        t_ids = np.concatenate([self.tomb_ids[keep], present])
        t_seq = np.concatenate([self.tomb_seq[keep], np.full(len(present), seq, np.int64)])
        name = f"tomb-{seq:08d}.npy"
        crc = self._write_array(name, np.stack([t_ids, t_seq], axis=1).astype(np.int64))
        m["tombstones"] = {"file": name, "crc": crc, "count": len(t_ids)}
        m["next_seq"] = seq + 1
        self._commit(m)
        self.tomb_ids, self.tomb_seq = t_ids, t_seq
        self._alive = [self._alive_mask(s, i) for s, i, _ in self.segments]
        for name_ in os.listdir(self.path):
            if name_.startswith("tomb-") and name_ != name:
                (self.path / name_).unlink(missing_ok=True)
        self._on_remove(present)
        return len(present)

    def compact(self) -> None:
        """Merge all segments into one, dropping dead rows and tombstones."""
        ids, codes = self._live_rows()
        m = dict(self.manifest)
        seq = m["next_seq"]
        seg = {"seq": seq, "count": len(ids), "ids": f"seg-{seq:08d}-ids.npy", "codes": f"seg-{seq:08d}-codes.npy"}
        seg["ids_crc"] = self._write_array(seg["ids"], ids)
        seg["codes_crc"] = self._write_array(seg["codes"], codes)
        m["segments"] = [seg]
        m["tombstones"] = None
        m["next_seq"] = seq + 1
        self._commit(m)
        self._load(check=False)
        self._on_compact()

    def save(self) -> None:
        """Every add/remove is already durable; nothing to flush."""

    def close(self) -> None:
        self.segments = []
        self._alive = []

    # Reading ------------------------------------------------------------------------------------
    def _live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        ids, codes = [np.zeros(0, np.int64)], [np.zeros((0, self.nbytes), np.uint8)]
        for (_, i, c), alive in zip(self.segments, self._alive):
            ids.append(np.asarray(i) if alive is None else np.asarray(i)[alive])
            codes.append(np.asarray(c) if alive is None else np.asarray(c)[alive])
        return np.concatenate(ids), np.concatenate(codes)

    def count(self) -> int:
        return int(sum(len(i) if a is None else int(a.sum()) for (_, i, _), a in zip(self.segments, self._alive)))

    def live_ids(self) -> np.ndarray:
        parts = [np.unique(np.asarray(i) if a is None else np.asarray(i)[a]) for (_, i, _), a in zip(self.segments, self._alive)]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def codes_of(self, id_: int) -> np.ndarray:
        """The live codes stored for one id."""
        out = [np.asarray(c)[(np.asarray(i) == id_) & (True if a is None else a)]
               for (_, i, c), a in zip(self.segments, self._alive)]
        return np.concatenate(out) if out else np.zeros((0, self.nbytes), np.uint8)

    def search(self, queries, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        q = _words(_as_codes(queries, self.nbytes))
        nq = len(q)
        best_d = np.full((nq, k), np.iinfo(np.int32).max, np.int32)
        best_i = np.full((nq, k), NO_ID, np.int64)
        for (_, ids, codes), alive in zip(self.segments, self._alive):
            if not len(ids):
                continue
            w = _words(np.asarray(codes))
            for j in range(nq):
                d = np.bitwise_count(w ^ q[j])
                d = d.reshape(len(d)) if d.ndim == 1 else d.sum(axis=1, dtype=np.int32)
                if alive is not None:
                    d = np.where(alive, d, 1 << 20)
                kk = min(k, len(d))
                top = np.argpartition(d, kk - 1)[:kk] if kk < len(d) else np.arange(len(d))
                cd = np.concatenate([best_d[j], d[top].astype(np.int32)])
                ci = np.concatenate([best_i[j], np.asarray(ids)[top]])
                o = np.argsort(cd, kind="stable")[:k]
                best_d[j], best_i[j] = cd[o], ci[o]
        return _finish(best_d, best_i, radius, self.nbits)

    def verify(self) -> list[str]:
        """Problems found by re-reading every file against the manifest (empty when healthy)."""
        problems = []
        m = read_json(self.path / MANIFEST)
        files = [(s["ids"], s["ids_crc"]) for s in m["segments"]] + [(s["codes"], s["codes_crc"]) for s in m["segments"]]
        if m["tombstones"]:
            files.append((m["tombstones"]["file"], m["tombstones"]["crc"]))
        for s in m["segments"]:
            files += [(f["name"], f["crc"]) for f in s.get("mih", {}).get("files", [])]
        for name, crc in files:
            p = self.path / name
            if not p.exists():
                problems.append(f"{name}: missing")
            elif crc32_file(p) != crc:
                problems.append(f"{name}: checksum mismatch")
        return problems

    # Hooks for subclasses --------------------------------------------------------------------------
    def _open_segment_extra(self, seg: dict, check: bool, keep: set) -> None: ...

    def _on_add(self, ids, codes) -> None: ...

    def _on_remove(self, ids) -> None: ...

    def _on_compact(self) -> None: ...


def _dedupe(qi: np.ndarray, ids: np.ndarray, d: np.ndarray):
    """One (query, id) pair each, at its smallest distance."""
    if not len(qi):
        return qi.astype(np.int64), ids.astype(np.int64), d.astype(np.int32)
    o = np.lexsort((d, ids, qi))
    qi, ids, d = qi[o], ids[o], d[o]
    first = np.ones(len(qi), bool)
    first[1:] = (qi[1:] != qi[:-1]) | (ids[1:] != ids[:-1])
    return qi[first].astype(np.int64), ids[first].astype(np.int64), d[first].astype(np.int32)


def _finish(d: np.ndarray, i: np.ndarray, radius: int | None, nbits: int):
    bad = (i == NO_ID) | (d > nbits)
    if radius is not None:
        bad |= d > radius
    d = np.where(bad, -1, d).astype(np.int32)
    return d, np.where(bad, NO_ID, i)


FAISS_FILE = "faiss.index"


class FaissBackend(NumpyBackend):
    """Durable segments as in NumpyBackend, searched through a FAISS binary index.

    kind "multihash": faiss.IndexBinaryMultiHash (exact Hamming on the rows that share one of `nhash`
    substrings with the query, probing substrings up to `nflip` bits away); "hnsw": IndexBinaryHNSW.
    FAISS row r is row r of the segments in manifest order; dead rows stay until the next compaction
    and are filtered from results.
    """

    extra_files = (FAISS_FILE,)

    def __init__(self, path, nbits: int = 64, create: bool = True, check: bool = True,
                 kind: str = "multihash", nhash: int = 4, nflip: int = 1, hnsw_m: int = 16):
        self.kind, self.nhash, self.nflip, self.hnsw_m = kind, nhash, nflip, hnsw_m
        self.index = None
        super().__init__(path, nbits, create, check)
        self._open_faiss(check)

    def _new_index(self):
        import faiss

        if self.kind == "multihash":
            idx = faiss.IndexBinaryMultiHash(self.nbits, self.nhash, self.nbits // self.nhash)
            idx.nflip = self.nflip
            return idx
        if self.kind == "hnsw":
            idx = faiss.IndexBinaryHNSW(self.nbits, self.hnsw_m)
            idx.hnsw.efConstruction = 40
            idx.hnsw.efSearch = 64
            return idx
        raise ValueError(f"unknown FAISS index kind {self.kind!r}")

    def _open_faiss(self, check: bool) -> None:
        import faiss

        meta = self.manifest.get("faiss")
        p = self.path / FAISS_FILE
        self.row_ids = np.concatenate([np.asarray(i) for _, i, _ in self.segments] or [np.zeros(0, np.int64)])
        self._dead = None
        if meta and p.exists() and meta.get("generation") == self.manifest["generation"] and meta.get("kind") == self.kind:
            if check and crc32_file(p) != meta["crc"]:
                raise IndexCorrupt(f"checksum mismatch in {FAISS_FILE}: the file is corrupt; rebuild the index", str(self.path))
            self.index = faiss.read_index_binary(str(p))
            if self.index.ntotal != len(self.row_ids):
                raise IndexCorrupt("the FAISS index and the segments differ in length", str(self.path))
            self.index.nflip = self.nflip if self.kind == "multihash" else 0
        else:
            self.index = self._new_index()
            for _, _, codes in self.segments:
                self.index.add(np.ascontiguousarray(codes))

    def _on_add(self, ids, codes) -> None:
        if self.index is None:  # during NumpyBackend.__init__
            return
        self.index.add(np.ascontiguousarray(codes))
        self.row_ids = np.concatenate([self.row_ids, np.asarray(ids, np.int64)])
        self._dead = None

    def _on_remove(self, ids) -> None:
        self._dead = None

    def _on_compact(self) -> None:
        self.index = None
        self._open_faiss(check=False)

    def save(self) -> None:
        """Snapshot the FAISS index, tagged with the manifest generation, so the next open skips the rebuild."""
        import faiss

        data = faiss.serialize_index_binary(self.index).tobytes()
        atomic_write(self.path / FAISS_FILE, data)
        m = dict(self.manifest)
        m["faiss"] = {"kind": self.kind, "generation": m["generation"] + 1, "crc": zlib.crc32(data)}
        self._commit(m)

    def verify(self) -> list[str]:
        problems = super().verify()
        meta = self.manifest.get("faiss")
        p = self.path / FAISS_FILE
        if meta and p.exists() and meta.get("generation") == self.manifest["generation"] and crc32_file(p) != meta["crc"]:
            problems.append(f"{FAISS_FILE}: checksum mismatch")
        return problems

    def search(self, queries, k: int, radius: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        q = _as_codes(queries, self.nbytes)
        if self.index.ntotal == 0:
            return _finish(np.full((len(q), k), -1, np.int32), np.full((len(q), k), NO_ID, np.int64), radius, self.nbits)
        dead_any = len(self.tomb_ids) > 0
        d, rows = self.index.search(q, 2 * k if dead_any else k)
        ids = np.where(rows >= 0, self.row_ids[np.clip(rows, 0, None)], NO_ID)
        if dead_any:
            ids = np.where(self._row_dead(rows), NO_ID, ids)
            order = np.argsort(np.where(ids == NO_ID, 1 << 20, d), axis=1, kind="stable")[:, :k]
            d, ids = np.take_along_axis(d, order, 1), np.take_along_axis(ids, order, 1)
        return _finish(d.astype(np.int32), ids, radius, self.nbits)

    def _row_dead(self, rows: np.ndarray) -> np.ndarray:
        if self._dead is None:
            alive = [np.ones(len(i), bool) if a is None else a for (_, i, _), a in zip(self.segments, self._alive)]
            self._dead = ~np.concatenate(alive) if alive else np.zeros(0, bool)
        return np.where(rows >= 0, self._dead[np.clip(rows, 0, None)], True)


def open_backend(path, nbits: int = 64, kind: str = "numpy", **kw) -> Backend:
    if kind == "mih":
        from .mih import MihBackend

        return MihBackend(path, nbits, **kw)
    if kind == "numpy":
        return NumpyBackend(path, nbits, **kw)
    if kind in ("faiss", "multihash"):
        return FaissBackend(path, nbits, kind="multihash", **kw)
    if kind == "hnsw":
        return FaissBackend(path, nbits, kind="hnsw", **kw)
    raise ValueError(f"unknown backend {kind!r}")
