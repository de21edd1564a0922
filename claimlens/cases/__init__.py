"""Claim domain: workflow, policy, access rules, audit chain, credit record. No SQL, no web."""

from .errors import (
    Conflict,
    DeadlinePassed,
    DomainError,
    Forbidden,
    IllegalTransition,
    Invalid,
    NotFound,
    TooLarge,
    UnsupportedType,
)
from .workflow import ACTIONS, TRANSITIONS, Actor, ClaimType, Role, State, Transition, transition_for

__all__ = [
    "ACTIONS",
    "TRANSITIONS",
    "Actor",
    "ClaimType",
    "Role",
    "State",
    "Transition",
    "transition_for",
    "DomainError",
    "NotFound",
    "Forbidden",
    "IllegalTransition",
    "DeadlinePassed",
    "Conflict",
    "Invalid",
    "TooLarge",
    "UnsupportedType",
]
