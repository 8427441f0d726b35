"""Who writes a prescription in DoseSpot when a proxy or prescribing agent drafted it.

A draft whose creator is a registered proxy or agent of its prescriber is saved in DoseSpot
by that proxy acting for the prescriber: the token is the proxy's own (``username``) with
``acr_values=OnBehalfOfUserId=<prescriber>``, so DoseSpot records the proxy as the
prescription's agent (``PrescriberAgentId``) and leaves the send to the prescriber. Any other
creator (staff, the EHR's service key, the prescriber) saves as the prescriber.
"""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ProxyRegistration
from dosespot import DoseSpotClient, DoseSpotCredentials


async def proxy_acting_for(
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace_id: str,
    created_by: str | None,
    prescriber_member_id: str,
) -> ProxyRegistration | None:
    """``created_by``'s registration if it is an active proxy or agent of the prescriber."""
    if created_by is None or created_by == prescriber_member_id:
        return None
    async with sessionmaker() as session:
        row = await session.get(ProxyRegistration, (workspace_id, created_by))
    if row is None or row.state != "active" or row.dosespot_clinician_id is None:
        return None
    if prescriber_member_id not in json.loads(row.supervisor_member_ids):
        return None
    return row


async def as_drafting_proxy(
    client: DoseSpotClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace_id: str,
    created_by: str | None,
    prescriber_member_id: str,
) -> tuple[DoseSpotClient, int | None]:
    """``client`` (the prescriber in the clinic), or the draft's proxy acting for them; and
    for a prescribing agent, its supervisor (the prescriber), which the prescription names
    as its ``SupervisorId``."""
    proxy = await proxy_acting_for(sessionmaker, workspace_id, created_by, prescriber_member_id)
    if proxy is None or proxy.dosespot_clinician_id is None:
        return client, None
    prescriber = client.credentials
    acting = client.as_user(
        DoseSpotCredentials(
            clinic_id=prescriber.clinic_id,
            clinic_key=prescriber.clinic_key,
            user_id=proxy.dosespot_clinician_id,
            on_behalf_of_user_id=prescriber.user_id,
        )
    )
    return acting, prescriber.user_id if proxy.role == "agent" else None
