"""First-start set-up: the first administrator, without whom nobody could call the API."""

from __future__ import annotations

from ..domain import SYSTEM_ACTOR, IdentityKind
from .applications import IssuedToken
from .gateway import Gateway


async def create_admin(gateway: Gateway, name: str = "admin") -> IssuedToken:
    """A superadmin identity and its token (shown once)."""
    return await gateway.applications.create_identity(SYSTEM_ACTOR, name=name, kind=IdentityKind.USER, superadmin=True)
