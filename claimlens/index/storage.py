"""Crash-safe files: write to a temporary name, fsync, rename; checksums to detect corruption."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from claimlens.forensics.errors import ClaimlensError


class IndexCorrupt(ClaimlensError):
    """An index file is missing or its checksum does not match: rebuild the index."""

    exit_code = 7


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file."""
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def crc32_file(path: Path, chunk: int = 1 << 24) -> int:
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"unreadable ({exc})", str(path)) from None


def remove_strays(folder: Path, keep: set[str], patterns: tuple[str, ...]) -> list[str]:
    """Delete files matching `patterns` that the manifest does not list (left by an interrupted write)."""
    removed = []
    for pat in patterns:
        for p in folder.glob(pat):
            if p.name not in keep:
                try:
                    p.unlink()
                    removed.append(p.name)
                except OSError:
                    pass
    return removed
