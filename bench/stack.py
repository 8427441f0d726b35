"""The stack the end-to-end benchmarks run against: ``make dev``'s processes on free ports.

The Temporal dev server keeps its state in memory, everything else lives in a temporary
directory, so a benchmark never meets ``make dev``'s or the tests' data. A workspace with
a registered clinic and as many members as asked is seeded through the API.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert

from api.admin import add_person, create_workspace
from bench.load import http_client
from db.migrate import upgrade
from db.models import Member
from db.session import create_engine, create_sessionmaker
from erx.dev import Ports, Stack
from erx.settings import Settings

WORKSPACE = "ws_bench"
LOCATION = {
    "id": "loc-main",
    "name": "Bench Family Practice",
    "street_address": "350 Fifth Avenue",
    "suburb": "Suite 4100",
    "city": "New York",
    "state": "NY",
    "zip_code": "10118",
    "phone": "+1 212 736 5000",
    "fax": "+1 212 736 5001",
}
# DoseSpot in the sandbox answers at once: the benchmarks time our stack, not its delays.
FAST_SCENARIO = {
    "confirmation_delay_seconds": 0.05,
    "attempt_delay_seconds": 0.05,
    "idme_delay_seconds": 0.05,
    "tfa_delay_seconds": 0.05,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def member_id(n: int) -> str:
    return f"m_{n:06d}"


@dataclass
class BenchStack:
    """A running stack: its settings, the worker's pid, the seeded workspace's keys."""

    stack: Stack
    settings: Settings
    api_url: str
    sandbox_url: str
    service_key: str
    admin_key: str

    @property
    def worker_pid(self) -> int:
        return self.stack.pid("worker")

    @property
    def api_pid(self) -> int:
        return self.stack.pid("api")

    def pids(self, *names: str) -> dict[str, int]:
        """The named processes of the stack (all of them if none is named), by name."""
        return {n: p.pid for n, p in self.stack.procs if not names or n in names}

    def headers(self, role: str = "service") -> dict[str, str]:
        key = self.service_key if role == "service" else self.admin_key
        return {"Authorization": f"Bearer {key}"}

    @property
    def base(self) -> str:
        return f"{self.api_url}/v1/workspaces/{WORKSPACE}"


def bench_settings(data: Path, ports: Ports, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{data / 'erx.db'}",
        "temporal_address": f"127.0.0.1:{ports.temporal}",
        "task_queue": "erx-bench",
        "dosespot_base_url": f"http://127.0.0.1:{ports.sandbox}/webapi/v2/",
        "dosespot_sso_url": f"http://127.0.0.1:{ports.sandbox}/LoginSingleSignOn.aspx",
        "smtp_port": free_port(),
        "api_public_url": f"http://127.0.0.1:{ports.api}",
        **overrides,
    }
    return Settings.model_validate(values)


def settings_env(settings: Settings, names: set[str]) -> dict[str, str]:
    """The named settings as ``ERX_*`` variables for the worker and API processes."""
    env = {}
    for name in names:
        value = getattr(settings, name)
        env[f"ERX_{name.upper()}"] = value if isinstance(value, str) else str(value)
    return env


async def seed(settings: Settings, members: int) -> tuple[str, str]:
    """The workspace, its service and admin keys, and ``members`` team members."""
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with create_sessionmaker(engine)() as session:
            service = await create_workspace(session, WORKSPACE, "Bench Family Practice")
            admin = await add_person(
                session, WORKSPACE, "m_admin", "Alex", "Admin", "alex@example.com", admin=True
            )
            await session.commit()
    finally:
        await engine.dispose()
    await add_members(settings, 0, members)
    return service, admin


async def add_members(settings: Settings, start: int, stop: int) -> None:
    """Team members ``member_id(start)`` up to ``member_id(stop)``, straight into the database."""
    if stop <= start:
        return
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.execute(
                insert(Member),
                [
                    {
                        "workspace_id": WORKSPACE,
                        "id": member_id(n),
                        "first_name": "Ada",
                        "last_name": f"Lovelace{n}",
                        "email": f"{member_id(n)}@example.com",
                        "is_admin": False,
                    }
                    for n in range(start, stop)
                ],
            )
            await session.commit()
    finally:
        await engine.dispose()


@asynccontextmanager
async def running_stack(
    *,
    members: int = 0,
    overrides: dict[str, object] | None = None,
    api_factory: str = "bench.app:create_bench_app",
) -> AsyncIterator[BenchStack]:
    """Start the stack, seed the workspace, register its clinic; stop it all on exit."""
    overrides = overrides or {}
    with tempfile.TemporaryDirectory(prefix="erx-bench-") as tmp:
        data = Path(tmp)
        ports = Ports(
            api=free_port(),
            sandbox=free_port(),
            temporal=free_port(),
            ui=free_port(),
            mail_http=free_port(),
        )
        settings = bench_settings(data, ports, **overrides)
        service, admin = await seed(settings, members)
        names = {
            "temporal_address",
            "task_queue",
            "dosespot_base_url",
            "dosespot_sso_url",
            "smtp_port",
            "api_public_url",
            *overrides,
        }
        stack = Stack(
            data,
            settings,
            ports,
            temporal_db=False,
            env=settings_env(settings, names),
            api_factory=api_factory,
            log_dir=data,
        )
        try:
            await asyncio.to_thread(stack.start)
            # The bare-Temporal anchor's worker, beside the product's, on the same server.
            stack.spawn("bare-worker", sys.executable, "-m", "bench.bare")
            bench = BenchStack(
                stack,
                settings,
                f"http://127.0.0.1:{ports.api}",
                f"http://127.0.0.1:{ports.sandbox}",
                service,
                admin,
            )
            await _register_clinic(bench)
            yield bench
        except BaseException:
            print_log_tails(data)
            raise
        finally:
            await asyncio.to_thread(stack.stop, 30)


def print_log_tails(data: Path, lines: int = 15) -> None:
    """The last lines of each process's log, on stderr: what a stopped benchmark leaves."""
    for log in sorted(data.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name} (last {len(tail)} lines)", *tail, sep="\n", file=sys.stderr)


async def _register_clinic(bench: BenchStack) -> None:
    async with http_client(60) as http:
        resp = await http.put(f"{bench.sandbox_url}/_sandbox/scenarios/default", json=FAST_SCENARIO)
        resp.raise_for_status()
        for _ in range(100):
            resp = await http.post(
                f"{bench.base}/erx/setup", json={"location": LOCATION}, headers=bench.headers()
            )
            if resp.status_code == 200 and resp.json()["status"] == "registered":
                return
            # The worker may still be connecting; setup is idempotent.
            await asyncio.sleep(0.5)
        raise RuntimeError(f"the bench clinic was never registered: {resp.text}")
