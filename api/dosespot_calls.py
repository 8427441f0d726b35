"""DoseSpot calls a request waits for: the partner's admin user acting in one of our clinics.

A route reads what it needs here (the clinic and its key, the patient's DoseSpot id), then
commits its session so no database connection is held while DoseSpot answers, then calls
DoseSpot inside :func:`dosespot_errors`, which turns DoseSpot's failures into API errors.
Logs name the operation, the workspace and DoseSpot's ids, never what was searched for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.dosespot_access import clinic_key
from api.errors import Conflict, DomainError, Unavailable
from api.patient_service import client_record, registered_patient
from db.models import ClinicRegistration
from dosespot import DoseSpotClient, DoseSpotCredentials
from dosespot.errors import (
    DoseSpotAuthError,
    DoseSpotError,
    DoseSpotNotFound,
    DoseSpotRateLimited,
    DoseSpotRefused,
    DoseSpotUnavailable,
    DoseSpotValidationError,
)
from erx.codec import SecretBox
from erx.settings import Settings
from workflows.models import ClinicStatus

logger = logging.getLogger("api.dosespot")


class DoseSpotFailed(DomainError):
    """DoseSpot refused or garbled a call we had validated: not the caller's input."""

    status_code = 502
    code = "dosespot_error"


@dataclass(frozen=True, slots=True)
class ClinicAccess:
    """One of our DoseSpot clinics with its ClinicKey, as the partner admin uses it."""

    workspace_id: str
    clinic_id: int
    key: str = field(repr=False)

    def client(self, dosespot: DoseSpotClient, settings: Settings) -> DoseSpotClient:
        return dosespot.as_user(
            DoseSpotCredentials(
                clinic_id=self.clinic_id, clinic_key=self.key, user_id=settings.dosespot_user_id
            )
        )


@dataclass(frozen=True, slots=True)
class PatientAccess:
    clinic: ClinicAccess
    client_id: str
    patient_id: int


def _dosespot(request: Request) -> DoseSpotClient:
    client: DoseSpotClient = request.app.state.dosespot
    return client


DoseSpotDep = Annotated[DoseSpotClient, Depends(_dosespot)]


def _access(
    registration: ClinicRegistration | None, ws: str, settings: Settings
) -> ClinicAccess | None:
    if registration is None or registration.dosespot_clinic_id is None:
        return None
    key = clinic_key(registration, SecretBox(settings.codec_keys, settings.codec_active_key_id))
    if key is None:
        return None
    return ClinicAccess(ws, registration.dosespot_clinic_id, key)


async def workspace_clinic(session: AsyncSession, settings: Settings, ws: str) -> ClinicAccess:
    """The workspace's first registered clinic (409 until one is registered)."""
    registration = await session.scalar(
        select(ClinicRegistration)
        .where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.status == ClinicStatus.registered.value,
        )
        .order_by(ClinicRegistration.created_at)
        .limit(1)
    )
    access = _access(registration, ws, settings)
    if access is None:
        raise Conflict(
            "Register the clinic with DoseSpot first",
            state="no_clinic",
            allowed_actions=["register_clinic"],
        )
    return access


async def patient_access(
    session: AsyncSession, settings: Settings, ws: str, client_id: str
) -> PatientAccess:
    """The client's DoseSpot patient and clinic: 404 for no such client, 409 if unregistered."""
    await client_record(session, ws, client_id)
    patient = await registered_patient(session, ws, client_id)
    assert patient.dosespot_patient_id is not None
    registration = await session.scalar(
        select(ClinicRegistration).where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.dosespot_clinic_id == patient.dosespot_clinic_id,
        )
    )
    access = _access(registration, ws, settings)
    if access is None:
        raise Conflict("the patient's clinic is not registered with DoseSpot")
    return PatientAccess(access, client_id, patient.dosespot_patient_id)


@contextmanager
def dosespot_errors(operation: str, ws: str) -> Iterator[None]:
    """Turn DoseSpot's failures into API errors: 503 when a retry can help, else 502.

    DoseSpot's own words (``ResultDescription``, model-state messages) go to the caller, not
    to the log: they can repeat what was sent.
    """
    try:
        yield
    except DoseSpotError as exc:
        logger.warning(
            "DoseSpot %s for workspace %s failed: %s (HTTP %s, request id %s)",
            operation,
            ws,
            type(exc).__name__,
            exc.http_status,
            exc.request_id or "-",
        )
        if isinstance(exc, DoseSpotRateLimited | DoseSpotUnavailable) or exc.retryable:
            raise Unavailable(
                "DoseSpot is not answering right now; try again shortly",
                retry_after_seconds=exc.retry_after,
            ) from exc
        if isinstance(exc, DoseSpotAuthError):
            raise DoseSpotFailed("DoseSpot refused the clinic's credentials") from exc
        if isinstance(exc, DoseSpotRefused):
            raise DoseSpotFailed(
                f"DoseSpot refused the request: {exc.description or 'no reason given'}"
            ) from exc
        if isinstance(exc, DoseSpotValidationError):
            fields = ", ".join(sorted(exc.field_errors)) or "unnamed fields"
            raise DoseSpotFailed(f"DoseSpot rejected the request's {fields}") from exc
        if isinstance(exc, DoseSpotNotFound):
            raise DoseSpotFailed("DoseSpot does not know the patient or the clinic") from exc
        raise DoseSpotFailed("DoseSpot's answer could not be read") from exc
