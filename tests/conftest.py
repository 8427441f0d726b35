"""Shared fixtures: the real Temporal dev server, the DoseSpot sandbox over HTTP, the database.

The database is PostgreSQL when TEST_DATABASE_URL is set (CI), else a SQLite file.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.admin import add_person, create_workspace
from api.app import create_app
from db.migrate import upgrade
from db.session import create_engine, create_sessionmaker
from dosespot import DoseSpotClient
from dosespot_sandbox.config import SandboxConfig
from dosespot_sandbox.testing import SandboxServer
from erx.mailsink import MailSink
from erx.settings import Settings
from erx.temporal import SEARCH_ATTRIBUTES, data_converter
from worker import build_workers, dosespot_client

BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Plain (synchronous) tests run first, each group in its collected order.

    The session's worker lives on the tests' event loop, which stands still while a plain
    test runs: a minute of sandbox tests or the benchmarks' own stack would leave every
    workflow task the worker holds to time out on the server, and the retried tasks replay
    whole histories at once under the tests that come next.
    """
    items.sort(key=lambda item: inspect.iscoroutinefunction(getattr(item, "function", None)))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(SandboxConfig())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'erx.db'}"


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    with MailSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def settings(sandbox: SandboxServer, database_url: str, mail_sink: MailSink) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        dosespot_base_url=sandbox.api_url,
        dosespot_sso_url=f"{sandbox.base_url}/LoginSingleSignOn.aspx",
        dosespot_timeout_seconds=3.0,
        task_queue=f"erx-test-{uuid.uuid4().hex[:8]}",
        setup_wait_seconds=20.0,
        smtp_port=mail_sink.smtp_port,
        # DoseSpot's pushes are the fast path; polling catches up within a second or two.
        confirmation_poll_seconds=1.0,
        idp_poll_seconds=1.0,
        tfa_poll_seconds=1.0,
        poll_max_seconds=2.0,
        enrollment_wait_seconds=5.0,
        # A lost patient push is caught by the reconciliation poll within two seconds here.
        patient_reconcile_interval_seconds=2.0,
        # ... for a minute after a patient's last activity, so the session's patients do not
        # all poll the sandbox every two seconds under the tests that follow theirs.
        patient_reconcile_window_hours=1 / 60,
        patient_wait_seconds=15.0,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(scope="session")
async def temporal_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(settings),
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def time_skipping_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(settings),
    )
    # The test server cannot list search attributes, only add them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
async def time_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, one per module: its clock only moves forward."""
    async with time_skipping_env(settings) as env:
        yield env


@pytest.fixture(scope="session")
def temporal(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
async def dosespot(settings: Settings) -> AsyncIterator[DoseSpotClient]:
    async with dosespot_client(settings) as client:
        yield client


@pytest.fixture(scope="session")
async def worker(
    temporal: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    dosespot: DoseSpotClient,
) -> AsyncIterator[Worker]:
    worker, mail = build_workers(temporal, settings, sessionmaker, dosespot)
    async with worker, mail:
        yield worker


@pytest.fixture(scope="session")
async def api(
    settings: Settings, temporal: Client, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=temporal)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as client,
    ):
        yield client


@pytest.fixture(scope="session")
async def live_api(
    settings: Settings, temporal: Client, engine: AsyncEngine, sandbox: SandboxServer
) -> AsyncIterator[str]:
    """The API over real HTTP, in the tests' event loop, receiving the sandbox's pushes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, temporal=temporal),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=sandbox.base_url) as control:
        resp = await control.put(
            "/_sandbox/notifications",
            json={
                "url": f"{url}/v1/dosespot/notifications",
                "secret": settings.dosespot_webhook_secret,
            },
        )
        resp.raise_for_status()
    yield url
    server.should_exit = True
    await task


@pytest.fixture
async def sandbox_http(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the sandbox's /_sandbox/ controls; resets faults after the test."""
    async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
        yield client
        await client.delete("/_sandbox/faults")


@dataclass
class WorkspaceKeys:
    id: str
    service: str
    admin: str
    admin_member_id: str
    member: str
    member_id: str

    def headers(self, role: str = "service") -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


@pytest.fixture
def new_workspace(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[], Awaitable[WorkspaceKeys]]:
    async def make() -> WorkspaceKeys:
        ws = f"ws_{uuid.uuid4().hex[:10]}"
        async with sessionmaker() as session:
            service = await create_workspace(session, ws, "Test Practice")
            admin = await add_person(
                session, ws, "m_admin", "Alex", "Admin", "alex@example.com", admin=True
            )
            member = await add_person(
                session, ws, "m_ada", "Ada", "Lovelace", "ada@example.com", admin=False
            )
            await session.commit()
        return WorkspaceKeys(ws, service, admin, "m_admin", member, "m_ada")

    return make


@pytest.fixture
async def workspace(new_workspace: Callable[[], Awaitable[WorkspaceKeys]]) -> WorkspaceKeys:
    return await new_workspace()
