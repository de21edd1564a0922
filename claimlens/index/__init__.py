"""Reused-photo search: fingerprints, Hamming search backends, verified matches, findings."""

from .backends import Backend, FaissBackend, NumpyBackend, open_backend
from .findings import reuse_findings
from .fingerprint import Fingerprint, fingerprint
from .photo_index import Match, PhotoIndex
from .storage import IndexCorrupt
from .verify import Transform, verify

__all__ = [
    "Backend",
    "NumpyBackend",
    "FaissBackend",
    "open_backend",
    "Fingerprint",
    "fingerprint",
    "Match",
    "PhotoIndex",
    "IndexCorrupt",
    "Transform",
    "verify",
    "reuse_findings",
]
