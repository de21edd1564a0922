"""Store: the database, the blob store, keys and the job queue, built once from Settings."""

from __future__ import annotations

import base64
import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .blobs import BlobStore
from .crypto import Hasher, KeyRing, reencrypt_rows
from .db import Database
from .jobs import Jobs
from .settings import Settings

log = logging.getLogger(__name__)


class Store:
    def __init__(self, settings: Settings | None = None, *, upgrade: bool = False, job_backend: str | None = None,
                 job_workers: int | None = None):
        from . import analysis  # noqa: F401  (registers the job handlers)
        from .service import ClaimService

        self.settings = settings or Settings.from_env()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        sec = self.settings.load_secrets()
        self.keyring = KeyRing(sec["data_keys"])
        self.hasher = Hasher(sec["search_key"])
        self.consortium_key = base64.b64decode(sec["consortium_key"])
        self.signing_key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(sec["signing_key"])[:32])
        self.session_secret = sec["session_secret"]
        self.db = Database(self.settings.database_url)
        if upgrade:
            from .migrate import upgrade as run_upgrade

            run_upgrade(self.db)
        self.blobs = BlobStore(self.settings.data_dir / "blobs")
        self.jobs = Jobs(self, job_backend or self.settings.job_backend,
                         self.settings.job_workers if job_workers is None else job_workers,
                         self.settings.job_lease_seconds)
        self.service = ClaimService(self)
        self.jobs.periodic.append((30.0, self.service.expire_deadlines))
        from .repair_desk import RepairDesk

        self.repair = RepairDesk(self)  # the repair desk: acceptance time-outs and waiting jobs swept here
        self.jobs.periodic.append((30.0, self.repair.sweep))

    def consortium_hash(self, kind: str, value: str) -> str:
        from ..cases.identity import keyed_hash

        return keyed_hash(self.consortium_key, kind, value)

    def rotate_keys(self, batch: int = 500) -> dict:
        """Re-encrypt every personal-data ciphertext that is not under the current key."""
        from .models import Buyer

        fields = (("phone_enc", "buyer.phone"), ("address_enc", "buyer.address"), ("id_number_enc", "buyer.id_number"))
        changed = reencrypt_rows(self.db, self.keyring, Buyer, fields, batch)
        changed += self.repair.rotate_keys(batch)
        with self.db.session() as s:
            from . import audit

            audit.append(s, actor="system", action="rotate_keys", data={"current": self.keyring.current,
                                                                         "reencrypted": changed})
        return {"current_key": self.keyring.current, "reencrypted": changed}

    def start(self) -> None:
        self.jobs.start()

    def close(self) -> None:
        self.jobs.stop()
        self.db.dispose()
