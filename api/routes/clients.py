"""The EHR's clients (patients): the record an eRx registration is built from.

A client's fields are PHI and leave only in the response body: nothing here logs them, and a
database error, whose text repeats the statement's parameters, is logged by its type alone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.errors import NotFound, Unavailable
from api.patient_schemas import (
    AddressPublic,
    ClientPublic,
    ClientUpsert,
    HeightPublic,
    InsurancePublic,
    WeightPublic,
)
from api.patient_service import follow_client_record
from api.schemas import PathId
from db.models import Client
from db.upsert import upsert

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["clients"])
logger = logging.getLogger("api.clients")

# The EHR's opaque id for the client (no PHI), shaped as its column.
ClientId = PathId


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no offset: what it returns is the UTC time that was stored.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def client_public(client: Client) -> ClientPublic:
    return ClientPublic(
        id=client.id,
        first_name=client.first_name,
        middle_name=client.middle_name,
        last_name=client.last_name,
        date_of_birth=client.date_of_birth,
        sex=client.sex,  # type: ignore[arg-type]
        phone=client.phone,
        phone_type=client.phone_type,  # type: ignore[arg-type]
        email=client.email,
        address=AddressPublic(
            street_address=client.address1,
            suburb=client.address2,
            city=client.city,
            state=client.state,
            zip_code=client.zip_code,
        ),
        medical_record_number=client.medical_record_number,
        height=(
            HeightPublic(value=client.height, unit=client.height_unit)  # type: ignore[arg-type]
            if client.height is not None
            else None
        ),
        weight=(
            WeightPublic(value=client.weight, unit=client.weight_unit)  # type: ignore[arg-type]
            if client.weight is not None
            else None
        ),
        vitals_recorded_at=(
            _utc(client.vitals_recorded_at) if client.vitals_recorded_at is not None else None
        ),
        insurance=(
            InsurancePublic(
                payer_name=client.insurance_payer_name or "",
                payer_id=client.insurance_payer_id,
                member_id=client.insurance_member_id,
                group_id=client.insurance_group_id,
            )
            if client.insurance_member_id is not None
            else None
        ),
        updated_at=_utc(client.updated_at),
    )


@asynccontextmanager
async def _database(action: str) -> AsyncIterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        logger.error("client record not %s: %s", action, type(exc).__name__)
        raise Unavailable(f"the client record could not be {action}; try again") from None
    except SQLAlchemyError as exc:
        raise RuntimeError(f"client record not {action}: {type(exc).__name__}") from None


async def upsert_client(
    session: AsyncSession, ws: str, client_id: str, body: ClientUpsert
) -> Client:
    """Create the client or replace every field of it: a field left out becomes empty."""
    async with _database("written"):
        await _write(session, ws, client_id, body)
        client = await session.get(Client, (ws, client_id), populate_existing=True)
    assert client is not None
    return client


async def _write(session: AsyncSession, ws: str, client_id: str, body: ClientUpsert) -> None:
    address, height, weight, insurance = body.address, body.height, body.weight, body.insurance
    await upsert(
        session,
        Client,
        {
            "workspace_id": ws,
            "id": client_id,
            "first_name": body.first_name,
            "middle_name": body.middle_name,
            "last_name": body.last_name,
            "date_of_birth": body.date_of_birth,
            "sex": body.sex,
            "phone": body.phone,
            "phone_type": body.phone_type,
            "email": str(body.email) if body.email is not None else None,
            "address1": address.street_address,
            "address2": address.suburb,
            "city": address.city,
            "state": address.state,
            "zip_code": address.zip_code,
            "medical_record_number": body.medical_record_number,
            "height": height.value if height else None,
            "height_unit": height.unit if height else None,
            "weight": weight.value if weight else None,
            "weight_unit": weight.unit if weight else None,
            "vitals_recorded_at": (
                body.vitals_recorded_at.astimezone(UTC) if body.vitals_recorded_at else None
            ),
            "insurance_payer_name": insurance.payer_name if insurance else None,
            "insurance_payer_id": insurance.payer_id if insurance else None,
            "insurance_member_id": insurance.member_id if insurance else None,
            "insurance_group_id": insurance.group_id if insurance else None,
        },
    )


async def get_client(session: AsyncSession, ws: str, client_id: str) -> Client:
    """The workspace's client, or NotFound (another workspace's client does not exist here)."""
    async with _database("read"):
        client = await session.get(Client, (ws, client_id))
    if client is None:
        raise NotFound("client not found")
    return client


@router.put("/clients/{client_id}", response_model=ClientPublic)
async def put_client(
    ws: PathId,
    client_id: ClientId,
    body: ClientUpsert,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ClientPublic:
    """Create or replace a client (patient) record; a patient registered in DoseSpot is
    updated there too (the changed record must still be a valid registration)."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    client = await upsert_client(session, ws, client_id, body)
    answer = client_public(client)
    await follow_client_record(session, temporal, settings, ws, client)
    return answer


@router.get("/clients/{client_id}", response_model=ClientPublic)
async def read_client(
    ws: PathId, client_id: ClientId, principal: PrincipalDep, session: SessionDep
) -> ClientPublic:
    """A client (patient) record."""
    principal.require_workspace(ws)
    return client_public(await get_client(session, ws, client_id))
