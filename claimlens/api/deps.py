"""Request dependencies: the store and the authenticated actor (bearer token or signed session cookie)."""

from __future__ import annotations

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..cases.workflow import Actor
from ..store import Store

SESSION_COOKIE = "claimlens_session"
SESSION_MAX_AGE = 12 * 3600


def get_store(request: Request) -> Store:
    return request.app.state.store


def session_serializer(store: Store) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(store.session_secret, salt="claimlens-session")


def current_actor(request: Request) -> Actor:
    store = get_store(request)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        actor = store.service.actor_for_token(auth[7:].strip())
        if actor is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        return actor
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            uid = session_serializer(store).loads(cookie, max_age=SESSION_MAX_AGE)["uid"]
        except (BadSignature, KeyError, TypeError):
            raise HTTPException(401, "session expired or invalid") from None
        actor = store.service.actor_for_user(int(uid))
        if actor is not None:
            return actor
    raise HTTPException(401, "authentication required (Authorization: Bearer <token>)",
                        headers={"WWW-Authenticate": "Bearer"})
