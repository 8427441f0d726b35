"""The EHR's practice locations and team members (the searchable invite table)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Role
from api.deps import PrincipalDep, SessionDep
from api.schemas import (
    LocationPublic,
    LocationUpsert,
    MemberList,
    MemberPublic,
    MemberUpsert,
    NoControl,
    PathId,
)
from db.models import Location, Member
from db.upsert import upsert

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["directory"])


def location_public(location: Location) -> LocationPublic:
    return LocationPublic(
        id=location.id,
        name=location.name,
        street_address=location.address1,
        suburb=location.address2,
        city=location.city,
        state=location.state,
        zip_code=location.zip_code,
        country=location.country,
        phone=location.phone,
        fax=location.fax,
    )


async def upsert_location(
    session: AsyncSession, ws: str, location_id: str, body: LocationUpsert
) -> Location:
    await upsert(
        session,
        Location,
        {
            "workspace_id": ws,
            "id": location_id,
            "name": body.name,
            "address1": body.street_address,
            "address2": body.suburb,
            "city": body.city,
            "state": body.state,
            "zip_code": body.zip_code,
            "country": body.country,
            "phone": body.phone,
            "fax": body.fax,
        },
    )
    location = await session.get(Location, (ws, location_id), populate_existing=True)
    assert location is not None
    return location


@router.put("/locations/{location_id}", response_model=LocationPublic)
async def put_location(
    ws: PathId,
    location_id: PathId,
    body: LocationUpsert,
    principal: PrincipalDep,
    session: SessionDep,
) -> LocationPublic:
    """Create or update a practice location."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    return location_public(await upsert_location(session, ws, location_id, body))


def member_public(member: Member) -> MemberPublic:
    return MemberPublic(
        id=member.id,
        first_name=member.first_name,
        last_name=member.last_name,
        email=member.email,
        job_title=member.job_title,
        is_admin=member.is_admin,
    )


@router.put("/members/{member_id}", response_model=MemberPublic)
async def put_member(
    ws: PathId, member_id: PathId, body: MemberUpsert, principal: PrincipalDep, session: SessionDep
) -> MemberPublic:
    """Create or update a team member."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    await upsert(
        session,
        Member,
        {
            "workspace_id": ws,
            "id": member_id,
            "first_name": body.first_name,
            "last_name": body.last_name,
            "email": str(body.email),
            "job_title": body.job_title,
            "is_admin": body.is_admin,
        },
    )
    member = await session.get(Member, (ws, member_id), populate_existing=True)
    assert member is not None
    return member_public(member)


@router.get("/members", response_model=MemberList)
async def list_members(
    ws: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    search: Annotated[str | None, Query(max_length=100), NoControl] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MemberList:
    """Team members, filtered by a search over name, email and job title."""
    principal.require_workspace(ws)
    query = select(Member).where(Member.workspace_id == ws)
    if search:
        like = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(Member.first_name).like(like),
                func.lower(Member.last_name).like(like),
                func.lower(Member.email).like(like),
                func.lower(func.coalesce(Member.job_title, "")).like(like),
                func.lower(Member.first_name + " " + Member.last_name).like(like),
            )
        )
    rows = (await session.scalars(query.order_by(Member.last_name, Member.id).limit(limit))).all()
    return MemberList(items=[member_public(m) for m in rows], count=len(rows))
