"""Seeded benchmark corpus: forged and genuine refund claims with ground-truth edit masks.

Made from real photos: the Solidus sample-store listing photos and the independent captures in
multiview/pairs.csv under the shared data folder (CLAIMLENS_SHARED_DATA, default ../shared/data),
and scikit-image's bundled photos, so a corpus can always be made without the shared folder.

Kinds of case (cycled in a fixed pattern, everything else drawn from a per-case seed):
  forged          listing photo -> damage painted in -> phone/chat processing; reference: listing (derived)
  derived         listing photo -> phone/chat processing, no edit (derived)
  same_item       independent photo of the same item as the reference (multiview image_a vs image_b)
  unrelated       a photo of something else than the reference
  no_reference    an independent photo, damage painted in or not; no derived reference
                  (either none, or an independent photo of the same item): for photo-only detectors
Some cases get a second, unrelated reference (a "packing" photo of another parcel).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from .damage import BLENDS, DAMAGES, edit, pick_centre

ROOT = Path(__file__).resolve().parents[1]

TRANSFORMS = (
    "none", "jpeg", "scale", "crop", "rot90", "rot180", "rot_small", "mirror",
    "filter_warm", "filter_cool", "filter_bright", "filter_contrast", "screenshot", "chat",
)
# one block of ten cases; counts per block: 4 forged, 2 derived, 1 same_item, 1 unrelated, 2 no_reference
PATTERN = ("forged", "derived", "forged", "same_item", "forged", "derived",
           "no_reference_edited", "unrelated", "forged", "no_reference_clean")
SKIMAGE_PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


@dataclass
class Case:
    case_id: str
    claim: bytes                 # encoded claim photo (JPEG/PNG bytes as a phone/chat app would send)
    references: list[bytes]      # encoded reference photos (listing / packing)
    reference_relations: list[str]  # truth per reference: "derived" | "same_item" | "unrelated"
    mask: np.ndarray | None      # bool HxW at the claim's size, True = edited; None when unedited
    edited: bool                 # any local edit painted in
    transform: str               # e.g. "jpeg50", "scale0.3", "crop0.4", "rot90", "mirror", "filter_warm", "screenshot", "none"
    damage: str | None           # "crack" | "shatter" | "stain" | "scratch" | "dent" | "tear" | "missing_part" | None
    blend: str | None            # "seamless_clone" | "feather_alpha" | "synth_texture" | "regenerated_patch" | None
    source: str                  # which photo it came from


def family(tag: str) -> str:
    """Transform tag -> its family: jpeg50 -> jpeg, rot-2.5 -> rot_small, rot270 -> rot90."""
    if tag in ("rot90", "rot270"):
        return "rot90"
    if tag == "rot180":
        return "rot180"
    if tag.startswith("rot"):
        return "rot_small"
    m = re.match(r"[a-z_]+?(?=[-\d.]|$)", tag)
    return m.group(0) if m else tag


# Sources ---------------------------------------------------------------------------------
def shared_dir() -> Path:
    return Path(os.environ.get("CLAIMLENS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Photo:
    name: str  # e.g. "skimage:coffee", "solidus:ruby_mug.jpg"
    path: str | None = None  # file under the shared folder, or None for skimage

    def data(self) -> bytes:
        return _photo_bytes(self)

    def rgb(self) -> np.ndarray:
        return decode_rgb(self.data())


@lru_cache(maxsize=64)
def _photo_bytes(photo: Photo) -> bytes:
    if photo.path is not None:
        data = Path(photo.path).read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                # a cut-out product shot: the shop shows it on white, and so does an editor
                rgba = im.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                buf = io.BytesIO()
                flat.save(buf, "PNG")
                return buf.getvalue()
        return data
    from skimage import data as skdata

    # a bundled array: saved once as a web-quality listing JPEG
    return encode_jpeg(getattr(skdata, photo.name.split(":", 1)[1])(), 92)


@lru_cache(maxsize=8)
def pools(sources: str = "all") -> dict[str, list]:
    """listing: photos a merchant would list; pairs: (a, b) independent captures of one item."""
    if sources not in ("all", "skimage", "shared"):
        raise ValueError(f"sources must be all, skimage or shared, not {sources!r}")
    listing: list[Photo] = []
    pairs: list[tuple[Photo, Photo]] = []
    d = shared_dir()
    if sources in ("all", "shared"):
        prod = d / "solidus_products"
        if prod.is_dir():
            for p in sorted(prod.rglob("*")):
                if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
                    listing.append(Photo(f"solidus:{p.name}", str(p)))
        mv = d / "multiview" / "pairs.csv"
        if mv.is_file():
            with open(mv, newline="") as f:
                for row in csv.DictReader(f):
                    a, b = (d / "multiview" / row[k] for k in ("image_a", "image_b"))
                    if a.is_file() and b.is_file():
                        pairs.append((Photo(f"multiview:{row['image_a']}", str(a)),
                                      Photo(f"multiview:{row['image_b']}", str(b))))
        if sources == "shared" and not listing:
            raise FileNotFoundError(f"no shared data under {d}")
    if sources in ("all", "skimage"):
        listing += [Photo(f"skimage:{n}") for n in SKIMAGE_PHOTOS]
    return {"listing": listing, "pairs": pairs}


# Encoding --------------------------------------------------------------------------------
def decode_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        if im.mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")  # as claimlens decodes it: colour under the alpha kept
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality))
    return buf.getvalue()


def encode_png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


# Phone / chat-app processing ---------------------------------------------------------------
def plan_transform(fam: str, h: int, w: int, rng) -> dict:
    """Choose the parameters of one processing family for an h x w photo.

    'window' is the part of the photo (x0, y0, x1, y1) that stays in view, so a painted
    edit can be placed where it survives the processing.
    """
    p: dict = {"family": fam, "window": (int(w * 0.15), int(h * 0.15), int(w * 0.85), int(h * 0.85)),
               "quality": int(rng.integers(85, 96)), "format": "JPEG"}
    if fam == "none":
        p.update(tag="none", quality=95)
    elif fam == "jpeg":
        p["quality"] = int(rng.integers(50, 96))
        p["tag"] = f"jpeg{p['quality']}"
    elif fam == "scale":
        p["scale"] = round(float(rng.uniform(0.3, 1.0)), 2)
        p["tag"] = f"scale{p['scale']}"
    elif fam == "chat":  # what messengers do: shrink to a fixed long side and recompress hard
        long_side = int(rng.choice([640, 800, 1024, 1280]))
        p["scale"] = round(min(1.0, long_side / max(h, w)), 3)
        p["quality"] = int(rng.integers(60, 81))
        p["tag"] = f"chat{long_side}q{p['quality']}"
    elif fam == "crop":
        area = float(rng.uniform(0.4, 0.9))
        r = float(rng.uniform(0.85, 1.15))
        cw = int(min(w, round(w * np.sqrt(area) * r)))
        ch = int(min(h, round(h * area / (cw / w))))
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        p["box"] = (x0, y0, x0 + cw, y0 + ch)
        p["window"] = (x0 + cw // 8, y0 + ch // 8, x0 + cw - cw // 8, y0 + ch - ch // 8)
        p["tag"] = f"crop{cw * ch / (w * h):.2f}"
    elif fam == "rot90":
        p["k"] = int(rng.choice([1, 3]))
        p["tag"] = "rot90" if p["k"] == 1 else "rot270"
    elif fam == "rot180":
        p.update(k=2, tag="rot180")
    elif fam == "rot_small":
        ang = float(rng.uniform(1.0, 8.0) * rng.choice([-1, 1]))
        p["angle"] = round(ang, 1)
        p["tag"] = f"rot{p['angle']}"
        s = abs(np.sin(np.radians(ang))) * max(w / h, h / w) + abs(np.cos(np.radians(ang)))
        mx, my = int(w * (1 - 0.8 / s) / 2), int(h * (1 - 0.8 / s) / 2)
        p["window"] = (mx, my, w - mx, h - my)
    elif fam == "mirror":
        p["tag"] = "mirror"
    elif fam.startswith("filter_"):
        p["tag"] = fam
        p["strength"] = float(rng.uniform(0.6, 1.0))
    elif fam == "screenshot":
        p["screen_w"] = int(rng.choice([720, 828, 1080]))
        p["screen_h"] = int(p["screen_w"] * rng.uniform(1.9, 2.2))
        p["dark"] = bool(rng.random() < 0.5)
        p["format"] = "PNG" if rng.random() < 0.6 else "JPEG"
        p["tag"] = "screenshot"
    else:
        raise ValueError(f"unknown transform family {fam!r}")
    return p


def _resize(rgb, mask, scale):
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.resize(rgb, size, interpolation=interp)
    if mask is not None:
        # INTER_NEAREST_EXACT uses the same pixel-centre mapping as the image resize
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST_EXACT) > 0
    return out, mask


def _filter(rgb, fam, strength):
    x = rgb.astype(np.float32)
    if fam == "filter_warm":
        x = x * np.array([1 + 0.12 * strength, 1 + 0.02 * strength, 1 - 0.12 * strength], np.float32)
    elif fam == "filter_cool":
        x = x * np.array([1 - 0.12 * strength, 1 + 0.01 * strength, 1 + 0.12 * strength], np.float32)
    elif fam == "filter_bright":
        x = x * (1 + 0.1 * strength) + 30 * strength
    elif fam == "filter_contrast":
        x = (x - 128) * (1 + 0.35 * strength) + 128
    else:
        raise ValueError(fam)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _screenshot(rgb, mask, p):
    """Place the photo in a phone screen: status bar on top, navigation bar below."""
    sw, sh = p["screen_w"], p["screen_h"]
    bg = 0 if p["dark"] else 250
    fg = 235 if p["dark"] else 20
    canvas = np.full((sh, sw, 3), bg, np.uint8)
    status_h, nav_h = int(sh * 0.035), int(sh * 0.06)
    h, w = rgb.shape[:2]
    scale = min(sw / w, (sh - status_h - nav_h) / h)
    img, m = _resize(rgb, mask, scale)
    ih, iw = img.shape[:2]
    x0, y0 = (sw - iw) // 2, status_h + (sh - status_h - nav_h - ih) // 2
    canvas[y0:y0 + ih, x0:x0 + iw] = img
    # status bar: clock, signal bars, battery
    cv2.putText(canvas, "9:41", (int(sw * 0.05), int(status_h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                status_h / 40, (fg, fg, fg), max(1, status_h // 20), cv2.LINE_AA)
    for i in range(4):
        bx = int(sw * 0.78) + i * int(sw * 0.012)
        cv2.rectangle(canvas, (bx, int(status_h * (0.7 - 0.1 * i))), (bx + int(sw * 0.008), int(status_h * 0.75)),
                      (fg, fg, fg), -1)
    cv2.rectangle(canvas, (int(sw * 0.86), int(status_h * 0.3)), (int(sw * 0.94), int(status_h * 0.75)),
                  (fg, fg, fg), max(1, status_h // 25))
    # navigation bar: back / home / recent
    cy = sh - nav_h // 2
    for i, cx in enumerate((sw // 4, sw // 2, 3 * sw // 4)):
        if i == 1:
            cv2.circle(canvas, (cx, cy), nav_h // 5, (fg, fg, fg), 2, cv2.LINE_AA)
        else:
            cv2.rectangle(canvas, (cx - nav_h // 6, cy - nav_h // 6), (cx + nav_h // 6, cy + nav_h // 6),
                          (fg, fg, fg), 2)
    out_mask = None
    if m is not None:
        out_mask = np.zeros((sh, sw), bool)
        out_mask[y0:y0 + ih, x0:x0 + iw] = m
    return canvas, out_mask


def apply_transform(rgb: np.ndarray, mask: np.ndarray | None, p: dict):
    """Apply a planned processing to pixels and (exactly, nearest-neighbour) to the mask."""
    fam = p["family"]
    if fam in ("scale", "chat"):
        rgb, mask = _resize(rgb, mask, p["scale"])
    elif fam == "crop":
        x0, y0, x1, y1 = p["box"]
        rgb = rgb[y0:y1, x0:x1]
        mask = None if mask is None else mask[y0:y1, x0:x1]
    elif fam in ("rot90", "rot180"):
        rgb = np.rot90(rgb, p["k"])
        mask = None if mask is None else np.rot90(mask, p["k"])
    elif fam == "rot_small":
        h, w = rgb.shape[:2]
        ang = np.radians(p["angle"])
        s = abs(np.sin(ang)) * max(w / h, h / w) + abs(np.cos(ang))  # zoom so no corner is empty
        # pixel centres: the rotation is about ((w-1)/2, (h-1)/2)
        M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), p["angle"], s)
        rgb = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if mask is not None:
            mask = cv2.warpAffine(mask.astype(np.uint8), M, (w, h), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    elif fam == "mirror":
        rgb = rgb[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    elif fam.startswith("filter_"):
        rgb = _filter(rgb, fam, p["strength"])
    elif fam == "screenshot":
        rgb, mask = _screenshot(rgb, mask, p)
    return np.ascontiguousarray(rgb), None if mask is None else np.ascontiguousarray(mask)


def render_claim(rgb: np.ndarray, p: dict, damage: str | None = None, blend: str | None = None,
                 rng=None, size: float | None = None) -> tuple[bytes, np.ndarray | None]:
    """Paint (optionally) and process one photo. Returns (encoded bytes, mask at the claim's size)."""
    mask = None
    if damage is not None:
        h, w = rgb.shape[:2]
        size = size or float(min(h, w) * rng.uniform(0.18, 0.35))
        for _ in range(6):  # retry elsewhere if the edit left (almost) nothing visible
            centre = pick_centre(rgb, rng, window=p["window"], margin=int(size * 0.15))
            edited, mask = edit(rgb, damage, blend, rng, centre=centre, size=size)
            if mask.sum() >= max(16, 0.0005 * h * w):
                break
        rgb = edited
    out, mask = apply_transform(rgb, mask, p)
    data = encode_png(out) if p["format"] == "PNG" else encode_jpeg(out, p["quality"])
    return data, mask


# The generator ---------------------------------------------------------------------------
def generate(seed: int = 0, n: int = 200, sources: str = "all") -> Iterator[Case]:
    """Yield n cases; the same (seed, n, sources) and the same data folder give the same bytes."""
    pool = pools(sources)
    listing, pairs = pool["listing"], pool["pairs"]
    if not listing:
        raise FileNotFoundError("no source photos")
    start = int(np.random.default_rng([seed, 7]).integers(0, 1000))
    counters = {"forged": start, "genuine": start * 3, "no_reference": start * 5}
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kind = PATTERN[i % len(PATTERN)]
        yield _make_case(f"s{seed}-{i:04d}-{kind}", kind, rng, listing, pairs, counters)


def product(name: str) -> str:
    """Photos of one product share this key (solidus_bottles_1.png and _2.png show the same bottle)."""
    return re.sub(r"_\d+$", "", Path(name.split(":", 1)[-1]).stem)


def _other(listing, rng, not_name):
    """A photo of another product: an honest 'unrelated' reference."""
    choices = [p for p in listing if product(p.name) != product(not_name)]
    return choices[int(rng.integers(0, len(choices)))]


def _make_case(case_id, kind, rng, listing, pairs, counters) -> Case:
    if kind == "same_item" and not pairs:
        kind = "unrelated"  # no independent captures without the shared folder

    if kind in ("forged", "derived", "same_item", "unrelated"):
        key = "forged" if kind == "forged" else "genuine"
        j = counters[key]
        counters[key] += 1
        fam = TRANSFORMS[j % len(TRANSFORMS)]
        damage = DAMAGES[j % len(DAMAGES)] if kind == "forged" else None
        blend = BLENDS[j % len(BLENDS)] if kind == "forged" else None

        if kind == "same_item":
            a, b = pairs[int(rng.integers(0, len(pairs)))]
            photo, refs, rels = a, [b.data()], ["same_item"]
        else:
            photo = listing[int(rng.integers(0, len(listing)))]
            if kind == "unrelated":
                refs, rels = [_other(listing, rng, photo.name).data()], ["unrelated"]
            else:
                refs, rels = [photo.data()], ["derived"]
        if rng.random() < 0.35:  # a packing photo of some other parcel
            refs.append(_other(listing, rng, photo.name).data())
            rels.append("unrelated")
        rgb = photo.rgb()
        p = plan_transform(fam, rgb.shape[0], rgb.shape[1], rng)
        claim, mask = render_claim(rgb, p, damage, blend, rng)
        return Case(case_id, claim, refs, rels, mask, damage is not None, p["tag"], damage, blend, photo.name)

    # no_reference: an independent photo (the buyer's own), with or without damage painted in
    edited = kind == "no_reference_edited"
    damage = blend = None
    if edited:
        j = counters["no_reference"]
        counters["no_reference"] += 1
        damage, blend = DAMAGES[j % len(DAMAGES)], BLENDS[j % len(BLENDS)]
    if pairs and rng.random() < 0.75:
        a, b = pairs[int(rng.integers(0, len(pairs)))]
        photo = a
        refs, rels = ([b.data()], ["same_item"]) if rng.random() < 0.5 else ([], [])
    else:
        photo = listing[int(rng.integers(0, len(listing)))]
        refs, rels = [], []
    rgb = photo.rgb()
    p = plan_transform("scale", rgb.shape[0], rgb.shape[1], rng)
    p["scale"] = round(float(rng.uniform(0.6, 1.0)), 2)
    p["tag"] = "no_reference"
    claim, mask = render_claim(rgb, p, damage, blend, rng)
    return Case(case_id, claim, refs, rels, mask, edited, "no_reference", damage, blend, photo.name)


def _main(argv=None):
    """Write a corpus to a folder to look at: python -m bench.corpus --out bench/.corpus"""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--sources", default="all", choices=("all", "skimage", "shared"))
    ap.add_argument("--out", default="bench/.corpus")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for c in generate(a.seed, a.n, a.sources):
        ext = "png" if c.claim[:4] == b"\x89PNG" else "jpg"
        (out / f"{c.case_id}.claim.{ext}").write_bytes(c.claim)
        for k, r in enumerate(c.references):
            (out / f"{c.case_id}.ref{k}").write_bytes(r)
        if c.mask is not None:
            Image.fromarray(c.mask.astype(np.uint8) * 255).save(out / f"{c.case_id}.mask.png")
        index.append({k: getattr(c, k) for k in ("case_id", "reference_relations", "edited", "transform",
                                                  "damage", "blend", "source")})
    (out / "index.json").write_text(json.dumps(index, indent=1))
    print(f"wrote {len(index)} cases to {out}")


if __name__ == "__main__":
    _main()
