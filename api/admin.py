"""Operator commands: ``python -m api.admin create-workspace --id ws_acme --name "Acme"``.

Prints the new workspace's service key once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role, issue_key
from db.models import Member, Workspace
from db.session import create_engine, create_sessionmaker
from erx.settings import get_settings


async def create_workspace(session: AsyncSession, workspace_id: str, name: str) -> str:
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
    role = Role.admin if admin else Role.member
    return await issue_key(session, workspace_id, role, member_id=member_id, label=member_id)


async def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    ws = sub.add_parser("create-workspace")
    ws.add_argument("--id", required=True)
    ws.add_argument("--name", required=True)
    person = sub.add_parser("add-person")
    person.add_argument("--workspace", required=True)
    person.add_argument("--member-id", required=True)
    person.add_argument("--first-name", required=True)
    person.add_argument("--last-name", required=True)
    person.add_argument("--email", required=True)
    person.add_argument("--admin", action="store_true")
    args = parser.parse_args(argv)

    engine = create_engine(get_settings().database_url)
    async with create_sessionmaker(engine)() as session:
        if args.command == "create-workspace":
            key = await create_workspace(session, args.id, args.name)
        else:
            key = await add_person(
                session,
                args.workspace,
                args.member_id,
                args.first_name,
                args.last_name,
                args.email,
                admin=args.admin,
            )
        await session.commit()
    await engine.dispose()
    print(key)


if __name__ == "__main__":
    asyncio.run(_main())
