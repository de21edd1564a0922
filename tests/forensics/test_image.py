"""Decoding of hostile and unusual images: a clear error or usable pixels, never a traceback."""

import io

import numpy as np
import pytest
from PIL import Image

from claimlens.forensics.errors import ImageTooLarge, InputError
from claimlens.forensics.image import decode


def encode(arr_or_im, fmt, **kw) -> bytes:
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgb_jpeg_decodes_with_tables(coffee):
    d = decode(encode(coffee, "JPEG", quality=80), "c.jpg")
    assert d.format == "JPEG" and d.rgb.shape == coffee.shape and d.rgb.dtype == np.uint8
    assert d.quantization and len(d.quantization[0]) == 64
    assert np.abs(d.rgb.astype(int) - coffee).mean() < 6


@pytest.mark.parametrize(
    "data, words, code",
    [
        (b"", "empty file", "empty_file"),
        (b"hello, this is not an image at all", "not an image", "not_an_image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not an image", "not_an_image"),
    ],
)
def test_not_an_image(data, words, code):
    with pytest.raises(InputError, match=words) as err:
        decode(data, "claim.jpg")
    assert "claim.jpg" in str(err.value) and "\n" not in str(err.value)
    assert err.value.code == code and err.value.params == {"name": "claim.jpg"}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(coffee, fmt):
    data = encode(coffee, fmt)
    with pytest.raises(InputError, match="truncated|corrupt|cannot decode") as err:
        decode(data[: len(data) // 2], "half")
    assert str(err.value).startswith("half: ") and err.value.code in ("corrupt_image", "undecodable_image")
    assert err.value.params["detail"] and err.value.params["detail"] in str(err.value)


def test_decompression_bomb_refused_from_header():
    # 20000 x 20000 one-bit PNG: a few kB on disk, 400 MP when decoded
    bomb = encode(Image.new("1", (20000, 20000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLarge, match="exceeds the limit of 100.0 MP") as err:
        decode(bomb, "bomb.png")
    assert err.value.code == "too_many_pixels"
    assert err.value.params == {"name": "bomb.png", "size": "20000x20000", "mp": "400.0", "limit": "100.0"}


def test_pixel_limit_is_configurable(coffee):
    data = encode(coffee, "PNG")
    with pytest.raises(ImageTooLarge):
        decode(data, "c.png", max_pixels=100_000)
    assert decode(data, "c.png", max_pixels=240_000).size == (600, 400)


def test_cmyk_16bit_palette_alpha_are_converted(coffee):
    cmyk = decode(encode(Image.fromarray(coffee).convert("CMYK"), "JPEG"), "cmyk.jpg")
    assert cmyk.mode == "CMYK" and cmyk.rgb.shape == coffee.shape
    assert np.abs(cmyk.rgb.astype(int) - coffee).mean() < 12

    grey16 = (np.linspace(0, 65535, 200 * 300).reshape(200, 300)).astype(np.uint16)
    d16 = decode(encode(Image.fromarray(grey16), "PNG"), "g16.png")
    assert d16.rgb.shape == (200, 300, 3) and d16.rgb[0, 0, 0] == 0 and d16.rgb[-1, -1, 0] == 255

    pal = decode(encode(Image.fromarray(coffee).quantize(64), "PNG"), "p.png")
    assert pal.mode == "P" and pal.rgb.shape == coffee.shape

    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 128, np.uint8)])
    da = decode(encode(rgba, "PNG"), "a.png")
    assert da.alpha is not None and int(da.alpha.mean()) == 128 and da.rgb.shape == coffee.shape


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_first_frame(coffee, fmt):
    frames = [Image.fromarray(coffee), Image.fromarray(255 - coffee)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    d = decode(data, f"anim.{fmt.lower()}")
    assert d.n_frames == 2
    assert abs(int(d.rgb.mean()) - int(coffee.mean())) < 15  # the first frame, not the inverted second


def test_heic_from_phone(coffee):
    import pillow_heif

    pillow_heif.register_heif_opener()
    d = decode(encode(coffee, "HEIF", quality=85), "IMG_0001.HEIC")
    assert d.format == "HEIF" and d.size == (600, 400)


def test_exif_orientation_applied(coffee):
    im = Image.fromarray(coffee)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    d = decode(encode(im, "JPEG", exif=exif.tobytes(), quality=95), "rot.jpg")
    assert d.orientation == 6 and d.size == (400, 600)


def test_wrong_extension_is_judged_by_content(coffee):
    d = decode(encode(coffee, "PNG"), "photo.jpg")
    assert d.format == "PNG"


def test_truncated_refused_even_when_pillow_is_told_to_accept_them(coffee):
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as weasyprint does on import
    try:
        data = encode(coffee, "JPEG")
        with pytest.raises(InputError, match="truncated|corrupt"):
            decode(data[: len(data) // 2], "half.jpg")
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
