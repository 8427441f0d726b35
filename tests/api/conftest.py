"""The journey tests' driver: a fresh workspace on the real dev server, worker and DoseSpot
sandbox, with the API over real HTTP receiving the sandbox's pushes."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.worker import Worker

from tests.api.test_clinician_journey import Journey
from tests.conftest import WorkspaceKeys


@pytest.fixture
def journey(
    live_api: str,
    api: httpx.AsyncClient,
    sandbox_http: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> Journey:
    return Journey(api, sandbox_http, workspace, sessionmaker)
