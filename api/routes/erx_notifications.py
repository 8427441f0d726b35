"""The EHR's notification badge: DoseSpot's queues per clinician and per clinic."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role
from api.deps import PrincipalDep, SessionDep
from api.schemas import NotificationCounts as Counts
from api.schemas import PathId, UtcDateTime, utc
from db.counts import ClinicianNotificationCounts
from db.models import ClinicianEnrollment, ClinicRegistration

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["notifications"])


class ClinicianCounts(BaseModel):
    member_id: str | None = Field(description="None for a DoseSpot user we do not know")
    location_id: str | None
    counts: Counts
    observed_at: UtcDateTime
    source: str = Field(description="push or poll: where the newest observation came from")


class ClinicCounts(BaseModel):
    location_id: str | None
    counts: Counts


class NotificationsPublic(BaseModel):
    clinicians: list[ClinicianCounts]
    clinics: list[ClinicCounts]
    total: Counts


async def counts_for(
    session: AsyncSession, ws: str, member_id: str | None = None
) -> NotificationsPublic:
    """The workspace's counts (or one clinician's), newest observation per clinic."""
    query = (
        select(ClinicianNotificationCounts, ClinicianEnrollment.member_id)
        .outerjoin(
            ClinicianEnrollment,
            (ClinicianEnrollment.workspace_id == ClinicianNotificationCounts.workspace_id)
            & (
                ClinicianEnrollment.dosespot_clinician_id
                == ClinicianNotificationCounts.dosespot_clinician_id
            ),
        )
        .where(ClinicianNotificationCounts.workspace_id == ws)
        .order_by(
            ClinicianNotificationCounts.dosespot_clinician_id,
            ClinicianNotificationCounts.dosespot_clinic_id,
        )
    )
    if member_id is not None:
        query = query.where(ClinicianEnrollment.member_id == member_id)
    rows = (await session.execute(query)).all()
    registrations = await session.execute(
        select(ClinicRegistration.dosespot_clinic_id, ClinicRegistration.location_id).where(
            ClinicRegistration.workspace_id == ws
        )
    )
    locations = {clinic: location for clinic, location in registrations}
    clinicians: list[ClinicianCounts] = []
    clinics: dict[str | None, Counts] = {}
    total = Counts()
    for row, member in rows:
        counts = Counts()
        counts.add(row)
        location = locations.get(row.dosespot_clinic_id)
        clinicians.append(
            ClinicianCounts(
                member_id=member,
                location_id=location,
                counts=counts,
                observed_at=utc(row.observed_at) or row.observed_at,
                source=row.source,
            )
        )
        clinics.setdefault(location, Counts()).add(row)
        total.add(row)
    return NotificationsPublic(
        clinicians=clinicians,
        clinics=[ClinicCounts(location_id=k, counts=v) for k, v in clinics.items()],
        total=total,
    )


@router.get("/notifications", response_model=NotificationsPublic)
async def notifications(
    ws: PathId, principal: PrincipalDep, session: SessionDep
) -> NotificationsPublic:
    """Pending prescriptions, transmission errors, refill and change requests per clinician
    and per clinic (a member key sees its own)."""
    principal.require_workspace(ws)
    own = principal.member_id if principal.role == Role.member else None
    return await counts_for(session, ws, own)
