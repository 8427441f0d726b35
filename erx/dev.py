"""``make dev``: the whole stack in the foreground on a laptop; Ctrl-C stops all of it.

Starts the Temporal dev server (state in .data/temporal.db, so workflows survive a
restart), the DoseSpot sandbox (state in .data/sandbox.db), the local SMTP sink,
the worker and the API; migrates the database and seeds a demo workspace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from db.migrate import upgrade
from db.models import Workspace
from db.session import create_engine, create_sessionmaker
from erx.settings import Settings, get_settings
from erx.temporal import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
BIN = Path(sys.executable).parent
DEMO_KEYS = DATA / "demo-keys.json"
DEMO_WORKSPACE = "ws_demo"

API_PORT = 8000
SANDBOX_PORT = 8090
TEMPORAL_PORT = 7233
UI_PORT = 8233
MAIL_HTTP_PORT = 1080


async def seed_demo() -> dict[str, str]:
    """Create the demo workspace once; its keys are kept in .data for this laptop only."""
    from api.admin import add_person, create_workspace

    settings = get_settings()
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with create_sessionmaker(engine)() as session:
            if await session.get(Workspace, DEMO_WORKSPACE) is not None and DEMO_KEYS.exists():
                return dict(json.loads(DEMO_KEYS.read_text()))
            keys = {
                "service": await create_workspace(session, DEMO_WORKSPACE, "Demo Family Practice"),
                "admin (m_admin)": await add_person(
                    session,
                    DEMO_WORKSPACE,
                    "m_admin",
                    "Alex",
                    "Admin",
                    "alex@example.com",
                    admin=True,
                    job_title="Practice manager",
                ),
                "member (m_ada)": await add_person(
                    session,
                    DEMO_WORKSPACE,
                    "m_ada",
                    "Ada",
                    "Lovelace",
                    "ada@example.com",
                    admin=False,
                    job_title="Physician",
                ),
                "member (m_grace)": await add_person(
                    session,
                    DEMO_WORKSPACE,
                    "m_grace",
                    "Grace",
                    "Hopper",
                    "grace@example.com",
                    admin=False,
                    job_title="Nurse practitioner",
                ),
            }
            await session.commit()
            DEMO_KEYS.write_text(json.dumps(keys, indent=2))
            DEMO_KEYS.chmod(0o600)
            return keys
    finally:
        await engine.dispose()


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port} within {timeout:.0f} s")


@dataclass(frozen=True)
class Ports:
    """Where the stack's processes listen (the SMTP sink's port comes from the settings)."""

    api: int = API_PORT
    sandbox: int = SANDBOX_PORT
    temporal: int = TEMPORAL_PORT
    ui: int = UI_PORT
    mail_http: int = MAIL_HTTP_PORT


class Stack:
    """The stack's processes, started in dependency order and stopped together.

    ``temporal_db`` keeps the dev server's state in a file (``make dev``) instead of memory;
    with ``log_dir`` each process writes its output to ``<name>.log`` there.
    """

    def __init__(
        self,
        data: Path,
        settings: Settings,
        ports: Ports | None = None,
        *,
        temporal_db: bool = True,
        env: dict[str, str] | None = None,
        api_factory: str = "api.app:create_app",
        log_dir: Path | None = None,
    ) -> None:
        self.data, self.settings, self.ports = data, settings, ports or Ports()
        self.temporal_db, self.api_factory = temporal_db, api_factory
        self.env = {
            **os.environ,
            "ERX_DATABASE_URL": settings.database_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, *cmd: str) -> subprocess.Popen[bytes]:
        """Start one more process of the stack; it is stopped with the others."""
        if self.log_dir is None:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env)  # noqa: S603
        else:
            with (self.log_dir / f"{name}.log").open("ab") as log:
                proc = subprocess.Popen(  # noqa: S603
                    cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
        self.procs.append((name, proc))
        return proc

    def pid(self, name: str) -> int:
        return next(proc.pid for n, proc in self.procs if n == name)

    def start(self) -> None:
        ports, data = self.ports, self.data
        data.mkdir(parents=True, exist_ok=True)
        sa_flags = [f"--search-attribute={key.name}=Keyword" for key in SEARCH_ATTRIBUTES]
        db_flags = ["--db-filename", str(data / "temporal.db")] if self.temporal_db else []
        self.spawn(
            "temporal", str(BIN / "temporal"), "server", "start-dev", *db_flags,
            "--port", str(ports.temporal), "--ui-port", str(ports.ui),
            "--ui-codec-endpoint", f"http://localhost:{ports.api}/codec",
            "--log-level", "warn",
            *sa_flags,
        )  # fmt: skip
        self.spawn(
            "sandbox", sys.executable, "-m", "dosespot_sandbox",
            "--port", str(ports.sandbox), "--state", str(data / "sandbox.db"),
            "--notify-url", f"http://127.0.0.1:{ports.api}/v1/dosespot/notifications",
        )  # fmt: skip
        self.spawn(
            "mailsink", sys.executable, "-m", "erx.mailsink",
            "--smtp-port", str(self.settings.smtp_port), "--http-port", str(ports.mail_http),
            "--dir", str(data / "mail"),
        )  # fmt: skip
        wait_for_port(ports.temporal)
        self.spawn("worker", sys.executable, str(ROOT / "worker.py"))
        self.spawn(
            # No access log: request lines carry query strings (searches by name).
            "api", sys.executable, "-m", "uvicorn", self.api_factory, "--factory",
            "--host", "127.0.0.1", "--port", str(ports.api), "--no-access-log",
        )  # fmt: skip
        wait_for_port(ports.api)
        wait_for_port(ports.sandbox)
        wait_for_port(ports.mail_http)

    def exited(self) -> tuple[str, int] | None:
        """The first process that has exited, with its code."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def stop(self, timeout: float = 30) -> None:
        """Ctrl-C to each process, newest first; one still running after ``timeout`` is killed."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _name, proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def main() -> None:
    DATA.mkdir(exist_ok=True)
    settings = get_settings()
    keys = asyncio.run(seed_demo())
    stack = Stack(DATA, settings)
    stack.start()

    print(
        "\n"
        f"  API            http://localhost:{API_PORT}   (OpenAPI: /docs, health: /healthz)\n"
        f"  Temporal UI    http://localhost:{UI_PORT}\n"
        f"  Temporal gRPC  localhost:{TEMPORAL_PORT}\n"
        f"  DoseSpot sandbox http://localhost:{SANDBOX_PORT}/webapi/v2/ (controls: /_sandbox/)\n"
        f"  Mail (SMTP :{settings.smtp_port})  http://localhost:{MAIL_HTTP_PORT}/messages\n"
        f"\n  Demo workspace {DEMO_WORKSPACE} API keys:\n"
        + "".join(f"    {role:<18} {key}\n" for role, key in keys.items())
        + "\n  Ctrl-C stops everything.\n",
        flush=True,
    )

    def stop(*_: object) -> None:
        stack.stop()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        exited = stack.exited()
        if exited is not None:
            print(f"{exited[0]} exited with {exited[1]}; stopping", flush=True)
            stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
