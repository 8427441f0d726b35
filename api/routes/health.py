"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import SessionDep, TemporalDep
from api.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The API process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(session: SessionDep, temporal: TemporalDep) -> dict[str, str]:
    """Temporal and the database are reachable."""
    try:
        await session.execute(text("SELECT 1"))
    except Exception as err:
        raise Unavailable("database unreachable") from err
    try:
        await temporal.workflow_service.get_system_info(GetSystemInfoRequest())
    except Exception as err:
        raise Unavailable("temporal unreachable") from err
    return {"status": "ready"}
