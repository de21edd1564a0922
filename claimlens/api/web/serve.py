"""An app with the console, for `uvicorn --factory claimlens.api.web.serve:console_app` (settings from the
CLAIMLENS_* environment, like `claimlens serve`)."""

from __future__ import annotations


def console_app():
    from ..app import create_app
    from . import mount_console

    app = create_app()
    mount_console(app)
    return app
