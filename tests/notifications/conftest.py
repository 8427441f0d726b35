"""The API with the push-notification route, whether or not create_app includes it yet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.app import create_app
from api.routes import notifications
from erx.settings import Settings


def with_notifications(app: FastAPI) -> FastAPI:
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/v1/dosespot/notifications" not in paths:
        app.include_router(notifications.router)
    return app


@pytest.fixture(scope="session")
async def inbox_api(
    settings: Settings, temporal: Client, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    app = with_notifications(create_app(settings, temporal=temporal))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as client,
    ):
        yield client
