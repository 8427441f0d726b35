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
from pathlib import Path

from db.migrate import upgrade
from db.models import Workspace
from db.session import create_engine, create_sessionmaker
from erx.settings import get_settings
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


def main() -> None:
    DATA.mkdir(exist_ok=True)
    settings = get_settings()
    env = {
        **os.environ,
        "ERX_DATABASE_URL": settings.database_url,
        "PYTHONUNBUFFERED": "1",
    }
    keys = asyncio.run(seed_demo())

    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(*cmd: str) -> None:
        procs.append((Path(cmd[0]).name, subprocess.Popen(cmd, cwd=ROOT, env=env)))  # noqa: S603

    sa_flags = [f"--search-attribute={key.name}=Keyword" for key in SEARCH_ATTRIBUTES]
    start(
        str(BIN / "temporal"), "server", "start-dev",
        "--db-filename", str(DATA / "temporal.db"),
        "--port", str(TEMPORAL_PORT), "--ui-port", str(UI_PORT),
        "--ui-codec-endpoint", f"http://localhost:{API_PORT}/codec",
        "--log-level", "warn",
        *sa_flags,
    )  # fmt: skip
    start(
        sys.executable, "-m", "dosespot_sandbox",
        "--port", str(SANDBOX_PORT), "--state", str(DATA / "sandbox.db"),
        "--notify-url", f"http://127.0.0.1:{API_PORT}/v1/dosespot/notifications",
    )  # fmt: skip
    start(
        sys.executable, "-m", "erx.mailsink",
        "--smtp-port", str(settings.smtp_port), "--http-port", str(MAIL_HTTP_PORT),
        "--dir", str(DATA / "mail"),
    )  # fmt: skip
    wait_for_port(TEMPORAL_PORT)
    start(sys.executable, "worker.py")
    start(
        # No access log: request lines carry query strings (searches by name).
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(API_PORT), "--no-access-log",
    )  # fmt: skip
    wait_for_port(API_PORT)
    wait_for_port(SANDBOX_PORT)
    wait_for_port(MAIL_HTTP_PORT)

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
        for _name, proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _name, proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        for name, proc in procs:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
