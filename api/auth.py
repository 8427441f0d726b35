"""Bearer API keys: each names one workspace, one role and, for people, the member."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import DomainError, Forbidden, NotFound
from db.models import ApiKey

KEY_PREFIX = "erx_"


class Role(StrEnum):
    service = "service"
    admin = "admin"
    member = "member"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


@dataclass(frozen=True)
class Principal:
    workspace_id: str
    role: Role
    member_id: str | None

    def require_workspace(self, workspace_id: str) -> None:
        # Another workspace's resources do not exist for this caller.
        if workspace_id != self.workspace_id:
            raise NotFound("workspace not found")

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this action needs a {allowed} key")

    def require_self_or(self, member_id: str, *roles: Role) -> None:
        """A member key acts only for its own member; the given roles act for anyone."""
        if self.role in roles:
            return
        if self.role == Role.member and self.member_id == member_id:
            return
        raise Forbidden("a member key acts only for its own member")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def issue_key(
    session: AsyncSession,
    workspace_id: str,
    role: Role,
    member_id: str | None = None,
    label: str = "",
) -> str:
    """Create a key and return it; only its hash is stored."""
    if role != Role.service and not member_id:
        raise ValueError("admin and member keys name the person (member_id)")
    key = new_key()
    session.add(
        ApiKey(
            workspace_id=workspace_id,
            role=role.value,
            member_id=member_id,
            key_hash=hash_key(key),
            label=label,
        )
    )
    return key


async def authenticate(session: AsyncSession, authorization: str | None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing bearer API key")
    key = authorization[7:].strip()
    row = await session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
    if row is None:
        raise Unauthorized("invalid API key")
    return Principal(workspace_id=row.workspace_id, role=Role(row.role), member_id=row.member_id)
