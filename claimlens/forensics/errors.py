"""Errors raised for input that cannot be analysed. Each maps to a documented exit code."""


# Why a file or image is refused, in English, by code (the file's name goes before it). The console has the
# same codes in Chinese (claimlens.api.web.i18n); the parameters fill the placeholders.
REFUSALS = {
    "empty_file": "empty file (0 bytes)",
    "not_an_image": "not an image, or an unsupported image type",
    "unsupported_image": "unsupported image type {type}",
    "no_pixels": "image has no pixels",
    "too_many_pixels": "{size} = {mp} MP exceeds the limit of {limit} MP",
    "decompression_bomb": "decompression bomb refused ({detail})",
    "corrupt_image": "truncated or corrupt image ({detail})",
    "undecodable_image": "cannot decode image ({detail})",
    "not_a_photo": "not a photo (JPEG, PNG, WebP, HEIC, ...)",
    "unreadable": "neither a photo nor a video we can read",
    "video_too_long": "video is {seconds} s, the limit is {limit} s",
    "video_too_many_pixels": "video frames exceed the pixel limit",
}


class ClaimlensError(Exception):
    """Base class: a clear one-line message, and the CLI's exit code."""

    exit_code = 1

    def __init__(self, message: str, path: str | None = None, code: str | None = None, **params):
        self.path = path
        self.code = code  # with params: the reason for a client to show in its own language
        self.params = {"name": path or "", **params}
        super().__init__(f"{path}: {message}" if path else message)

    @classmethod
    def refused(cls, code: str, path: str | None = None, **params):
        """The error for a refusal of REFUSALS, its English text filled from the parameters."""
        return cls(REFUSALS[code].format(**params), path, code, **params)


class InputError(ClaimlensError):
    """A file that is not a usable image (empty, truncated, wrong type, unsupported)."""

    exit_code = 3


class ImageTooLarge(InputError):
    """More pixels than the configured limit (decompression-bomb guard)."""

    exit_code = 4
