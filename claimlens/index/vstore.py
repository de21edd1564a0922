"""Verification data of every indexed photo in one memory-mapped file of fixed-size records.

A query verifies a few candidates: their keypoints, descriptors and thumbnail are read straight from
verify.dat (no decoding). The slot and CRC-32 of each photo's record live in the index's SQLite table
`vslots`, committed in the same transaction as the photo row, after the records were written and fsynced.
A kill mid-write therefore leaves at most unreferenced bytes past the last referenced slot (cut off on the
next write); a record whose checksum fails, or a file shorter than its referenced slots, is reported as
corrupt. The file can always be rewritten from the fingerprints in the table (the record of truth).
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from .fingerprint import N_KEYPOINTS, THUMB_SIDE, Fingerprint, Keypoints
from .storage import IndexCorrupt, fsync_dir

PTS_SCALE = 32.0  # keypoint coordinates stored as uint16 in 1/32 work pixels (work images are <= 512 px)

RECORD = np.dtype([
    ("id", "<i8"),
    ("n", "<u2"),
    ("has_thumb", "u1"),
    ("pad", "u1"),
    ("size", "<u2", (2,)),
    ("shape", "<i4", (2,)),
    ("trim", "<i4", (4,)),
    ("g", "u1", (8,)),
    ("m", "u1", (8,)),
    ("pts", "<u2", (N_KEYPOINTS, 2)),
    ("desc", "u1", (N_KEYPOINTS, 32)),
    ("thumb", "u1", (THUMB_SIDE, THUMB_SIDE)),
])
FILE = "verify.dat"

SCHEMA = "CREATE TABLE IF NOT EXISTS vslots (id INTEGER PRIMARY KEY, slot INTEGER NOT NULL, crc INTEGER NOT NULL);"


def pack(photo_id: int, fp: Fingerprint) -> np.ndarray:
    """One record (a 1-element structured array) of a fingerprint."""
    r = np.zeros(1, RECORD)
    kp = fp.keypoints
    n = min(len(kp.pts), N_KEYPOINTS)
    r["id"] = photo_id
    r["n"] = n
    r["size"] = kp.size
    r["shape"] = fp.shape
    r["trim"] = fp.trim
    r["g"] = fp.global_hash
    r["m"] = fp.mirror_hash
    r["pts"][0, :n] = np.clip(np.round(kp.pts[:n] * PTS_SCALE), 0, 65535)
    r["desc"][0, :n] = kp.desc[:n]
    if fp.thumb is not None and fp.thumb.shape == (THUMB_SIDE, THUMB_SIDE):
        r["has_thumb"] = 1
        r["thumb"] = fp.thumb
    return r


def unpack(rec: np.ndarray) -> Fingerprint:
    n = int(rec["n"])
    kp = Keypoints(rec["pts"][:n].astype(np.float32) / PTS_SCALE, rec["desc"][:n], (int(rec["size"][0]), int(rec["size"][1])))
    thumb = rec["thumb"] if rec["has_thumb"] else None
    return Fingerprint(rec["g"], rec["m"], kp, None, tuple(int(v) for v in rec["trim"]),
                       tuple(int(v) for v in rec["shape"]), thumb)


class VerifyStore:
    """verify.dat in an index folder; slots and checksums are kept by the caller's SQLite connection."""

    def __init__(self, folder: Path, db, check: bool = True):
        self.path = Path(folder) / FILE
        self.db = db
        db.executescript(SCHEMA)
        self._map: np.memmap | None = None
        self._mapped = 0
        self.path.touch(exist_ok=True)
        row = db.execute("SELECT MAX(slot) FROM vslots").fetchone()
        used = 0 if row[0] is None else int(row[0]) + 1
        size = self.path.stat().st_size
        if size < used * RECORD.itemsize:
            raise IndexCorrupt(f"{FILE} is shorter than its {used} records; rebuild the index", str(self.path))
        self.next_slot = used  # bytes past it (an interrupted write) are overwritten by the next write

    # Writing: call inside the caller's open transaction, before it commits ------------------------
    def write(self, items: list[tuple[int, Fingerprint]]) -> list[tuple[int, int, int]]:
        """Append records, fsync, and insert their (id, slot, crc) rows; returns those rows."""
        if not items:
            return []
        recs = np.concatenate([pack(i, fp) for i, fp in items])
        row = self.db.execute("SELECT MAX(slot) FROM vslots").fetchone()  # another writer may have added
        slot0 = max(self.next_slot, 0 if row[0] is None else int(row[0]) + 1)
        rows = [(int(i), slot0 + k, zlib.crc32(recs[k : k + 1].tobytes())) for k, (i, _) in enumerate(items)]
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, recs.tobytes(), slot0 * RECORD.itemsize)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.db.executemany("INSERT OR REPLACE INTO vslots(id, slot, crc) VALUES (?, ?, ?)", rows)
        self.next_slot = slot0 + len(items)
        return rows

    def delete(self, ids) -> None:
        self.db.executemany("DELETE FROM vslots WHERE id=?", [(int(i),) for i in ids])

    def rollback(self) -> None:
        """After a failed transaction: the slots written are unreferenced again."""
        row = self.db.execute("SELECT MAX(slot) FROM vslots").fetchone()
        self.next_slot = 0 if row[0] is None else int(row[0]) + 1

    # Reading --------------------------------------------------------------------------------------
    def _records(self, slot: int) -> np.memmap:
        if self._map is None or slot >= self._mapped:
            n = self.path.stat().st_size // RECORD.itemsize
            if slot >= n:
                raise IndexCorrupt(f"{FILE} has no record {slot}; rebuild the index", str(self.path))
            self._map = np.memmap(self.path, RECORD, "r", shape=(n,))
            self._mapped = n
        return self._map

    def _slot(self, photo_id: int) -> tuple[int, int] | None:
        return self.db.execute("SELECT slot, crc FROM vslots WHERE id=?", (int(photo_id),)).fetchone()

    def get(self, photo_id: int) -> Fingerprint | None:
        """The stored verification data of a photo, None when it has none; IndexCorrupt when damaged."""
        row = self._slot(photo_id)
        if row is None:
            return None
        slot, crc = row
        rec = self._records(slot)[slot : slot + 1]
        if zlib.crc32(rec.tobytes()) != crc or int(rec["id"][0]) != int(photo_id):
            raise IndexCorrupt(f"verification record of photo {photo_id} fails its checksum; rebuild the index",
                               str(self.path))
        return unpack(rec[0])

    def ids(self) -> np.ndarray:
        return np.array([r[0] for r in self.db.execute("SELECT id FROM vslots")], np.int64)

    def verify(self) -> list[str]:
        """Every record whose checksum fails."""
        problems = []
        size = self.path.stat().st_size
        for i, slot, crc in self.db.execute("SELECT id, slot, crc FROM vslots"):
            if (slot + 1) * RECORD.itemsize > size:
                problems.append(f"{FILE}: record of photo {i} is missing")
                continue
            rec = self._records(slot)[slot : slot + 1]
            if zlib.crc32(rec.tobytes()) != crc or int(rec["id"][0]) != i:
                problems.append(f"{FILE}: record of photo {i} fails its checksum")
        return problems

    def close(self) -> None:
        self._map = None


def remove_file(folder: Path) -> None:
    (Path(folder) / FILE).unlink(missing_ok=True)
    fsync_dir(Path(folder))
