"""Run a sandbox over real HTTP inside a test.

    with sandbox_server(SandboxConfig(...)) as base_url:      # "http://127.0.0.1:PORT"
        httpx.get(f"{base_url}/webapi/v2/api/general/check", ...)

    async with sandbox_server() as base_url:
        ...

The API base URL for a DoseSpot client is ``f"{base_url}/webapi/v2/"``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn

from dosespot_sandbox.app import create_app
from dosespot_sandbox.config import SandboxConfig


class SandboxServer:
    """Uvicorn in a daemon thread on a free 127.0.0.1 port, for ``with`` or ``async with``."""

    def __init__(self, config: SandboxConfig | None = None, startup_timeout: float = 10.0) -> None:
        self.config = config or SandboxConfig()
        self.startup_timeout = startup_timeout
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/webapi/v2/"

    def start(self) -> str:
        # An explicit IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections;
        # without it every keep-alive response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.config), log_level="warning", access_log=False, lifespan="on"
            )
        )
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"dosespot-sandbox-{port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the DoseSpot sandbox did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> str:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def sandbox_server(config: SandboxConfig | None = None) -> SandboxServer:
    return SandboxServer(config)
