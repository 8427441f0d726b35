"""Proxies and prescribing agents: request and response bodies."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictBool

from api.schemas import RequestModel, ResourceId, UtcDateTime
from erx.identifiers import MM_DD_YYYY, check_date_of_birth

ProxyRole = Literal["proxy", "agent"]


def _date_of_birth(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError("date of birth must be a string MM/DD/YYYY")
    try:
        return check_date_of_birth(value)
    except ValueError as err:
        raise ValueError(str(err).replace("a prescriber", "a proxy")) from None


DateOfBirth = Annotated[
    date, BeforeValidator(_date_of_birth, json_schema_input_type=str), MM_DD_YYYY
]


class ProxyRegistrationIn(RequestModel):
    """Register (or change) a member as a proxy or prescribing agent for prescribers."""

    role: ProxyRole = Field(
        description="proxy: DoseSpot's ProxyClinician (clerical, drafts and saves pending "
        "prescriptions); agent: PrescribingAgentClinician, which DoseSpot links to one "
        "supervising prescriber per clinic. Neither ever sends"
    )
    supervisor_member_ids: list[ResourceId] = Field(
        min_length=1,
        max_length=20,
        description="The prescribers (verified members) the member works for; an agent has "
        "exactly one",
    )
    date_of_birth: DateOfBirth = Field(
        description="MM/DD/YYYY. DoseSpot requires it of every user; it is sent to DoseSpot "
        "and not kept here"
    )


class ProxyPublic(BaseModel):
    member_id: str
    role: ProxyRole
    supervisor_member_ids: list[str]
    state: Literal["registering", "active", "removing", "removed"] = Field(
        description="registering until DoseSpot holds the user (and an agent's supervisor); "
        "removed once DELETE deactivated it"
    )
    dosespot_clinician_id: int | None
    may_send: bool = Field(
        default=False, description="Always false: only the supervising prescriber sends"
    )
    updated_at: UtcDateTime


class ProxiesPublic(BaseModel):
    items: list[ProxyPublic]


class ProxySessionIn(RequestModel):
    client_id: ResourceId = Field(description="The client (patient) to open")
    supervisor_member_id: ResourceId | None = Field(
        default=None,
        description="The prescriber the proxy works for in this session; may be left out "
        "when the proxy has only one",
    )
    refills_errors: StrictBool = Field(
        default=False, description="Open the supervisor's notification queues instead"
    )


class ProxySessionPublic(BaseModel):
    sso_url: str = Field(
        description="Signs in as the proxy (SingleSignOnUserId) acting for the supervisor "
        "(OnBehalfOfUserId)"
    )
    member_id: str
    supervisor_member_id: str
    client_id: str
