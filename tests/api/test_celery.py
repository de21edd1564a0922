"""The Celery backend with a real worker (subprocess) on the local Redis and RabbitMQ brokers."""

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from claimlens.store import Store
from claimlens.store.testing import World, make_settings, post_claim

BROKERS = {"redis": ("127.0.0.1", 6379, "redis://127.0.0.1:6379/0"),
           "rabbitmq": ("127.0.0.1", 5672, "amqp://guest:guest@127.0.0.1:5672//")}


def reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.celery
@pytest.mark.parametrize("broker", list(BROKERS))
def test_celery_worker_analyses_a_claim(tmp_path, db_url, broker):
    host, port, url = BROKERS[broker]
    if not reachable(host, port):
        pytest.skip(f"{broker} broker unreachable at {host}:{port}")
    if db_url.startswith("sqlite") and broker == "rabbitmq":
        pytest.skip("one broker is enough on SQLite; both run on PostgreSQL")
    from fastapi.testclient import TestClient

    from claimlens.api.app import create_app

    queue = f"claimlens-test-{uuid.uuid4().hex[:8]}"
    settings = make_settings(tmp_path, db_url, job_backend="celery", celery_broker=url, celery_queue=queue)
    env = {**os.environ, "CLAIMLENS_DATABASE_URL": db_url, "CLAIMLENS_DATA_DIR": str(settings.data_dir),
           "CLAIMLENS_CELERY_BROKER": url, "CLAIMLENS_CELERY_QUEUE": queue,
           "CLAIMLENS_DETECTORS": ",".join(settings.detectors)}
    st = Store(settings)
    w = World(st)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "claimlens.store.celery_app", "worker", "--pool=solo",
         "--concurrency=1", "-Q", queue, "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with TestClient(create_app(store=st)) as c:
            r = post_claim(c, w)
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            deadline = time.time() + 90
            state = None
            while time.time() < deadline:
                state = c.get(f"/api/claims/{cid}", headers=w.headers("buyer_x")).json()["state"]
                if state not in ("submitted", "analysing"):
                    break
                assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
                time.sleep(0.3)
            d = c.get(f"/api/claims/{cid}", headers=w.headers("buyer_x")).json()
            assert d["state"] == "approved", state
            assert d["media"][0]["analysis"]["verdict"] == "no_evidence_of_forgery"
            from sqlalchemy import select

            from claimlens.store.models import Job

            with st.db.read() as s:
                job = s.execute(select(Job).where(Job.claim_id == cid)).scalar_one()
            assert job.state == "done" and job.worker.split(":")[1] == str(worker.pid)
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        st.close()
