"""Errors raised for input that cannot be analysed. Each maps to a documented exit code."""


class ClaimlensError(Exception):
    """Base class: a clear one-line message, and the CLI's exit code."""

    exit_code = 1

    def __init__(self, message: str, path: str | None = None, code: str | None = None, **params):
        self.path = path
        self.code = code  # with params: the reason for a client to show in its own language
        self.params = {"name": path or "", **params}
        super().__init__(f"{path}: {message}" if path else message)


class InputError(ClaimlensError):
    """A file that is not a usable image (empty, truncated, wrong type, unsupported)."""

    exit_code = 3


class ImageTooLarge(InputError):
    """More pixels than the configured limit (decompression-bomb guard)."""

    exit_code = 4
