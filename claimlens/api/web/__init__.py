"""The web console for reviewers, merchants and buyers: server-rendered pages under /console."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def mount_console(app) -> None:
    """Add the console pages, their static files, and a redirect from / to the console."""
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from .router import PREFIX, router

    if getattr(app.state, "console_mounted", False):
        return
    app.state.console_mounted = True
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    if not any(getattr(r, "path", None) == "/" for r in app.routes):
        app.add_api_route("/", lambda: RedirectResponse(f"{PREFIX}/"), include_in_schema=False)
