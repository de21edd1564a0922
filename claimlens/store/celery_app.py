"""Celery backend of the job interface: the task runs a job of the `jobs` table by id.

Worker: `celery -A claimlens.store.celery_app worker` with the same CLAIMLENS_DATABASE_URL, CLAIMLENS_DATA_DIR
(shared storage) and CLAIMLENS_CELERY_BROKER (redis://... or amqp://...) as the API servers.
"""

from __future__ import annotations

import os
import threading

from celery import Celery

BROKER = os.environ.get("CLAIMLENS_CELERY_BROKER") or "redis://127.0.0.1:6379/0"
TASK = "claimlens.run_job"

app = Celery("claimlens", broker=BROKER)
app.conf.update(
    task_acks_late=True,  # a worker killed mid-job leaves the message for another one
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    task_default_queue=os.environ.get("CLAIMLENS_CELERY_QUEUE", "claimlens"),
)

_store = None
_lock = threading.Lock()
_senders: dict[str, Celery] = {}


def worker_store():
    global _store
    with _lock:
        if _store is None:
            from .core import Store

            _store = Store(job_backend="inprocess", job_workers=0)
            _store.jobs.recover()
        return _store


@app.task(name=TASK)
def run_job(job_id: int) -> str:
    return worker_store().jobs.run(int(job_id))


def send(settings, job_id: int) -> None:
    """Queue job_id on the broker in settings (one producer app per broker URL)."""
    url = settings.celery_broker
    with _lock:
        sender = _senders.get(url)
        if sender is None:
            sender = app if url == BROKER else Celery("claimlens", broker=url, set_as_current=False)
            sender.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)
            _senders[url] = sender
    sender.send_task(TASK, args=[job_id], queue=settings.celery_queue)
