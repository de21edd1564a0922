"""The command line: one JSON object with --json, documented exit codes, batch that survives bad files."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from claimlens.cli import main


@pytest.fixture()
def photos(tmp_path, coffee):
    ref = tmp_path / "listing.jpg"
    Image.fromarray(coffee).save(ref, quality=92)
    claim = tmp_path / "claim.jpg"
    Image.fromarray(coffee[40:360, 60:540]).resize((360, 240)).save(claim, quality=75)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(ref.read_bytes()[:3000])
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    return {"ref": ref, "claim": claim, "bad": bad, "text": text}


def run_cli(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "claimlens.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_analyze_json_is_one_object_with_schema(photos, tmp_path):
    out = tmp_path / "rep"
    code, stdout, stderr = run_cli("analyze", photos["claim"], "--reference", photos["ref"], "--out", out, "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)  # exactly one object: json.loads fails on trailing data
    for key in ("risk", "verdict", "references", "edited_regions", "findings", "mask_path", "heatmap_path",
                "report_path", "inputs"):
        assert key in doc
    assert doc["verdict"] in ("likely_forged", "suspicious", "no_evidence_of_forgery")
    assert 0.0 <= doc["risk"] <= 1.0
    assert [r["path"] for r in doc["references"]] == [str(photos["ref"])]
    import hashlib

    assert doc["inputs"][0]["sha256"] == hashlib.sha256(photos["claim"].read_bytes()).hexdigest()
    mask = Image.open(doc["mask_path"])
    assert mask.size == (360, 240) and mask.mode == "L"
    html = open(doc["report_path"], encoding="utf-8").read()
    assert doc["inputs"][1]["sha256"] in html and "data:image/jpeg;base64," in html
    assert "src=\"http" not in html  # self-contained


def test_analyze_readable_table(photos, tmp_path, capsys):
    code = main(["analyze", str(photos["claim"]), "-r", str(photos["ref"]), "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("verdict") and "report" in out


@pytest.mark.parametrize("which, code", [("bad", 3), ("text", 3)])
def test_analyze_bad_input_exit_codes(photos, tmp_path, which, code):
    rc, stdout, stderr = run_cli("analyze", photos[which], "--out", tmp_path / "r", "--json")
    assert rc == code
    assert "Traceback" not in stderr
    assert stderr.strip().count("\n") == 0 and str(photos[which]) in stderr
    assert json.loads(stdout)["exit_code"] == code


def test_analyze_missing_file_and_pixel_limit(photos, tmp_path):
    rc, _, stderr = run_cli("analyze", tmp_path / "nope.jpg", "--out", tmp_path / "r")
    assert rc == 3 and "no such file" in stderr
    rc, _, stderr = run_cli("analyze", photos["ref"], "--out", tmp_path / "r", "--max-pixels", "1000")
    assert rc == 4 and "exceeds the limit" in stderr


def test_batch_goes_on_past_bad_files(photos, tmp_path):
    csv_path = tmp_path / "claims.csv"
    csv_path.write_text(
        "claim_id,photo,references\n"
        f"c1,claim.jpg,listing.jpg\n"
        f"c2,broken.jpg,listing.jpg\n"
        f"c3,notes.jpg,\n"
        f"c4,listing.jpg,claim.jpg;listing.jpg\n"
    )
    out = tmp_path / "batch"
    rc, stdout, stderr = run_cli("batch", csv_path, "--out", out)
    assert rc == 6, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["claim_id"] for line in lines] == ["c1", "c2", "c3", "c4"]
    assert "verdict" in lines[0] and "verdict" in lines[3] and len(lines[3]["references"]) == 2
    assert lines[1]["exit_code"] == 3 and "broken.jpg" in lines[1]["error"]
    assert lines[2]["exit_code"] == 3
    assert "summary: claims 4, failed 2" in stderr
    assert (out / "c1" / "report.html").exists() and (out / "results.jsonl").read_text().count("\n") == 4
    assert "Traceback" not in stderr


def test_batch_with_index_names_the_earlier_claim(photos, tmp_path, coffee):
    # the same damage photo, mirrored and re-saved, behind a second claim
    Image.fromarray(np.ascontiguousarray(coffee[:, ::-1])).save(tmp_path / "again.jpg", quality=70)
    csv_path = tmp_path / "claims.csv"
    csv_path.write_text("claim_id,photo,references\nA-1,listing.jpg,\nB-2,again.jpg,\nC-3,claim.jpg,\n")
    rc, stdout, stderr = run_cli("batch", csv_path, "--out", tmp_path / "b", "--index", tmp_path / "ix", "--quiet")
    assert rc == 0, stderr
    lines = {d["claim_id"]: d for d in map(json.loads, stdout.splitlines())}
    reuse = [f for f in lines["B-2"]["findings"] if f["code"] == "reused_photo"]
    assert reuse and "A-1" in reuse[0]["message"] and reuse[0]["severity"] == "high"
    assert lines["B-2"]["risk"] >= 0.7
    assert not [f for f in lines["A-1"]["findings"] if f["code"] == "reused_photo"]
