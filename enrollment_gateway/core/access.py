"""Who may do what: roles per application, superadmins everywhere, and nothing leaks across applications."""

from __future__ import annotations

from typing import Collection

from ..domain import Actor, Role
from ..errors import ErrorKind, GatewayError


def require_superadmin(actor: Actor) -> None:
    if not actor.superadmin:
        raise GatewayError(ErrorKind.FORBIDDEN, "this action needs a gateway administrator")


def require_role(actor: Actor, application_id: str, needed: Role) -> None:
    """Refuse unless the actor holds `needed` (or more) in the application.

    A non-member gets NOT_FOUND rather than FORBIDDEN, so members of one application cannot probe which objects
    exist in another.
    """
    role = actor.role_in(application_id)
    if role is None:
        raise GatewayError(ErrorKind.NOT_FOUND, "application not found")
    if not role.allows(needed):
        raise GatewayError(ErrorKind.FORBIDDEN, f"this action needs the {needed.value} role in the application")


def visible_applications(actor: Actor) -> Collection[str] | None:
    """Application ids the actor may read; None means all (superadmin)."""
    return None if actor.superadmin else tuple(actor.roles)
