"""Bring a database to the newest schema: ``python -m db.migrate``.

Runs as the login of ``ERX_DATABASE_URL``, which owns the tables; ``ERX_DATABASE_ROLE`` is
for the API and the worker and is not used here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import create_engine
from erx.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    cfg = alembic_config()

    def _upgrade(connection: object) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def _main() -> None:
    engine = create_engine(get_settings().database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
