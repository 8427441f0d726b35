"""The sandbox application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dosespot_sandbox import (
    allergies,
    auth,
    clinicians,
    clinics,
    control,
    diagnoses,
    embedded_ui,
    envelope,
    favorites,
    general,
    medications,
    patients,
    pharmacies,
    prescriptions,
    refills,
    sso,
    verification,
)
from dosespot_sandbox.body import UnsupportedMediaType
from dosespot_sandbox.config import SandboxConfig
from dosespot_sandbox.gateway import API_PREFIX, gateway
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import InvalidRequest


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    sandbox = Sandbox(config or SandboxConfig())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = asyncio.create_task(sandbox.run_clock())
        try:
            yield
        finally:
            scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler
            await sandbox.notifier.aclose()
            sandbox.store.close()

    app = FastAPI(
        title="DoseSpot API v2 sandbox",
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.middleware("http")(gateway)

    api_prefix = API_PREFIX.rstrip("/")
    for module in (
        auth,
        general,
        clinics,
        # Before clinicians: api/clinicians/ordersets is not a clinician id.
        diagnoses,
        favorites,
        clinicians,
        verification,
        patients,
        allergies,
        pharmacies,
        medications,
        prescriptions,
        refills,
    ):
        app.include_router(module.router, prefix=api_prefix, include_in_schema=False)
    app.include_router(control.router)
    app.include_router(favorites.control_router)
    app.include_router(prescriptions.control_router)
    app.include_router(embedded_ui.router)
    app.include_router(sso.router, include_in_schema=False)

    @app.exception_handler(auth.Unauthorized)
    async def _unauthorized(_request: Request, _exc: auth.Unauthorized) -> JSONResponse:
        return envelope.unauthorized()

    @app.exception_handler(InvalidRequest)
    async def _invalid(_request: Request, exc: InvalidRequest) -> JSONResponse:
        return envelope.invalid_request(exc.model_state)

    @app.exception_handler(UnsupportedMediaType)
    async def _media_type(_request: Request, exc: UnsupportedMediaType) -> JSONResponse:
        return JSONResponse(
            {
                "Message": f"The request entity's media type '{exc.media_type}' is not "
                "supported for this resource."
            },
            status_code=415,
        )

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not request.url.path.startswith(API_PREFIX):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        model_state: dict[str, list[str]] = {}
        for err in exc.errors():
            name = str(err["loc"][-1]) if err.get("loc") else "request"
            model_state.setdefault(name, []).append("The value is not valid.")
        return envelope.invalid_request(model_state)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if not request.url.path.startswith(API_PREFIX):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if exc.status_code == 404:
            message = (
                f"No HTTP resource was found that matches the request URI '{request.url.path}'."
            )
        elif exc.status_code == 405:
            message = f"The requested resource does not support http method '{request.method}'."
        else:
            message = str(exc.detail)
        return JSONResponse({"Message": message}, status_code=exc.status_code)

    return app
