"""The one job interface. Jobs live in the `jobs` table, written in the caller's transaction; a backend runs them.

Backends: "inprocess" (threads in the server claim queued jobs from the table) and "celery" (the task runs the
job by id, so both share the same table and the same recovery). A job whose worker died goes back to the queue:
at start-up for workers of this host whose process is gone, otherwise when its lease runs out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import traceback
from typing import Callable

from sqlalchemy import and_, event, or_, select, update

from .models import Job, utcnow

log = logging.getLogger(__name__)
HANDLERS: dict[str, Callable] = {}
INSERT_JOB = Job.__table__.insert().returning(Job.__table__.c.id)
HOST = socket.gethostname()
PROCESS_TOKEN = secrets.token_hex(4)


FAILED: dict[str, Callable] = {}  # kind -> called with (store, payload, error) when a job gives up


def handler(kind: str, on_failure: Callable | None = None):
    def deco(fn):
        HANDLERS[kind] = fn
        if on_failure is not None:
            FAILED[kind] = on_failure
        return fn

    return deco


def worker_id() -> str:
    return f"{HOST}:{os.getpid()}:{PROCESS_TOKEN}:{threading.get_ident() % 100000}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Jobs:
    def __init__(self, store, backend: str = "inprocess", workers: int = 2, lease_seconds: float = 600.0):
        if backend not in ("inprocess", "celery"):
            raise ValueError(f"unknown job backend {backend!r}")
        self.store = store
        self.backend = backend
        self.workers = workers
        self.lease = dt.timedelta(seconds=lease_seconds)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.periodic: list[tuple[float, Callable]] = []  # (interval s, fn) run by the first worker
        event.listen(store.db.Session, "after_commit", self._after_commit)
        event.listen(store.db.Session, "after_rollback", self._after_rollback)

    # Producing ----------------------------------------------------------------------------------
    def enqueue(self, session, kind: str, payload: dict, claim_id: int | None = None) -> int:
        """Add a job in the caller's transaction; it becomes visible (and runs) only if that commits."""
        if kind not in HANDLERS:
            raise ValueError(f"no handler for job kind {kind!r}")
        now = utcnow()
        jid = session.connection().execute(INSERT_JOB, dict(
            kind=kind, payload=payload, claim_id=claim_id, state="queued", attempts=0, max_attempts=5, worker=None,
            lease_until=None, error=None, created_at=now, updated_at=now)).scalar_one()
        session.info.setdefault("jobs_to_notify", []).append(jid)
        return jid

    def _after_commit(self, session):
        ids = session.info.pop("jobs_to_notify", None)
        if ids:
            self.notify(ids)

    def _after_rollback(self, session):
        session.info.pop("jobs_to_notify", None)

    def notify(self, ids: list[int]) -> None:
        if self.backend == "celery":
            from .celery_app import send

            for jid in ids:
                try:
                    send(self.store.settings, jid)
                except Exception as exc:  # the job stays queued; start() re-sends queued jobs
                    log.error("could not send job %s to the broker: %s", jid, exc)
        else:
            self._wake.set()

    # Running ----------------------------------------------------------------------------------
    def run(self, job_id: int, worker: str | None = None) -> str:
        """Claim job_id and run it: 'done', 'retry', 'failed' or 'skipped' (someone else has it, or it is done)."""
        worker = worker or worker_id()
        db = self.store.db
        now = utcnow()
        with db.session() as s:
            res = s.execute(update(Job).where(
                Job.id == job_id,
                or_(and_(Job.state == "queued", or_(Job.lease_until.is_(None), Job.lease_until <= now)),
                    and_(Job.state == "running", Job.lease_until < now)),
            ).values(state="running", worker=worker, lease_until=now + self.lease, attempts=Job.attempts + 1,
                     updated_at=now))
            if res.rowcount != 1:
                return "skipped"
            job = s.get(Job, job_id)
            kind, payload, attempts, max_attempts = job.kind, dict(job.payload), job.attempts, job.max_attempts
        try:
            HANDLERS[kind](self.store, payload)
        except Exception as exc:
            log.error("job %s (%s) failed on attempt %s: %s", job_id, kind, attempts, exc)
            final = attempts >= max_attempts
            with db.session() as s:
                s.execute(update(Job).where(Job.id == job_id, Job.worker == worker).values(
                    state="failed" if final else "queued", worker=None,
                    lease_until=None if final else utcnow() + dt.timedelta(seconds=2 ** attempts),
                    error="".join(traceback.format_exception_only(type(exc), exc))[-2000:], updated_at=utcnow()))
            if final and kind in FAILED:
                try:
                    FAILED[kind](self.store, payload, exc)
                except Exception as exc2:
                    log.error("job %s: failure handler: %s", job_id, exc2)
            return "failed" if final else "retry"
        with db.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.worker == worker).values(
                state="done", lease_until=None, error=None, updated_at=utcnow()))
        return "done"

    def next_queued(self) -> int | None:
        now = utcnow()
        with self.store.db.read() as s:
            return s.scalar(select(Job.id).where(
                Job.state == "queued", or_(Job.lease_until.is_(None), Job.lease_until <= now)).order_by(Job.id).limit(1))

    def drain(self, limit: int = 10_000) -> int:
        """Run queued jobs here until none is left (tests, CLI). Returns how many ran."""
        n = 0
        while n < limit:
            jid = self.next_queued()
            if jid is None:
                return n
            if self.run(jid) != "skipped":
                n += 1
        return n

    def recover(self) -> int:
        """Re-queue running jobs whose worker is gone: same host and dead process, or lease expired."""
        now = utcnow()
        requeue = []
        with self.store.db.read() as s:
            for jid, worker, lease in s.execute(select(Job.id, Job.worker, Job.lease_until).where(Job.state == "running")):
                parts = (worker or "").split(":")
                dead = len(parts) >= 3 and parts[0] == HOST and (
                    not parts[1].isdigit() or not _pid_alive(int(parts[1]))
                    or (int(parts[1]) == os.getpid() and parts[2] != PROCESS_TOKEN))
                if dead or (lease is not None and lease < now):
                    requeue.append((jid, worker))
        with self.store.db.session() as s:
            for jid, worker in requeue:
                s.execute(update(Job).where(Job.id == jid, Job.state == "running", Job.worker == worker)
                          .values(state="queued", worker=None, lease_until=None, updated_at=now))
        if requeue:
            log.warning("re-queued %d interrupted job(s)", len(requeue))
        return len(requeue)

    def start(self) -> None:
        self.recover()
        if self.backend == "celery":
            with self.store.db.read() as s:
                queued = list(s.execute(select(Job.id).where(Job.state == "queued")).scalars())
            if queued:
                self.notify(queued)
        self._stop.clear()
        if self.periodic:
            t = threading.Thread(target=self._maintain, name="claimlens-maintenance", daemon=True)
            t.start()
            self._threads.append(t)
        if self.backend == "celery":
            return
        for i in range(self.workers):
            t = threading.Thread(target=self._loop, args=(i,), name=f"claimlens-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _maintain(self) -> None:
        """Periodic work (deadline sweeps), whatever the backend."""
        last: dict = {}
        while not self._stop.wait(1.0):
            for interval, fn in self.periodic:
                now = utcnow().timestamp()
                if now - last.get(fn, 0) >= interval:
                    last[fn] = now
                    try:
                        fn()
                    except Exception as exc:
                        log.error("periodic %s: %s", getattr(fn, "__name__", fn), exc)

    def _loop(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                self._wake.clear()
                jid = self.next_queued()
                if jid is not None:
                    self.run(jid)
                    continue
            except Exception as exc:  # a database hiccup must not kill the worker
                log.error("job worker: %s", exc)
                self._stop.wait(1.0)
            self._wake.wait(2.0)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
