"""PhotoIndex: find earlier claims that used the same photo, even resized, cropped, mirrored or framed.

A folder holds:
  photos.sqlite   id -> label (meta JSON) and the photo's fingerprint, with a CRC-32 per fingerprint. This
                  table is the record of truth: everything else can be rebuilt from it, and on open the
                  search backends are reconciled with it after an interrupted write. Its `vslots` table
                  names each photo's record in verify.dat (slot and CRC-32), committed with the photo row.
  verify.dat      fixed-size verification records (keypoints, descriptors, thumbnail), memory-mapped: a
                  candidate is verified without decoding anything (vstore.py)
  global/         one 64-bit pHash per photo (a Hamming backend)
  local/          24 64-bit local codes per photo (a Hamming backend)
Backends: "mih" (the default: multi-index hashing over memory-mapped sorted tables, see mih.py), "numpy"
(brute force) or "faiss". Search: candidates from both backends (the query's hash and its mirror's; the
query's local codes and its mirror's, one vote per query code and photo), at most MAX_CANDIDATES of them
verified geometrically in order of evidence, each in the view (as given or mirrored) that found it, then a
pixel check of the stored thumbnail (pixels.py) rejects other captures of the same scene; only matches
passing both are returned, and the search stops once k are confirmed.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .backends import Backend, open_backend
from .fingerprint import N_LOCAL_INDEX, N_LOCAL_QUERY, Fingerprint, fingerprint
from .storage import IndexCorrupt
from .pixels import same_capture
from .verify import Transform, verify
from .vstore import VerifyStore, remove_file

GLOBAL_RADIUS = 12  # pHash bits
# pHashes this near rank before local votes: among 10 M random 64-bit hashes one within 8 bits of a query turns
# up about once in 180 queries, one within 12 bits 4.6 times per query (those rank after photos with votes)
GLOBAL_SURE = 8
LOCAL_RADIUS = 10  # bits of a 64-bit local code
LOCAL_K = 4  # neighbours per local code
MAX_CANDIDATES = 8  # photos verified per query
MIN_VOTES = 2  # local codes a photo must share with the query to be verified (unless its pHash is near)
# The mih backend finds codes beyond its exact radius only by chance, so a copy may share a single code with
# the query: one code counts when it is within LONE_CODE_RADIUS bits. Unrelated codes that reach the range
# check share a 24-bit key and differ in the other 40 bits like coin flips (median 20): with random codes at
# 1 M photos 3.5 lone codes per query land within LOCAL_RADIUS, 0.05 within 7 bits (most sit at 9-10 bits).
LONE_CODE_RADIUS = 7
LOCAL_FAISS = {"nhash": 3, "nflip": 1}  # multi-index hashing: 3 x 21-bit keys, probes 1 bit away
# mih layouts: local codes 2 x 24-bit keys probed 1 bit away (every code within 3 bits, most within 10);
# global hashes 4 x 16-bit keys probed 1 bit away (every hash within 7 bits)
LOCAL_MIH = {"tables": 2, "key_bits": 24, "probe": 1}
GLOBAL_MIH = {"tables": 4, "key_bits": 16, "probe": 1}

SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    meta TEXT NOT NULL,
    fp BLOB NOT NULL,
    fp_crc INTEGER NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Match:
    photo_id: int
    score: float  # share of matched keypoints that fit the transform
    inliers: int
    transform: Transform
    meta: dict = field(default_factory=dict)
    global_distance: int | None = None  # pHash bits to the query (or its mirror), when found that way
    local_votes: int = 0

    def to_dict(self) -> dict:
        return {
            "photo_id": self.photo_id,
            "score": round(self.score, 3),
            "inliers": self.inliers,
            "transform": self.transform.to_dict(),
            "meta": self.meta,
            "global_distance": self.global_distance,
            "local_votes": self.local_votes,
        }


def _fingerprint(photo, query: bool) -> Fingerprint:
    return photo if isinstance(photo, Fingerprint) else fingerprint(photo, query=query)


class PhotoIndex:
    """Open (or create) an index folder. backend: "numpy" (embedded brute force) or "faiss" (ANN)."""

    def __init__(self, path, backend: str = "mih", check: bool = True, local_opts: dict | None = None,
                 pixel_check: bool = True):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path / "photos.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        try:
            self.db.executescript(SCHEMA)
            self.vstore = VerifyStore(self.path, self.db, check=check)
        except sqlite3.DatabaseError as exc:
            raise IndexCorrupt(f"photos.sqlite is unreadable ({exc}); rebuild the index", str(self.path)) from None
        stored = self._state("backend")
        self.backend_kind = stored or backend
        if not stored:
            self._set_state("backend", backend)
        self.pixel_check = pixel_check
        kind = self.backend_kind
        self.globals: Backend = open_backend(self.path / "global", 64, kind, check=check,
                                             **(GLOBAL_MIH if kind == "mih" else {}))
        # local codes are many per photo: longer hash keys keep buckets small
        opts = {"mih": LOCAL_MIH, "numpy": {}}.get(kind, LOCAL_FAISS)
        self.locals: Backend = open_backend(self.path / "local", 64, kind, check=check, **(local_opts or opts))
        self.repaired = self._reconcile()
        if self.repaired or self._state("vstore") != "1":
            self._fill_vstore()

    # State ------------------------------------------------------------------------------------
    def _state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_state(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", (key, value))

    def _generations(self) -> str:
        return f"{self.globals.manifest['generation']}/{self.locals.manifest['generation']}"

    def _mark_clean(self) -> None:
        self._set_state("generations", self._generations())

    def _reconcile(self) -> dict:
        """After an interrupted add/remove, make the backends agree with the table (the record of truth)."""
        if self._state("generations") == self._generations():
            return {}
        ids = np.array([r[0] for r in self.db.execute("SELECT id FROM photos")], np.int64)
        g, l = self.globals.live_ids(), self.locals.live_ids()
        in_both = np.intersect1d(g, l)
        stray = np.setdiff1d(np.union1d(g, l), ids)
        missing = np.setdiff1d(ids, in_both)
        # a photo whose codes reached only one backend is removed and indexed again
        partial = np.union1d(np.setdiff1d(g, in_both), np.setdiff1d(l, in_both))
        drop = np.union1d(stray, partial)
        if len(drop):
            self.globals.remove(drop)
            self.locals.remove(drop)
        if len(missing):
            self._index_codes([(int(i), self._load_fp(int(i))) for i in missing])
        self._mark_clean()
        return {"removed": drop.tolist(), "reindexed": missing.tolist()}

    def _fill_vstore(self) -> None:
        """Verification records for photos indexed before verify.dat existed (or after it was lost)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM vslots WHERE id NOT IN (SELECT id FROM photos)")
            ids = [r[0] for r in self.db.execute("SELECT id FROM photos WHERE id NOT IN (SELECT id FROM vslots)")]
            for k in range(0, len(ids), 1024):
                self.vstore.write([(i, self._load_fp(i)) for i in ids[k : k + 1024]])
            self._set_state("vstore", "1")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            self.vstore.rollback()
            raise

    # Writing ----------------------------------------------------------------------------------
    def _index_codes(self, items: list[tuple[int, Fingerprint]]) -> None:
        if not items:
            return
        gid = np.array([i for i, _ in items], np.int64)
        gcodes = np.stack([fp.global_hash for _, fp in items])
        lid, lcodes = [], []
        for i, fp in items:
            c = fp.local_codes(N_LOCAL_INDEX)
            lid.append(np.full(len(c), i, np.int64))
            lcodes.append(c)
        self.globals.add(gid, gcodes)
        self.locals.add(np.concatenate(lid), np.concatenate(lcodes).reshape(-1, 8))

    def add_many(self, items: Iterable[tuple[int, Any, dict | None]]) -> int:
        """Index (photo_id, evidence-or-bytes-or-array, meta) triples in one batch; an id already present is replaced."""
        rows = []
        for photo_id, photo, meta in items:
            fp = _fingerprint(photo, query=False)
            blob = fp.to_bytes()
            rows.append((int(photo_id), json.dumps(meta or {}, sort_keys=True, default=str), blob, zlib.crc32(blob), fp))
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate photo ids in one batch")
        existing = [i for i in ids if self.db.execute("SELECT 1 FROM photos WHERE id=?", (i,)).fetchone()]
        if existing:  # old codes go first; a crash here leaves the old record, re-indexed on open
            self._set_state("generations", "dirty")
            self.globals.remove(existing)
            self.locals.remove(existing)
        # record of truth next: a crash after this commit is repaired by _reconcile on the next open
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO photos(id, meta, fp, fp_crc, added) VALUES (?, ?, ?, ?, ?)",
                [(i, m, b, c, time.time()) for i, m, b, c, _ in rows],
            )
            self.vstore.write([(r[0], r[4]) for r in rows])  # records fsynced before the commit names them
            self._set_state("generations", "dirty")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            self.vstore.rollback()
            raise
        self._index_codes([(r[0], r[4]) for r in rows])
        self._mark_clean()
        return len(rows)

    def add(self, photo_id: int, photo, meta: dict | None = None) -> None:
        self.add_many([(photo_id, photo, meta)])

    def remove(self, photo_id) -> bool:
        ids = [int(i) for i in np.atleast_1d(photo_id)]
        self.db.execute("BEGIN IMMEDIATE")
        n = sum(self.db.execute("DELETE FROM photos WHERE id=?", (i,)).rowcount for i in ids)
        self.vstore.delete(ids)
        self._set_state("generations", "dirty")
        self.db.execute("COMMIT")
        self.globals.remove(ids)
        self.locals.remove(ids)
        self._mark_clean()
        return n > 0

    def rebuild(self, items: Iterable[tuple[int, Any, dict | None]], batch: int = 256) -> int:
        """Start afresh from the source photos: drop everything, then index `items` in batches."""
        kind = self.backend_kind
        self.close()
        import shutil

        for name in ("global", "local"):
            shutil.rmtree(self.path / name, ignore_errors=True)
        for name in ("photos.sqlite", "photos.sqlite-wal", "photos.sqlite-shm"):
            (self.path / name).unlink(missing_ok=True)
        remove_file(self.path)
        self.__init__(self.path, kind)
        n, chunk = 0, []
        for item in items:
            chunk.append(item)
            if len(chunk) >= batch:
                n += self.add_many(chunk)
                chunk = []
        n += self.add_many(chunk)
        self.globals.compact()
        self.locals.compact()
        self._mark_clean()
        return n

    def save(self) -> None:
        self.globals.save()
        self.locals.save()
        self._mark_clean()

    def close(self) -> None:
        try:
            if hasattr(self, "vstore"):
                self.vstore.close()
            self.db.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Reading ----------------------------------------------------------------------------------
    def _load_fp(self, photo_id: int) -> Fingerprint:
        row = self.db.execute("SELECT fp, fp_crc FROM photos WHERE id=?", (photo_id,)).fetchone()
        if row is None:
            raise KeyError(photo_id)
        if zlib.crc32(row[0]) != row[1]:
            raise IndexCorrupt(f"fingerprint of photo {photo_id} fails its checksum; rebuild the index", str(self.path))
        try:
            return Fingerprint.from_bytes(row[0])
        except Exception as exc:
            raise IndexCorrupt(f"fingerprint of photo {photo_id} is unreadable ({exc})", str(self.path)) from None

    def meta(self, photo_id: int) -> dict | None:
        row = self.db.execute("SELECT meta FROM photos WHERE id=?", (int(photo_id),)).fetchone()
        return json.loads(row[0]) if row else None

    def __contains__(self, photo_id) -> bool:
        return self.db.execute("SELECT 1 FROM photos WHERE id=?", (int(photo_id),)).fetchone() is not None

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM photos").fetchone()[0]

    def _ranked(self, fp: Fingerprint, exclude_ids=()) -> list[tuple[int, int | None, int, tuple[bool, ...]]]:
        """(photo_id, global distance or None, local votes, views to verify), most promising first.

        A photo is a candidate when its pHash is within GLOBAL_RADIUS of the query's (or its mirror's), or
        when it shares MIN_VOTES local codes with the query (one vote per query code and photo), or with the
        mih backend one code within LONE_CODE_RADIUS bits.
        The view (as given, mirrored) with more evidence is verified first, the other only with MIN_VOTES of its own."""
        exclude = {int(i) for i in exclude_ids}
        D, I = self.globals.search(np.stack([fp.global_hash, fp.mirror_hash]), 8, GLOBAL_RADIUS)
        gview: list[dict[int, int]] = [{}, {}]  # pHash distance per view
        for row in range(2):
            for d, i in zip(D[row], I[row]):
                if i >= 0 and int(i) not in exclude:
                    gview[row][int(i)] = int(d)
        gdist = {i: min(gview[0].get(i, 99), gview[1].get(i, 99)) for i in set(gview[0]) | set(gview[1])}
        direct = fp.query_codes(False)
        codes = [direct]
        if fp.mirror_keypoints is not None:
            codes.append(fp.query_codes(True))
        codes = np.concatenate(codes).reshape(-1, 8)
        votes: Counter = Counter()
        mvotes: Counter = Counter()
        closeness: Counter = Counter()  # ties in votes go to the photo whose codes are nearer
        nearest: dict[int, int] = {}
        if len(codes):
            qi, ids, dist = self.locals.range_search(codes, LOCAL_RADIUS, LOCAL_K)  # one per query code and photo
            for q, i, d in zip(qi.tolist(), ids.tolist(), dist.tolist()):
                if i not in exclude:
                    votes[i] += 1
                    closeness[i] += LOCAL_RADIUS + 1 - d
                    nearest[i] = min(d, nearest.get(i, 99))
                    if q >= len(direct):
                        mvotes[i] += 1
        lone = self.backend_kind == "mih"
        keep = set(gdist) | {i for i, v in votes.items() if v >= MIN_VOTES or (lone and nearest[i] <= LONE_CODE_RADIUS)}
        sure = {i for i, d in gdist.items() if d <= GLOBAL_SURE}
        ranked = sorted(keep, key=lambda i: (i not in sure, -votes[i], -closeness[i], gdist.get(i, 99), i))[:MAX_CANDIDATES]
        out = []
        for i in ranked:
            # evidence per view: a near pHash counts as many votes
            ev = [votes[i] - mvotes[i] + (LOCAL_K * 4 if i in gview[0] else 0), mvotes[i] + (LOCAL_K * 4 if i in gview[1] else 0)]
            first = max((False, True), key=lambda m: ev[m])
            views = (first,) + ((not first,) if ev[not first] >= MIN_VOTES else ())
            out.append((i, gdist.get(i), votes[i], views))
        return out

    def candidates(self, fp: Fingerprint, exclude_ids=()) -> list[tuple[int, int | None, int]]:
        """(photo_id, global distance or None, local votes), most promising first (before verification)."""
        fp = _fingerprint(fp, query=True)
        return [c[:3] for c in self._ranked(fp, exclude_ids)]

    def search(self, photo, k: int = 5, exclude_ids=()) -> list[Match]:
        """Verified matches for a photo (evidence, bytes, array or query Fingerprint), best first.

        Candidates are verified in order of their evidence; the search stops once k have been confirmed."""
        fp = _fingerprint(photo, query=True)
        return self.verify_candidates(fp, self._ranked(fp, exclude_ids), k)

    def verify_candidates(self, fp: Fingerprint, ranked, k: int = 5) -> list[Match]:
        matches = []
        for photo_id, gd, nv, views in ranked:
            tr = self.check(fp, photo_id, views)
            if tr is not None:
                matches.append(Match(photo_id, tr.score, tr.inliers, tr, self.meta(photo_id) or {}, gd, nv))
                if len(matches) >= k:
                    break
        matches.sort(key=lambda m: -m.inliers)
        return matches[:k]

    def check(self, fp: Fingerprint, photo_id: int, views: tuple[bool, ...] = (False, True)) -> Transform | None:
        """The geometric fit of a query fingerprint to a stored photo, if it holds and the pixels agree."""
        cand = self.vstore.get(photo_id)
        if cand is None:  # not in the table (a write was interrupted): cannot verify
            return None
        tr = verify(fp, cand, views=views)
        if tr is None or (self.pixel_check and not same_capture(fp, cand, tr)):
            return None
        return tr

    def stats(self) -> dict:
        return {
            "path": str(self.path),
            "backend": self.backend_kind,
            "photos": self.count(),
            "global_codes": self.globals.count(),
            "local_codes": self.locals.count(),
            "global_segments": len(self.globals.segments),
            "local_segments": len(self.locals.segments),
        }

    def verify_integrity(self) -> list[str]:
        """Every problem found: file checksums, the SQLite table, fingerprint checksums, backend agreement."""
        problems = [f"global/{p}" for p in self.globals.verify()] + [f"local/{p}" for p in self.locals.verify()]
        problems += self.vstore.verify()
        row = self.db.execute("PRAGMA integrity_check").fetchone()
        if not row or row[0] != "ok":
            problems.append(f"photos.sqlite: {row[0] if row else 'integrity check failed'}")
        ids = []
        for i, blob, crc in self.db.execute("SELECT id, fp, fp_crc FROM photos"):
            ids.append(i)
            if zlib.crc32(blob) != crc:
                problems.append(f"photos.sqlite: fingerprint of photo {i} fails its checksum")
        ids = np.array(sorted(ids), np.int64)
        vids = self.vstore.ids()
        if len(np.setdiff1d(ids, vids)) or len(np.setdiff1d(vids, ids)):
            problems.append(f"verify.dat: {len(np.setdiff1d(ids, vids))} photos missing, {len(np.setdiff1d(vids, ids))} stray")
        for name, b in (("global", self.globals), ("local", self.locals)):
            live = b.live_ids()
            if len(np.setdiff1d(ids, live)) or len(np.setdiff1d(live, ids)):
                problems.append(f"{name}: {len(np.setdiff1d(ids, live))} photos missing, {len(np.setdiff1d(live, ids))} stray")
        return problems
