"""The bundled demo claim: python -m bench.demo --out demo

Writes, from scikit-image's bundled photos only (never the shared data folder):
  listing.jpg  the merchant's listing photo: skimage.data.coffee(), a cup of espresso on a saucer
  packing.jpg  stand-in for the seller's packing photo. An independent photo of the same cup does not
               exist among the bundled photos, so this is the same capture cropped to the cup,
               brightened and slightly rotated: it is *derived* from the same shot, not independent.
  claim.jpg    the forged refund claim: the listing photo with a crack painted on the cup's rim,
               blended with a feathered alpha, shrunk like a phone share (x0.8) and re-saved at JPEG 80
  claim_truth.png  where the crack was painted (white), at the claim's size
Deterministic: the same bytes every run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .corpus import decode_rgb, encode_jpeg, plan_transform, render_claim

SEED = 20240611


def listing_rgb() -> np.ndarray:
    from skimage import data

    return data.coffee()


def packing_rgb(rgb: np.ndarray) -> np.ndarray:
    """The cup cropped out of the same capture, lifted exposure, turned by 4 degrees."""
    crop = rgb[30:360, 110:520].astype(np.float32)
    crop = np.clip(crop * 1.12 + 12, 0, 255).astype(np.uint8)
    h, w = crop.shape[:2]
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 4.0, 1.1)
    return cv2.warpAffine(crop, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rgb = listing_rgb()
    listing = encode_jpeg(rgb, 92)
    packing = encode_jpeg(packing_rgb(rgb), 90)
    # the forger downloads the listing JPEG and paints on its decoded pixels
    base = decode_rgb(listing)
    rng = np.random.default_rng(SEED)
    plan = plan_transform("scale", *base.shape[:2], rng)
    plan.update(scale=0.8, quality=80, tag="scale0.8", format="JPEG")
    # the crack starts on the white rim of the cup, right of centre
    plan["window"] = (345, 95, 350, 100)
    claim, mask = render_claim(base, plan, "crack", "feather_alpha", rng, size=130.0)
    paths = {name: out / name for name in ("listing.jpg", "packing.jpg", "claim.jpg", "claim_truth.png")}
    paths["listing.jpg"].write_bytes(listing)
    paths["packing.jpg"].write_bytes(packing)
    paths["claim.jpg"].write_bytes(claim)
    Image.fromarray(mask.astype(np.uint8) * 255).save(paths["claim_truth.png"])
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write the bundled demo claim and its reference photos.")
    ap.add_argument("--out", default="demo", help="folder to write to (default: demo)")
    a = ap.parse_args(argv)
    for name, p in make(Path(a.out)).items():
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
