import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from claimlens.index import transforms as T
from claimlens.index.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip(tmp_path, photos, capsys):
    ix = str(tmp_path / "ix")
    for i, n in enumerate(("coffee", "astronaut", "rocket")):
        (tmp_path / f"{n}.jpg").write_bytes(T.jpeg(photos[n], 90))
    (tmp_path / "query.jpg").write_bytes(T.jpeg(T.crop(T.mirror(photos["astronaut"]), np.random.default_rng(1))))

    assert main(["index", "add", str(tmp_path / "coffee.jpg"), "--index", ix, "--id", "11", "--meta", "claim=C11",
                 "--meta", "buyer=ann"]) == 0
    assert main(["index", "add", str(tmp_path / "astronaut.jpg"), "--index", ix, "--id", "12", "--meta", "claim=C12"]) == 0
    assert main(["index", "add", str(tmp_path / "rocket.jpg"), "--index", ix]) == 0
    capsys.readouterr()

    assert main(["index", "search", str(tmp_path / "query.jpg"), "--index", ix, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["photo_id"] for m in out["matches"]] == [12]
    assert out["matches"][0]["meta"]["claim"] == "C12" and out["matches"][0]["transform"]["mirrored"]

    assert main(["index", "stats", "--index", ix]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == 3
    assert main(["index", "remove", "12", "--index", ix]) == 0
    assert main(["index", "search", str(tmp_path / "query.jpg"), "--index", ix]) == 0
    assert "no earlier photo" in capsys.readouterr().out
    assert main(["index", "verify", "--index", ix]) == 0

    seg = sorted((tmp_path / "ix" / "local").glob("seg-*-codes.npy"))[0]
    raw = bytearray(seg.read_bytes())
    raw[-5] ^= 0x01
    seg.write_bytes(bytes(raw))
    assert main(["index", "stats", "--index", ix]) == 7
    assert "checksum mismatch" in capsys.readouterr().err
    assert main(["index", "rebuild", "--index", ix]) == 0
    assert main(["index", "verify", "--index", ix]) == 0
    capsys.readouterr()
    assert main(["index", "stats", "--index", ix]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == 2


def test_module_runs_on_its_own(tmp_path, photos):
    (tmp_path / "a.jpg").write_bytes(T.jpeg(photos["coffee"]))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "claimlens.index.cli", "index", *a, "--index", str(tmp_path / "ix")],
                                    capture_output=True, text=True, env=env)
    r = run("add", str(tmp_path / "a.jpg"), "--id", "5")
    assert r.returncode == 0 and "added 5" in r.stdout
    r = run("search", str(tmp_path / "a.jpg"))
    assert r.returncode == 0 and r.stdout.startswith("5\t")
