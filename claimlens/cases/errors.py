"""Domain errors; each carries the HTTP status the API answers with.

An error may also carry a `code` and its `params` (JSON values), so that a client can show the reason in its
own language; `message` is the English text."""


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, code: str | None = None, **params):
        self.message = message
        self.code = code
        self.params = params
        super().__init__(message)


class Invalid(DomainError):
    status = 422


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class IllegalTransition(DomainError):
    status = 409


class DeadlinePassed(DomainError):
    status = 409


class Conflict(DomainError):
    status = 409


class TooLarge(DomainError):
    status = 413


class UnsupportedType(DomainError):
    status = 415
