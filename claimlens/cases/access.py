"""Tenancy: who may see and change what. The store calls these before every read and write."""

from __future__ import annotations

from .errors import Forbidden, NotFound
from .workflow import Actor, Role

STAFF = {Role.REVIEWER, Role.ADMIN, Role.PLATFORM, Role.SYSTEM}


def can_read_claim(actor: Actor, merchant_id: int, buyer_id: int) -> bool:
    if actor.role in STAFF:
        return True
    if actor.role is Role.MERCHANT:
        return actor.merchant_id is not None and actor.merchant_id == merchant_id
    if actor.role is Role.BUYER:
        return actor.buyer_id is not None and actor.buyer_id == buyer_id
    return False


def check_claim(actor: Actor, merchant_id: int, buyer_id: int, what: str = "claim") -> None:
    """Other tenants' claims do not exist for the actor: 404, not 403, so ids leak nothing."""
    if not can_read_claim(actor, merchant_id, buyer_id):
        raise NotFound(f"{what} not found")


def check_merchant(actor: Actor, merchant_id: int, what: str = "product") -> None:
    """Merchant-owned things (products, references, packing evidence)."""
    if actor.role in (Role.ADMIN, Role.SYSTEM):
        return
    if actor.role is Role.MERCHANT and actor.merchant_id == merchant_id:
        return
    if actor.role in (Role.REVIEWER, Role.PLATFORM):
        return
    raise NotFound(f"{what} not found")


def check_merchant_write(actor: Actor, merchant_id: int, what: str = "product") -> None:
    """Only the merchant itself (or an admin) registers products, references and packing evidence."""
    if actor.role in (Role.ADMIN, Role.SYSTEM):
        return
    if actor.role is Role.MERCHANT:
        if actor.merchant_id == merchant_id:
            return
        raise NotFound(f"{what} not found")
    raise Forbidden(f"a {actor.role.value} may not change a merchant's {what}")


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Forbidden(f"needs one of the roles: {', '.join(r.value for r in roles)}")


REPAIR_STAFF = {Role.OPERATOR, Role.TECHNICIAN}


def check_not_repair_staff(actor: Actor) -> None:
    """Operators and technicians work on the repair desk only: claims, products and orders are not theirs."""
    if actor.role in REPAIR_STAFF:
        raise Forbidden(f"a {actor.role.value} works on the repair desk only")
