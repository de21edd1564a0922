"""Content-addressed file store: blobs/ab/cd/<sha256>. Written via temp file + fsync + link; never overwritten.

An upload is written to blobs/tmp while it is hashed, then linked to its content address. A blob that no
database row references (the client went away, the process died between the blob and the commit) is removed by
`collect_garbage` once it is older than a grace period, so an upload still in flight is never touched.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cases.errors import TooLarge

CHUNK = 1024 * 1024
HEX = frozenset("0123456789abcdef")


def human_bytes(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10**6 else f"{n / 1e3:.0f} KB" if n >= 10**3 else f"{n} bytes"


@dataclass
class StoredFile:
    sha256: str
    size: int
    path: Path
    filename: str = ""


class BlobWriter:
    """One upload in progress: hashed as it arrives and written to a temp file in the store (bytes past the
    first BUFFER go to the file as they come).

    `write` raises TooLarge (and removes the temp file) as soon as max_bytes is passed; `commit` makes the blob
    durable under its content address; `abort` drops it. A writer that is neither committed nor aborted (the
    process died) leaves a temp file that garbage collection removes after the grace period.
    """

    BUFFER = 64 * 1024  # the first bytes wait in memory: a small photo's file is made in the committing thread

    def __init__(self, store: "BlobStore", max_bytes: int | None = None, filename: str = ""):
        self.store, self.max_bytes, self.filename = store, max_bytes, filename
        self.size = 0
        self._hash = hashlib.sha256()
        self._buf = bytearray()
        self._fd = self._tmp = None
        self._open = True

    def _spill(self) -> None:
        if self._fd is None:
            self._fd, self._tmp = tempfile.mkstemp(dir=self.store.tmp, prefix="up-")
        buf, self._buf = self._buf, bytearray()
        with memoryview(buf) as view:
            done = 0
            while done < len(buf):
                done += os.write(self._fd, view[done:])

    @property
    def path(self) -> str:
        """The temp file, written out (complete once the upload has arrived; checked before `commit`)."""
        self._spill()
        return self._tmp

    def write(self, data) -> None:
        if not self._open:
            raise ValueError("upload already finished")
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.abort()
            raise TooLarge(f"{self.filename or 'file'} is larger than the {human_bytes(self.max_bytes)} limit")
        self._hash.update(data)
        self._buf += data
        if len(self._buf) >= self.BUFFER:
            self._spill()

    def commit(self, sync: bool = True) -> StoredFile:
        """fsync, then link to blobs/ab/cd/<sha256> unless that content is already stored (never overwritten)."""
        if not self._open:
            raise ValueError("upload already finished")
        try:
            self._spill()
            if sync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            sha = self._hash.hexdigest()
            self.store._commit(self._tmp, sha, sync=sync)
            return StoredFile(sha, self.size, self.store.path(sha), self.filename)
        finally:
            self.abort()

    def abort(self) -> None:
        self._open = False
        self._buf = bytearray()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass
            self._tmp = None


@dataclass
class GcReport:
    removed: list[tuple[str, int]] = field(default_factory=list)  # (sha256 or tmp name, bytes)
    temp_removed: int = 0
    kept_referenced: int = 0
    kept_recent: int = 0

    @property
    def removed_bytes(self) -> int:
        return sum(n for _, n in self.removed)


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not HEX.issuperset(sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self, max_bytes: int | None = None, filename: str = "") -> BlobWriter:
        return BlobWriter(self, max_bytes, filename)

    def receive(self, fileobj, max_bytes: int | None = None, filename: str = "") -> BlobWriter:
        """A writer holding a readable stream, not yet committed; TooLarge (nothing kept) past max_bytes."""
        w = self.writer(max_bytes, filename)
        try:
            while chunk := fileobj.read(CHUNK):
                w.write(chunk)
        except BaseException:
            w.abort()
            raise
        return w

    def put_stream(self, fileobj, max_bytes: int | None = None, filename: str = "") -> StoredFile:
        """Copy a readable stream into the store; TooLarge (nothing kept) past max_bytes."""
        w = self.receive(fileobj, max_bytes, filename)
        try:
            return w.commit()
        finally:
            w.abort()

    def put_bytes(self, data: bytes, filename: str = "") -> StoredFile:
        import io

        return self.put_stream(io.BytesIO(data), filename=filename)

    def _commit(self, tmp: str, sha: str, sync: bool = True) -> None:
        final = self.path(sha)
        try:
            # same content already stored: never overwrite, but mark it as just used so that garbage
            # collection keeps it until the caller's transaction has referenced it
            os.utime(final)
            return
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)  # fails if another writer got there first; the content is the same
        except FileExistsError:
            return
        if sync:
            dfd = os.open(final.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def verify(self, sha256: str) -> bool:
        h = hashlib.sha256()
        with open(self.path(sha256), "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        return h.hexdigest() == sha256

    # Garbage collection ---------------------------------------------------------------------
    def stored(self):
        """(sha256, path) of every blob on disk."""
        for a in os.scandir(self.root):
            if len(a.name) != 2 or not a.is_dir(follow_symlinks=False):
                continue
            for b in os.scandir(a.path):
                if not b.is_dir(follow_symlinks=False):
                    continue
                for f in os.scandir(b.path):
                    if len(f.name) == 64 and HEX.issuperset(f.name) and f.is_file(follow_symlinks=False):
                        yield f.name, Path(f.path)

    def collect_garbage(self, referenced, older_than_s: float = 3600.0, now: float | None = None,
                        dry_run: bool = False) -> GcReport:
        """Remove blobs that `referenced(shas) -> set` does not know and temp files, both older than the grace.

        A blob is first renamed aside, then checked again: if an upload of the same content touched it in the
        meantime (see `_commit`) it is put back, so a blob about to be referenced is never lost.
        """
        cutoff = (time.time() if now is None else now) - older_than_s
        rep = GcReport()
        for f in os.scandir(self.tmp):
            try:
                st = f.stat(follow_symlinks=False)
                if st.st_mtime < cutoff:
                    if not dry_run:
                        os.unlink(f.path)
                    rep.temp_removed += 1
                    rep.removed.append(("tmp/" + f.name, st.st_size))
            except FileNotFoundError:
                pass
        old, batch = [], []

        def flush():
            known = referenced([sha for sha, _ in batch])
            rep.kept_referenced += sum(1 for sha, _ in batch if sha in known)
            old.extend((sha, p) for sha, p in batch if sha not in known)
            batch.clear()

        for sha, p in self.stored():
            try:
                if p.stat().st_mtime >= cutoff:
                    rep.kept_recent += 1
                    continue
            except FileNotFoundError:
                continue
            batch.append((sha, p))
            if len(batch) >= 500:
                flush()
        if batch:
            flush()
        for sha, p in old:
            if dry_run:
                rep.removed.append((sha, p.stat().st_size))
                continue
            aside = self.tmp / f"gc-{sha}-{os.getpid()}"
            try:
                os.rename(p, aside)
            except FileNotFoundError:
                continue
            st = aside.stat()
            if st.st_mtime >= cutoff:  # touched by an upload since it was listed: put it back
                try:
                    os.link(aside, p)
                except FileExistsError:
                    pass
                os.unlink(aside)
                rep.kept_recent += 1
                continue
            os.unlink(aside)
            rep.removed.append((sha, st.st_size))
        return rep
