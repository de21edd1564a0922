"""Configuration from the environment (CLAIMLENS_*), with secrets kept in the data directory when not given."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..cases.policy import AutoApprovalPolicy


def _env(name, default=None):
    v = os.environ.get(name)
    return default if v in (None, "") else v


@dataclass
class Settings:
    data_dir: Path
    database_url: str
    max_upload_bytes: int = 25 * 1024 * 1024
    max_files: int = 10
    max_request_bytes: int = 110 * 1024 * 1024
    max_pixels: int = 60_000_000
    max_video_seconds: float = 300.0
    answer_window_hours: float = 48.0
    job_backend: str = "inprocess"  # or "celery"
    job_workers: int = 2
    job_lease_seconds: float = 600.0
    celery_broker: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = "claimlens"
    analysis_delay_s: float = 0.0  # test aid: hold each analysis this long (crash-recovery tests)
    platform_name: str = "claimlens"
    blob_gc_grace_s: float = 3600.0  # unreferenced blobs younger than this are kept (uploads in flight)
    token_cache_s: float = 5.0  # how long a process trusts a checked API token (bound on revocation elsewhere)
    detectors: list[str] | None = None  # run only these forensic detectors (default: all)
    photo_index: bool = True  # also search the reused-photo index (claimlens.index) in data_dir/index
    auto_approval: AutoApprovalPolicy = field(default_factory=AutoApprovalPolicy)
    credit_trusted_keys: list[str] = field(default_factory=list)
    secrets: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        data_dir = Path(overrides.pop("data_dir", None) or _env("CLAIMLENS_DATA_DIR", "./data")).resolve()
        url = overrides.pop("database_url", None) or _env("CLAIMLENS_DATABASE_URL") or f"sqlite:///{data_dir / 'claimlens.db'}"
        policy = AutoApprovalPolicy(
            enabled=_env("CLAIMLENS_AUTO_APPROVE", "1") not in ("0", "false", "no"),
            max_amount_cents=int(float(_env("CLAIMLENS_AUTO_APPROVE_MAX_AMOUNT", "50")) * 100),
            max_recent_refunds=int(_env("CLAIMLENS_AUTO_APPROVE_MAX_REFUNDS", "3")),
        )
        s = cls(
            data_dir=data_dir,
            database_url=normalise_url(url),
            max_upload_bytes=int(_env("CLAIMLENS_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)),
            max_pixels=int(_env("CLAIMLENS_MAX_PIXELS", 60_000_000)),
            max_request_bytes=int(_env("CLAIMLENS_MAX_REQUEST_BYTES", 110 * 1024 * 1024)),
            answer_window_hours=float(_env("CLAIMLENS_ANSWER_WINDOW_HOURS", 48)),
            job_backend=_env("CLAIMLENS_JOBS", "inprocess"),
            job_workers=int(_env("CLAIMLENS_JOB_WORKERS", 2)),
            celery_broker=_env("CLAIMLENS_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
            celery_queue=_env("CLAIMLENS_CELERY_QUEUE", "claimlens"),
            analysis_delay_s=float(_env("CLAIMLENS_ANALYSIS_DELAY_S", 0)),
            platform_name=_env("CLAIMLENS_PLATFORM_NAME", "claimlens"),
            token_cache_s=float(_env("CLAIMLENS_TOKEN_CACHE_S", 5.0)),
            blob_gc_grace_s=float(_env("CLAIMLENS_BLOB_GC_GRACE_S", 3600.0)),
            detectors=[d for d in _env("CLAIMLENS_DETECTORS", "").split(",") if d] or None,
            photo_index=_env("CLAIMLENS_PHOTO_INDEX", "1") not in ("0", "false", "no"),
            auto_approval=policy,
            credit_trusted_keys=[k for k in (_env("CLAIMLENS_CREDIT_TRUSTED_KEYS", "") or "").split(",") if k],
        )
        if overrides:
            s = replace(s, **overrides)
        if s.database_url != url:
            s.database_url = normalise_url(s.database_url)
        return s

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    # Secrets -------------------------------------------------------------------------------
    def secret_file(self) -> Path:
        return self.data_dir / "secrets.json"

    def load_secrets(self) -> dict:
        """Secrets from the environment, else from data_dir/secrets.json (created 0600 on first use)."""
        if self.secrets:
            return self.secrets
        path = self.secret_file()
        stored = json.loads(path.read_text()) if path.exists() else {}
        changed = False

        def get(name, env, make):
            nonlocal changed
            v = _env(env)
            if v:
                return v
            if name not in stored:
                stored[name] = make()
                changed = True
            return stored[name]

        rand = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
        out = {
            "data_keys": get("data_keys", "CLAIMLENS_DATA_KEYS", lambda: f"k1:{rand()}"),
            "search_key": get("search_key", "CLAIMLENS_SEARCH_KEY", rand),
            "session_secret": get("session_secret", "CLAIMLENS_SESSION_SECRET", rand),
            "consortium_key": get("consortium_key", "CLAIMLENS_CONSORTIUM_KEY", rand),
            "signing_key": get("signing_key", "CLAIMLENS_SIGNING_KEY", rand),
        }
        if changed:
            write_secrets(path, stored)
        self.secrets = out
        return out

    def add_data_key(self) -> str:
        """Rotation: a new current data key in secrets.json (keys from the environment are rotated there)."""
        if _env("CLAIMLENS_DATA_KEYS"):
            raise RuntimeError("data keys come from CLAIMLENS_DATA_KEYS: put the new key first there")
        path = self.secret_file()
        stored = json.loads(path.read_text()) if path.exists() else {}
        self.secrets = {}
        current = self.load_secrets()["data_keys"]
        n = 1 + max(int(k.split(":")[0].lstrip("k") or 0) for k in current.split(",") if k.split(":")[0][1:].isdigit())
        kid = f"k{n}"
        stored = json.loads(path.read_text())
        stored["data_keys"] = f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}," + current
        write_secrets(path, stored)
        self.secrets = {}
        return kid


def write_secrets(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
