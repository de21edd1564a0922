"""Video keyframes (PyAV) and perceptual photo fingerprints."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .errors import Invalid

MAX_KEYFRAMES = 24


def fingerprint(image: Image.Image | np.ndarray) -> str:
    """64-bit perceptual hash (hex); survives re-encoding and resizing."""
    import imagehash

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    return str(imagehash.phash(image.convert("RGB")))


def fingerprint_file(path) -> str | None:
    try:
        with Image.open(path) as im:
            im.draft("RGB", (512, 512))
            return fingerprint(im)
    except Exception:
        return None


def probe_video(path) -> dict:
    """Container facts of a video, or Invalid when it is not a readable video."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise Invalid("file has no video stream")
            s = c.streams.video[0]
            dur = float(c.duration / 1e6) if c.duration else None
            return {"codec": s.codec_context.name, "width": s.codec_context.width, "height": s.codec_context.height,
                    "duration": dur}
    except Invalid:
        raise
    except Exception as exc:
        raise Invalid(f"not a readable video ({type(exc).__name__})") from None


def keyframes(path, max_frames: int = MAX_KEYFRAMES) -> list[tuple[float, bytes]]:
    """(time in seconds, JPEG bytes) of the video's keyframes, at most max_frames, spread over the video."""
    import av

    out: list[tuple[float, bytes]] = []
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.codec_context.skip_frame = "NONKEY"
            frames = []
            for frame in c.decode(s):
                t = float(frame.pts * s.time_base) if frame.pts is not None else float(len(frames))
                frames.append((t, frame.to_image()))
                if len(frames) >= max_frames * 4:
                    break
    except Exception as exc:
        raise Invalid(f"cannot read video keyframes ({type(exc).__name__}: {exc})") from None
    if len(frames) > max_frames:
        idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in sorted(set(idx))]
    for t, im in frames:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=92)
        out.append((round(t, 3), buf.getvalue()))
    if not out:
        raise Invalid("video has no decodable keyframe")
    return out
