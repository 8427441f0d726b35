"""The API as ``make bench`` serves it: the product's app plus one trivial route.

``GET /v1/workspaces/{ws}/bench/ping`` authenticates its bearer key like every workspace
route and answers a constant: the anchor the main routes' latency is compared with.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from api.deps import PrincipalDep


def create_bench_app() -> FastAPI:
    app = create_app()

    @app.get("/v1/workspaces/{ws}/bench/ping", include_in_schema=False)
    async def ping(ws: str, principal: PrincipalDep) -> dict[str, str]:
        """The key is valid for this workspace."""
        principal.require_workspace(ws)
        return {"status": "ok"}

    return app
