"""FastAPI application factory: ``uvicorn api.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.prescription_service import EpcsSigningWorker
from api.routes import (
    allergies,
    billing,
    catalogue,
    clients,
    clinicians,
    codec,
    directory,
    erx,
    erx_notifications,
    health,
    notifications,
    patients,
    pharmacies,
    prescriptions,
    proxies,
    renewals,
)
from api.watch import RevisionWatch
from db.session import create_sessionmaker, engine_from_settings
from erx.codec import EncryptionCodec
from erx.logs import quiet_phi_loggers
from erx.settings import Settings, get_settings
from erx.temporal import connect
from worker import dosespot_client


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    quiet_phi_loggers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = engine_from_settings(settings)
        app.state.settings = settings
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.watch = RevisionWatch(app.state.sessionmaker, settings.read_model_watch_seconds)
        app.state.temporal = temporal or await connect(settings)
        app.state.codec = EncryptionCodec(settings.codec_keys, settings.codec_active_key_id)
        app.state.dosespot = dosespot_client(settings)
        # Controlled-substance sends are signed here, where the PIN and code are held.
        epcs = EpcsSigningWorker(
            app.state.temporal, settings, app.state.sessionmaker, app.state.dosespot
        )
        app.state.epcs_signer = epcs
        try:
            yield
        finally:
            await epcs.stop()
            await app.state.watch.stop()
            await app.state.dosespot.aclose()
            await engine.dispose()

    app = FastAPI(
        title="eRx orchestration API",
        version="1",
        description="Turns on electronic prescribing through DoseSpot for an EHR's workspaces.",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.codec_cors_origins,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )
    install_error_handlers(app)
    install_openapi(app)
    for router in (
        health.router,
        directory.router,
        clients.router,
        erx.router,
        clinicians.router,
        billing.router,
        notifications.router,
        patients.router,
        erx_notifications.router,
        pharmacies.router,
        allergies.router,
        prescriptions.router,
        renewals.router,
        catalogue.router,
        proxies.router,
        codec.router,
    ):
        app.include_router(router)
    return app
