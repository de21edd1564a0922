"""Kill the server (SIGKILL) mid-analysis and mid-upload: nothing accepted is lost, and an interrupted
analysis is picked up again after a restart."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from claimlens.store import Store
from claimlens.store.models import Claim, ClaimMedia, Job
from claimlens.store.testing import World, make_settings, photo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, settings, delay: float = 0.0, job_workers: int = 1, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CLAIMLENS_DETECTORS": ",".join(settings.detectors),
               "CLAIMLENS_ANALYSIS_DELAY_S": str(delay), "CLAIMLENS_JOB_WORKERS": str(job_workers), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "claimlens.api.cli", "serve", "--port", str(self.port), "--data-dir",
             str(settings.data_dir), "--database-url", settings.database_url, "--no-access-log",
             "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read().decode()[-3000:]
            try:
                if httpx.get(self.url + "/api/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def post(url, w, order, data, timeout=30, client=None):
    return (client or httpx).post(url + "/api/claims", headers=w.headers("buyer_x"), timeout=timeout,
                      data={"order_id": order, "product_id": str(w.product_a), "type": "refund_only",
                            "amount": "5.00"}, files=[("files", ("c.jpg", data, "image/jpeg"))])


@pytest.mark.slow
def test_interrupted_analysis_is_picked_up_after_restart(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url)
    st = Store(settings)
    w = World(st)
    srv = Server(settings, delay=30)
    try:
        r = post(srv.url, w, "O-1", photo(1))
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        deadline = time.time() + 30
        while time.time() < deadline:  # wait until the worker holds the job
            with st.db.read() as s:
                job = s.execute(select(Job).where(Job.claim_id == cid)).scalar_one()
                if job.state == "running" and s.get(Claim, cid).state == "analysing":
                    break
            time.sleep(0.1)
        assert job.state == "running"
        srv.kill()
        with st.db.read() as s:
            assert s.get(Claim, cid).state == "analysing"
        srv = Server(settings, delay=0)
        deadline = time.time() + 60
        while time.time() < deadline:
            with st.db.read() as s:
                c = s.get(Claim, cid)
                if c.state not in ("submitted", "analysing"):
                    break
            time.sleep(0.2)
        d = httpx.get(f"{srv.url}/api/claims/{cid}", headers=w.headers("buyer_x")).json()
        assert d["state"] == "approved" and d["media"][0]["analysis"] is not None
        assert [e["action"] for e in d["timeline"]] == ["submit", "start_analysis", "auto_approve"]
        with st.db.read() as s:
            job = s.execute(select(Job).where(Job.claim_id == cid)).scalar_one()
        assert job.state == "done" and job.attempts == 2
    finally:
        srv.stop()
        st.close()


@pytest.mark.slow
def test_no_accepted_claim_is_lost_when_killed_during_uploads(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url)
    st = Store(settings)
    w = World(st)
    srv = Server(settings, job_workers=0)
    accepted, stop = [], threading.Event()
    photos = [photo(i) for i in range(6)]

    def load(k):
        i = 0
        client = httpx.Client()
        while not stop.is_set():
            try:
                r = post(srv.url, w, f"O-{k}-{i}", photos[(k + i) % len(photos)], timeout=5, client=client)
                if r.status_code == 201:
                    accepted.append((r.json()["id"], r.json()["media"][0]["sha256"]))
            except httpx.HTTPError:
                pass
            i += 1

    threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.time() + 20
        while len(accepted) < 40 and time.time() < deadline:
            time.sleep(0.05)
        srv.kill()
        stop.set()
        for t in threads:
            t.join(10)
        assert len(accepted) >= 5
        with st.db.read() as s:
            for cid, sha in accepted:
                c = s.get(Claim, cid)
                assert c is not None and c.state == "submitted"
                assert s.scalar(select(ClaimMedia.blob_sha).where(ClaimMedia.claim_id == cid)) == sha
                assert st.blobs.verify(sha)
                assert s.scalar(select(Job.state).where(Job.claim_id == cid)) == "queued"
            # every stored claim is whole: each has its photo on disk
            for cid, sha in s.execute(select(ClaimMedia.claim_id, ClaimMedia.blob_sha)).all():
                assert st.blobs.verify(sha)
            from claimlens.store import audit

            assert audit.verify(s).ok
        # a restart collects what the kill left unreferenced (no grace here: nothing is in flight), such as a
        # file stored just before the kill and a half-written upload
        orphan = st.blobs.put_bytes(photo(0) + os.urandom(16))
        (st.blobs.tmp / "up-killed").write_bytes(b"half an upload")
        srv = Server(settings, job_workers=0, env={"CLAIMLENS_BLOB_GC_GRACE_S": "0"})
        with st.db.read() as s:
            referenced = set(s.execute(select(ClaimMedia.blob_sha)).scalars())
        assert {sha for sha, _ in st.blobs.stored()} == referenced and orphan.sha256 not in referenced
        assert os.listdir(st.blobs.tmp) == []
        assert all(st.blobs.verify(sha) for _, sha in accepted)
    finally:
        stop.set()
        srv.stop()
        st.close()
