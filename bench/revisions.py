"""A detector class as it was at another git revision, loaded beside the working tree's for a same-run comparison."""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

from claimlens.forensics import base

ROOT = Path(__file__).resolve().parents[1]


def detector_at(rev: str, module: str, cls: str):
    """Class `cls` of claimlens/forensics/detectors/<module>.py at git revision `rev` (unregistered, so the
    working tree's detector keeps its name)."""
    path = f"claimlens/forensics/detectors/{module}.py"
    src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType(f"claimlens.forensics.detectors._{module}_rev")
    mod.__package__ = "claimlens.forensics.detectors"
    real_register = base.register
    base.register = lambda c: c
    try:
        exec(compile(src, f"{rev}:{path}", "exec"), mod.__dict__)
    finally:
        base.register = real_register
    return getattr(mod, cls)
