"""Operator commands for workspaces, people and their API keys.

    python -m api.admin create-workspace --id ws_acme --name "Acme Clinic"
    python -m api.admin add-person --workspace ws_acme --member-id m_1 --first-name Ada \\
        --last-name Lovelace --email ada@example.com [--admin]
    python -m api.admin issue-key --workspace ws_acme --member-id m_1 [--admin]
    python -m api.admin list-keys --workspace ws_acme [--member-id m_1]
    python -m api.admin revoke-key --workspace ws_acme --key-id 17
    python -m api.admin revoke-key --workspace ws_acme --member-id m_1

A new key is printed once, alone on stdout (``KEY=$(python -m api.admin ...)``); only its
SHA-256 hash is stored, so it cannot be shown again. Each key is known by its key id, which
stderr names when the key is made and ``list-keys`` shows beside its role, member, label and
dates, never the key; ``revoke-key`` takes that id (or a member, for all their keys). A
revoked key answers 401 from the next request on: every request looks its key up.

A refused command (an existing workspace or member, an unknown one, an unknown key) prints
one ``error: ...`` line on stderr and exits 1; bad arguments exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role, hash_key, issue_key
from db.models import ApiKey, Member, Workspace, utcnow
from db.session import create_engine, create_sessionmaker
from erx.settings import Settings, get_settings


class AdminError(Exception):
    """An operator command refused, with the reason in one line."""


async def _require_workspace(session: AsyncSession, workspace_id: str) -> None:
    if await session.get(Workspace, workspace_id) is None:
        raise AdminError(f"no workspace {workspace_id!r}")


async def _require_member(session: AsyncSession, workspace_id: str, member_id: str) -> Member:
    await _require_workspace(session, workspace_id)
    member = await session.get(Member, (workspace_id, member_id))
    if member is None:
        raise AdminError(
            f"no member {member_id!r} in workspace {workspace_id!r}; add them with add-person"
        )
    return member


async def issued_key_id(session: AsyncSession, key: str) -> int:
    """The id by which a key just issued is listed and revoked."""
    await session.flush()
    found = await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key)))
    assert found is not None
    return found


async def create_workspace(session: AsyncSession, workspace_id: str, name: str) -> str:
    """Create the workspace and return its service key."""
    if await session.get(Workspace, workspace_id) is not None:
        raise AdminError(f"workspace {workspace_id!r} already exists")
    session.add(Workspace(id=workspace_id, name=name))
    await session.flush()
    return await issue_key(session, workspace_id, Role.service, label="service")


async def add_person(
    session: AsyncSession,
    workspace_id: str,
    member_id: str,
    first_name: str,
    last_name: str,
    email: str,
    *,
    admin: bool,
    job_title: str | None = None,
) -> str:
    """Add a team member and issue their personal key (admin or member)."""
    await _require_workspace(session, workspace_id)
    if await session.get(Member, (workspace_id, member_id)) is not None:
        raise AdminError(
            f"member {member_id!r} already exists in workspace {workspace_id!r}; "
            "give them a key with issue-key"
        )
    session.add(
        Member(
            workspace_id=workspace_id,
            id=member_id,
            first_name=first_name,
            last_name=last_name,
            email=email,
            job_title=job_title,
            is_admin=admin,
        )
    )
    await session.flush()
    return await issue_member_key(session, workspace_id, member_id, admin=admin)


async def issue_member_key(
    session: AsyncSession, workspace_id: str, member_id: str, *, admin: bool
) -> str:
    """A new personal key (admin or member) for an existing member; their other keys stay."""
    await _require_member(session, workspace_id, member_id)
    role = Role.admin if admin else Role.member
    return await issue_key(session, workspace_id, role, member_id=member_id, label=member_id)


async def revoke_keys(
    session: AsyncSession,
    workspace_id: str,
    *,
    key_id: int | None = None,
    member_id: str | None = None,
) -> list[ApiKey]:
    """Revoke one key (by id) or every live key of a member; return the keys now revoked.

    A key already revoked keeps its first revocation time and is not returned again.
    """
    await _require_workspace(session, workspace_id)
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id)
    if key_id is not None:
        key = await session.scalar(query.where(ApiKey.id == key_id))
        if key is None:
            raise AdminError(f"no key {key_id} in workspace {workspace_id!r}")
        keys = [key]
    else:
        assert member_id is not None
        await _require_member(session, workspace_id, member_id)
        keys = list(await session.scalars(query.where(ApiKey.member_id == member_id)))
    live = [key for key in keys if key.revoked_at is None]
    now = utcnow()
    for key in live:
        key.revoked_at = now
    await session.flush()
    return live


async def list_keys(
    session: AsyncSession, workspace_id: str, member_id: str | None = None
) -> list[ApiKey]:
    await _require_workspace(session, workspace_id)
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.id)
    if member_id is not None:
        query = query.where(ApiKey.member_id == member_id)
    return list(await session.scalars(query))


def _key_line(key: ApiKey) -> str:
    revoked = f"revoked {key.revoked_at.isoformat()}" if key.revoked_at else "live"
    return "\t".join(
        [
            str(key.id),
            key.role,
            key.member_id or "-",
            key.label,
            key.created_at.isoformat(),
            revoked,
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    ws = sub.add_parser("create-workspace", help="a workspace and its service key")
    ws.add_argument("--id", required=True)
    ws.add_argument("--name", required=True)
    person = sub.add_parser("add-person", help="a new team member and their personal key")
    person.add_argument("--workspace", required=True)
    person.add_argument("--member-id", required=True)
    person.add_argument("--first-name", required=True)
    person.add_argument("--last-name", required=True)
    person.add_argument("--email", required=True)
    person.add_argument("--admin", action="store_true")
    issue = sub.add_parser("issue-key", help="a personal key for an existing member")
    issue.add_argument("--workspace", required=True)
    issue.add_argument("--member-id", required=True)
    issue.add_argument("--admin", action="store_true", help="an admin key (else a member key)")
    listing = sub.add_parser("list-keys", help="key ids, roles, members and dates (no secrets)")
    listing.add_argument("--workspace", required=True)
    listing.add_argument("--member-id")
    revoke = sub.add_parser("revoke-key", help="stop a key (or all of a member's) at once")
    revoke.add_argument("--workspace", required=True)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--key-id", type=int)
    which.add_argument("--member-id")
    return parser


async def _command(session: AsyncSession, args: argparse.Namespace) -> None:
    if args.command == "create-workspace":
        key = await create_workspace(session, args.id, args.name)
    elif args.command == "add-person":
        key = await add_person(
            session,
            args.workspace,
            args.member_id,
            args.first_name,
            args.last_name,
            args.email,
            admin=args.admin,
        )
    elif args.command == "issue-key":
        key = await issue_member_key(session, args.workspace, args.member_id, admin=args.admin)
    elif args.command == "list-keys":
        for row in await list_keys(session, args.workspace, args.member_id):
            print(_key_line(row))
        return
    else:
        revoked = await revoke_keys(
            session, args.workspace, key_id=args.key_id, member_id=args.member_id
        )
        await session.commit()
        ids = ", ".join(str(key.id) for key in revoked) or "none (already revoked)"
        print(f"revoked keys: {ids}")
        return
    number = await issued_key_id(session, key)
    await session.commit()
    print(f"key id {number}; the key is shown only now", file=sys.stderr)
    print(key)


async def run(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Run one command; 0 when done, 1 when refused (one line on stderr)."""
    args = _parser().parse_args(argv)
    engine = create_engine((settings or get_settings()).database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            try:
                await _command(session, args)
            except AdminError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
            except IntegrityError:
                # Another operator made the same change between our check and our write.
                print("error: a change made at the same time conflicts; try again", file=sys.stderr)
                return 1
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(run()))
