"""Request-scoped dependencies as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.auth import Principal, authenticate
from erx.settings import Settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the route returns, rolled back on error."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def _temporal(request: Request) -> Client:
    return request.app.state.temporal


def _settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(_session)]
TemporalDep = Annotated[Client, Depends(_temporal)]
SettingsDep = Annotated[Settings, Depends(_settings)]


async def _principal(
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    principal = await authenticate(session, authorization)
    # The key is read: give the connection back before the route awaits anything else.
    await session.commit()
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]


async def _reading_principal(
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The caller, for a route that reads the database and commits before it awaits anything
    else: the key is read in the route's own transaction, one commit per request."""
    return await authenticate(session, authorization)


ReadingPrincipalDep = Annotated[Principal, Depends(_reading_principal)]
