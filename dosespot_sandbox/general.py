from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SessionDep

router = APIRouter()


@router.get("/api/general/check")
async def check(session: SessionDep) -> JSONResponse:
    return envelope.ok()
