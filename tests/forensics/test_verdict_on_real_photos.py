"""Real, unedited photos must never be called likely forged by the photo-only checks."""

import pytest

from claimlens.forensics import Evidence, analyze


def pristine(shared):
    mv = shared / "multiview"
    files = sorted(mv.glob("superglue/**/*.jpg"))[::6] + sorted(mv.glob("oxford_affine_mllab/**/*.png"))[::4]
    files += sorted((shared / "TruFor/test_docker/images").glob("pristine*"))
    return files


def test_pristine_photos_are_never_likely_forged(shared_data):
    files = pristine(shared_data)
    assert len(files) >= 8
    verdicts = {f.name: analyze(Evidence.from_path(f), exclude=["visible_label"]).verdict for f in files}
    assert "likely_forged" not in verdicts.values(), verdicts
    # most are clean; a few may go to a person as "suspicious"
    assert sum(v == "no_evidence_of_forgery" for v in verdicts.values()) >= 0.75 * len(files), verdicts
