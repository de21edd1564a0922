"""Storage: SQLAlchemy models and migrations, evidence blobs, keys, jobs and the claim service."""

from .core import Store
from .settings import Settings

__all__ = ["Store", "Settings"]
