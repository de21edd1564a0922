"""Content-addressed file store: blobs/ab/cd/<sha256>. Written via temp file + fsync + link; never overwritten."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..cases.errors import TooLarge

CHUNK = 1024 * 1024


@dataclass
class StoredFile:
    sha256: str
    size: int
    path: Path
    filename: str = ""


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put_stream(self, fileobj, max_bytes: int | None = None, filename: str = "") -> StoredFile:
        """Copy a readable stream into the store; TooLarge (nothing kept) past max_bytes."""
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="up-")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = fileobj.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(f"{filename or 'file'} is larger than the {max_bytes / 1e6:.0f} MB limit")
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = h.hexdigest()
            self._commit(tmp, sha)
            return StoredFile(sha, size, self.path(sha), filename)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_bytes(self, data: bytes, filename: str = "") -> StoredFile:
        import io

        return self.put_stream(io.BytesIO(data), filename=filename)

    def _commit(self, tmp: str, sha: str) -> None:
        final = self.path(sha)
        if final.exists():
            return  # same content already stored: never overwrite
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)  # fails if another writer got there first; the content is the same
        except FileExistsError:
            return
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
