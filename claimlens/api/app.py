"""FastAPI application factory: error mapping, request size limit, store life cycle."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError

from .. import __version__
from ..cases.errors import DomainError
from ..forensics import ImageTooLarge, InputError
from ..store import Settings, Store

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 110 * 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body is larger than the {limit / 1e6:.0f} MB limit")


class BodyLimit:
    """Refuse bodies over the limit: at once when Content-Length says so, else while reading."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > self.limit:
                resp = JSONResponse({"detail": f"request body is larger than the {self.limit / 1e6:.0f} MB limit"}, 413)
                return await resp(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return msg

        return await self.app(scope, limited, send)


def error_body(message: str, exc: Exception) -> dict:
    """The JSON of a refusal: the English `detail`, and the error's `code` and `params` when it has them."""
    body = {"detail": message}
    if getattr(exc, "code", None):
        body.update(code=exc.code, params=exc.params)
    return body


def create_app(settings: Settings | None = None, store: Store | None = None, start_jobs: bool = True,
               upgrade: bool = True) -> FastAPI:
    """The service. With no store given, one is built from settings (or the environment) on start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        own = app.state.store is None
        if own:
            app.state.store = Store(settings or Settings.from_env(), upgrade=upgrade)
        if start_jobs:
            app.state.store.start()
        try:
            yield
        finally:
            if start_jobs:
                app.state.store.jobs.stop()
            if own:
                app.state.store.close()

    app = FastAPI(
        title="claimlens",
        version=__version__,
        description="After-sales claims with photo forensics: file claims, register references and packing "
                    "evidence, review, decide, appeal; evidence reports; audit chain; buyer credit records.",
        lifespan=lifespan,
    )
    app.state.store = store

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        return JSONResponse(error_body(exc.message, exc), status_code=exc.status)

    @app.exception_handler(ImageTooLarge)
    async def too_many_pixels(request: Request, exc: ImageTooLarge):
        return JSONResponse(error_body(str(exc), exc), status_code=413)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError):
        return JSONResponse(error_body(str(exc), exc), status_code=422)

    @app.exception_handler(StaleDataError)
    async def stale(request: Request, exc: StaleDataError):
        return JSONResponse({"detail": "the claim changed at the same time; reload and retry"}, status_code=409)

    from .repair_routes import router as repair_router
    from .routes import router

    app.include_router(router)
    app.include_router(repair_router)
    try:  # the web console (claimlens/api/web), when installed
        from .web import mount_console
    except ImportError:
        mount_console = None
    if mount_console is not None:
        mount_console(app)
    conf = store.settings if store is not None else settings
    limit = conf.max_request_bytes if conf is not None else MAX_REQUEST_BYTES
    app.add_middleware(BodyLimit, limit=limit)
    return app
