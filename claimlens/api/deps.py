"""Request dependencies: the store and the authenticated actor (bearer token or signed session cookie).

Both are coroutines so that they run on the event loop; only a token the process has not seen recently costs a
database look-up (in the thread pool).
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..cases.workflow import Actor
from ..store import Store

SESSION_COOKIE = "claimlens_session"
SESSION_MAX_AGE = 12 * 3600


async def get_store(request: Request) -> Store:
    return request.app.state.store


def session_serializer(store: Store) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(store.session_secret, salt="claimlens-session")


async def current_actor(request: Request) -> Actor:
    store: Store = request.app.state.store
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        token = auth[7:].strip()
        actor = store.service.cached_actor(token)
        if actor is None:
            actor = await run_in_threadpool(store.service.actor_for_token, token)
        if actor is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        return actor
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            uid = session_serializer(store).loads(cookie, max_age=SESSION_MAX_AGE)["uid"]
        except (BadSignature, KeyError, TypeError):
            raise HTTPException(401, "session expired or invalid") from None
        actor = await run_in_threadpool(store.service.actor_for_user, int(uid))
        if actor is not None:
            return actor
    raise HTTPException(401, "authentication required (Authorization: Bearer <token>)",
                        headers={"WWW-Authenticate": "Bearer"})
