"""Applications, the profiles attached to them (endpoints), their members, and bearer-token identities."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from ..crypto.secrets_util import hash_token, new_token
from ..domain import Actor, Application, Endpoint, Identity, IdentityKind, Membership, Role
from ..errors import ErrorKind, GatewayError, conflict, not_found
from .access import require_role, require_superadmin, visible_applications
from .audit import Auditor
from .clock import Clock


@dataclass(frozen=True)
class IssuedToken:
    """An identity with its bearer token: the token is shown this once and stored only hashed."""

    identity: Identity
    token: str


class Applications:
    def __init__(self, db, clock: Clock, auditor: Auditor) -> None:
        self._db, self._clock, self._audit = db, clock, auditor

    # --- authentication ------------------------------------------------------------------------------------------

    async def authenticate(self, token: str) -> Actor:
        """The actor behind a bearer token; failures are audited and never say which part was wrong."""
        # Every request comes through here: read without the writers' lock, and write only to audit a failure.
        async with self._db.transaction(readonly=True) as tx:
            identity = await tx.identities.by_token_hash(hash_token(token)) if token else None
            ok = (identity is not None and not identity.disabled
                  and (identity.expires_at is None or identity.expires_at > self._clock.now()))
            roles = await tx.memberships.roles_of(identity.id) if ok else {}
        if not ok:
            await self._audit.record_alone(self._db, Actor(id="anonymous", name="anonymous"), "auth.failed",
                                           "identity", identity.id if identity else None, outcome="refused")
            raise GatewayError(ErrorKind.UNAUTHENTICATED, "invalid or expired token")
        return Actor(id=identity.id, name=identity.name, superadmin=identity.superadmin, roles=roles,
                     bypass_approval=identity.bypass_approval)

    async def create_identity(
        self,
        actor: Actor,
        *,
        name: str,
        kind: IdentityKind,
        superadmin: bool = False,
        bypass_approval: bool = False,
        application_id: str | None = None,
        role: Role | None = None,
        expires_at: dt.datetime | None = None,
    ) -> IssuedToken:
        """A user or machine identity; an application admin may create one inside their application."""
        if superadmin or application_id is None:
            require_superadmin(actor)
        else:
            require_role(actor, application_id, Role.ADMIN)
        token = new_token("egt_")
        identity = Identity(id=uuid.uuid4().hex, name=name, kind=kind, superadmin=superadmin,
                            bypass_approval=bypass_approval, created_at=self._clock.now(), expires_at=expires_at)
        async with self._db.transaction() as tx:
            await tx.identities.add(identity, hash_token(token))
            await self._audit.record(tx, actor, "token.created", "identity", identity.id, application_id=application_id,
                                     name=name, kind=kind.value, superadmin=superadmin or None)
            if application_id is not None:
                if await tx.applications.get(application_id) is None:
                    raise not_found("application")
                await tx.memberships.add(Membership(application_id, identity.id, role or Role.OPERATOR, self._clock.now()))
                await self._audit.record(tx, actor, "member.added", "identity", identity.id,
                                         application_id=application_id, role=(role or Role.OPERATOR).value)
        return IssuedToken(identity, token)

    async def rotate_token(self, actor: Actor, identity_id: str) -> IssuedToken:
        async with self._db.transaction() as tx:
            identity = await tx.identities.get(identity_id)
            if identity is None:
                raise not_found("identity")
            await self._require_admin_over(tx, actor, identity)
            token = new_token("egt_")
            await tx.identities.set_token_hash(identity_id, hash_token(token))
            await self._audit.record(tx, actor, "token.created", "identity", identity_id, rotated=True)
        return IssuedToken(identity, token)

    async def list_identities(self, actor: Actor) -> list[Identity]:
        require_superadmin(actor)
        async with self._db.transaction() as tx:
            return await tx.identities.list()

    async def set_identity_disabled(self, actor: Actor, identity_id: str, disabled: bool) -> Identity:
        async with self._db.transaction() as tx:
            identity = await tx.identities.get(identity_id)
            if identity is None:
                raise not_found("identity")
            await self._require_admin_over(tx, actor, identity)
            updated = replace(identity, disabled=disabled)
            await tx.identities.update(updated)
            await self._audit.record(tx, actor, "identity.changed", "identity", identity_id, disabled=disabled)
        return updated

    @staticmethod
    async def _require_admin_over(tx, actor: Actor, identity: Identity) -> None:
        """Superadmins manage everyone; an application admin manages identities that belong only to their apps."""
        if actor.superadmin:
            return
        roles = await tx.memberships.roles_of(identity.id)
        if identity.superadmin or not roles or any(actor.role_in(app) is not Role.ADMIN for app in roles):
            raise not_found("identity")

    # --- applications --------------------------------------------------------------------------------------------

    async def create(self, actor: Actor, *, name: str, description: str = "") -> Application:
        require_superadmin(actor)
        app = Application(id=uuid.uuid4().hex, name=name, description=description, created_at=self._clock.now())
        async with self._db.transaction() as tx:
            if await tx.applications.get_by_name(name):
                raise conflict(f"an application named {name!r} already exists")
            await tx.applications.add(app)
            await self._audit.record(tx, actor, "application.created", "application", app.id, application_id=app.id,
                                     name=name)
        return app

    async def get(self, actor: Actor, application_id: str) -> Application:
        require_role(actor, application_id, Role.AUDITOR)
        async with self._db.transaction() as tx:
            app = await tx.applications.get(application_id)
        if app is None:
            raise not_found("application")
        return app

    async def list(self, actor: Actor) -> list[Application]:
        async with self._db.transaction() as tx:
            return await tx.applications.list(visible_applications(actor))

    async def update(self, actor: Actor, application_id: str, *, description: str) -> Application:
        require_role(actor, application_id, Role.ADMIN)
        async with self._db.transaction() as tx:
            app = await tx.applications.get(application_id)
            if app is None:
                raise not_found("application")
            updated = replace(app, description=description)
            await tx.applications.update(updated)
            await self._audit.record(tx, actor, "application.changed", "application", app.id,
                                     application_id=app.id)
        return updated

    async def delete(self, actor: Actor, application_id: str) -> None:
        require_role(actor, application_id, Role.AUDITOR)  # non-members see NOT_FOUND, not FORBIDDEN
        require_superadmin(actor)
        async with self._db.transaction() as tx:
            if await tx.endpoints.list_for_application(application_id):
                raise conflict("detach the application's profiles first")
            if not await tx.applications.delete(application_id):
                raise not_found("application")
            await self._audit.record(tx, actor, "application.deleted", "application", application_id,
                                     application_id=application_id)

    # --- endpoints (attached profiles) ---------------------------------------------------------------------------

    async def attach_profile(self, actor: Actor, application_id: str, profile_id: str) -> Endpoint:
        require_role(actor, application_id, Role.AUDITOR)  # non-members see NOT_FOUND, not FORBIDDEN
        require_superadmin(actor)
        endpoint = Endpoint(id=uuid.uuid4().hex[:16], application_id=application_id, profile_id=profile_id,
                            created_at=self._clock.now())
        async with self._db.transaction() as tx:
            if await tx.applications.get(application_id) is None:
                raise not_found("application")
            if await tx.profiles.get(profile_id) is None:
                raise not_found("profile")
            if await tx.endpoints.find(application_id, profile_id):
                raise conflict("the profile is already attached to this application")
            await tx.endpoints.add(endpoint)
            await self._audit.record(tx, actor, "profile.attached", "endpoint", endpoint.id,
                                     application_id=application_id, profile_id=profile_id)
        return endpoint

    async def detach_profile(self, actor: Actor, application_id: str, endpoint_id: str) -> None:
        require_role(actor, application_id, Role.AUDITOR)  # non-members see NOT_FOUND, not FORBIDDEN
        require_superadmin(actor)
        async with self._db.transaction() as tx:
            endpoint = await tx.endpoints.get(endpoint_id)
            if endpoint is None or endpoint.application_id != application_id:
                raise not_found("endpoint")
            await tx.endpoints.delete(endpoint_id)
            await self._audit.record(tx, actor, "profile.detached", "endpoint", endpoint_id,
                                     application_id=application_id)

    async def endpoints(self, actor: Actor, application_id: str) -> list[Endpoint]:
        require_role(actor, application_id, Role.AUDITOR)
        async with self._db.transaction() as tx:
            return await tx.endpoints.list_for_application(application_id)

    async def endpoint(self, endpoint_id: str) -> Endpoint:
        """For protocol front ends, which authenticate against the endpoint itself."""
        async with self._db.transaction() as tx:
            endpoint = await tx.endpoints.get(endpoint_id)
        if endpoint is None:
            raise not_found("endpoint")
        return endpoint

    # --- members -------------------------------------------------------------------------------------------------

    async def add_member(self, actor: Actor, application_id: str, identity_id: str, role: Role) -> Membership:
        require_role(actor, application_id, Role.ADMIN)
        membership = Membership(application_id, identity_id, role, self._clock.now())
        async with self._db.transaction() as tx:
            if await tx.identities.get(identity_id) is None:
                raise not_found("identity")
            await tx.memberships.add(membership)
            await self._audit.record(tx, actor, "member.added", "identity", identity_id,
                                     application_id=application_id, role=role.value)
        return membership

    async def remove_member(self, actor: Actor, application_id: str, identity_id: str) -> None:
        require_role(actor, application_id, Role.ADMIN)
        async with self._db.transaction() as tx:
            if not await tx.memberships.remove(application_id, identity_id):
                raise not_found("member")
            await self._audit.record(tx, actor, "member.removed", "identity", identity_id,
                                     application_id=application_id)

    async def members(self, actor: Actor, application_id: str) -> list[tuple[Membership, Identity]]:
        require_role(actor, application_id, Role.AUDITOR)
        async with self._db.transaction() as tx:
            out = []
            for m in await tx.memberships.list_for_application(application_id):
                identity = await tx.identities.get(m.identity_id)
                if identity is not None:
                    out.append((m, identity))
            return out
