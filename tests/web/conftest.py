"""Browser tests of the console: Debian's Chromium driven by Playwright (pytest-playwright), never a download.

One server per test session: a uvicorn subprocess on 127.0.0.1 with a temporary SQLite data directory, seeded
through the claim service with two merchants, two buyers, a reviewer, the demo listing photo as merchant A's
reference and one earlier claim that re-uses the forged photo.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "console pass 1"
SCREENSHOTS = ROOT / "screenshots"
DETECTORS = "reference,exif,jpeg_traces,generator_traces"


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: install Debian's chromium (scripts/ensure-browser.sh)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]}


@dataclass
class Console:
    url: str
    data_dir: Path
    photos: dict[str, bytes]
    ids: dict[str, int] = field(default_factory=dict)

    def sha(self, name: str) -> str:
        return hashlib.sha256(self.photos[name]).hexdigest()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMLENS_")}
    env.update(CLAIMLENS_DATA_DIR=str(data_dir), CLAIMLENS_DETECTORS=DETECTORS, CLAIMLENS_JOB_WORKERS="2",
               CLAIMLENS_ANALYSIS_DELAY_S="0.8", CLAIMLENS_AUTO_APPROVE="1", PYTHONUNBUFFERED="1")
    return env


def seed(data_dir: Path, photos: dict[str, bytes]) -> dict[str, int]:
    """Tenants, users and one earlier claim, written through the claim service (before the server starts)."""
    import io

    from claimlens.cases.workflow import SYSTEM
    from claimlens.store import Store
    from claimlens.store.service import ClaimInput
    from claimlens.store.settings import Settings
    from claimlens.store.uploads import ingest

    st = Store(Settings.from_env(data_dir=data_dir, job_workers=0), upgrade=True)
    try:
        svc = st.service
        ids = {"shop_a": svc.create_merchant(SYSTEM, "Espresso Shop"),
               "shop_b": svc.create_merchant(SYSTEM, "Lamp Shop"),
               "buyer_x": svc.create_buyer(SYSTEM, "Xavier", phone="+49 151 1234 5678"),
               "buyer_y": svc.create_buyer(SYSTEM, "Yvonne", phone="+33 6 12 34 56 78")}
        for name, role, kw in [("merchant_a", "merchant", {"merchant_id": ids["shop_a"]}),
                               ("merchant_b", "merchant", {"merchant_id": ids["shop_b"]}),
                               ("buyer_x", "buyer", {"buyer_id": ids["buyer_x"]}),
                               ("buyer_y", "buyer", {"buyer_id": ids["buyer_y"]}),
                               ("reviewer", "reviewer", {})]:
            ids["user_" + name] = svc.create_user(SYSTEM, name, PASSWORD, role, **kw)
        merchant_a = svc.actor_for_user(ids["user_merchant_a"])
        merchant_b = svc.actor_for_user(ids["user_merchant_b"])
        ids["cup"] = svc.create_product(merchant_a, "CUP-1", "Espresso cup")
        ids["lamp"] = svc.create_product(merchant_b, "LAMP-1", "Desk lamp")

        def up(name):
            s = st.settings
            return ingest(st.blobs, io.BytesIO(photos[name]), name, max_bytes=s.max_upload_bytes,
                          max_pixels=s.max_pixels, max_video_seconds=s.max_video_seconds)

        svc.add_product_photos(merchant_a, ids["cup"], [up("listing.jpg")])
        svc.add_product_photos(merchant_b, ids["lamp"], [up("lamp.jpg")])
        # an earlier claim by another buyer with the same doctored photo: the story's claim re-uses it
        buyer_y = svc.actor_for_user(ids["user_buyer_y"])
        ids["seed_claim"], _ = svc.create_claim(
            buyer_y, ClaimInput(order_ref="A-1000", product_id=ids["cup"], type="refund_only", amount="89.00",
                                reason="The cup arrived cracked."), [up("claim.jpg")])
        # and an ordinary small claim against the other shop
        buyer_x = svc.actor_for_user(ids["user_buyer_x"])
        ids["lamp_claim"], _ = svc.create_claim(
            buyer_x, ClaimInput(order_ref="B-500", product_id=ids["lamp"], type="return_and_refund", amount="30.00",
                                reason="Wrong colour."), [up("side.jpg")])
        return ids
    finally:
        st.close()


def demo_photos(tmp: Path) -> dict[str, bytes]:
    """The merchant's listing (skimage coffee), the forged claim (a crack painted in, re-saved) and others."""
    import io

    from PIL import Image
    from skimage import data

    from bench.demo import make

    paths = make(tmp / "demo")
    out = {name: paths[name].read_bytes() for name in ("listing.jpg", "claim.jpg", "packing.jpg")}
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()[:300, :400]).save(buf, "JPEG", quality=90)
    out["lamp.jpg"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buf, "JPEG", quality=90)
    out["side.jpg"] = buf.getvalue()
    return out


@pytest.fixture(scope="session")
def seeded(tmp_path_factory) -> Console:
    """The seeded data directory, shared by the browser tests' server and the page tests."""
    tmp = tmp_path_factory.mktemp("console")
    photos = demo_photos(tmp)
    return Console("", tmp / "data", photos, seed(tmp / "data", photos))


@pytest.fixture(scope="session")
def console(seeded, tmp_path_factory, request) -> Console:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing")
    tmp = tmp_path_factory.mktemp("server")
    data_dir, photos, ids = seeded.data_dir, seeded.photos, seeded.ids
    port = _free_port()
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "claimlens.api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=_env(data_dir), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    request.getfixturevalue("browser")  # start Chromium while the server boots
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/console/login", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError("console server did not start:\n" + (tmp / "server.log").read_text()[-4000:])
        time.sleep(0.2)
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        yield Console(url, data_dir, photos, ids)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


_sessions: dict[str, list] = {}


def login(context, console: Console, username: str):
    """A page of `context` logged in as username, on the user's home page. The first log-in of each user goes
    through the form; later ones reuse its session cookie (password hashing is slow on purpose)."""
    page = context.new_page()
    if username in _sessions:
        context.add_cookies(_sessions[username])
        page.goto(console.url + "/console/")
        return page
    page.goto(console.url + "/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
    _sessions[username] = [c for c in context.cookies() if c["name"] == "claimlens_session"]
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_analysed(page, console: Console, claim_id: int, timeout: float = 30.0) -> dict:
    """Poll the status endpoint (with the page's session) until the analysis has finished."""
    end = time.monotonic() + timeout
    while True:
        s = page.request.get(f"{console.url}/console/claims/{claim_id}/status.json").json()
        if not s["running"]:
            return s
        if time.monotonic() > end:
            raise AssertionError(f"claim {claim_id} still analysing: {s}")
        time.sleep(0.3)
