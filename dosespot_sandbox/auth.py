"""``connect/token`` (OAuth password grant) and bearer-token checks for API calls.

A token belongs to one (clinic, user) pair: every call made with it acts as that user in
that clinic. Tokens are opaque and kept in the store, so they survive a restart as real
DoseSpot tokens would.

A proxy (``ProxyClinician``) or prescribing agent (``PrescribingAgentClinician``) asks for a
token as itself with ``acr_values=OnBehalfOfUserId=<prescriber>``, as integrators do. The
pairing is checked at token time and a bad one is refused with DoseSpot's words
("OnBehalfOfUser validation failed", OnBehalfOfUserError 3055): the token's user must be a
proxy or agent of the clinic, the prescriber an active, confirmed PrescribingClinician of
the same clinic, and an agent's supervisor in that clinic must be that prescriber. A proxy
has no supervisor in DoseSpot (supervisors are an agent's): it may act for any prescriber
of its clinic. Such a token writes pending prescriptions for the prescriber and never sends.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import CLINIC_KIND, TOKEN_KIND, Sandbox, get_sandbox

router = APIRouter()


class Unauthorized(Exception):
    pass


ON_BEHALF_OF = "OnBehalfOfUserId"
ON_BEHALF_OF_REFUSAL = "OnBehalfOfUser validation failed"
ACTING_FOR_OTHERS = {"ProxyClinician", "PrescribingAgentClinician"}
PRESCRIBER_ROLE = "PrescribingClinician"


@dataclass(frozen=True)
class Session:
    """Who the token acts as; ``on_behalf_of_user_id`` is the prescriber a proxy or agent
    works for (None for everyone else)."""

    clinic_id: int
    user_id: int
    on_behalf_of_user_id: int | None = None

    @property
    def prescriber_id(self) -> int:
        """The prescriber whose prescriptions the session writes."""
        return self.on_behalf_of_user_id or self.user_id


def clinics_in_scope(sandbox: Sandbox, session: Session, scope: str | None) -> set[int]:
    """The clinics a listing covers: the session's, or with ``clinic=All`` every clinic its
    user works in."""
    if scope == "All":
        user = sandbox.store.get(CLINICIAN_KIND, session.user_id) or {}
        return set(user.get("ClinicIds", [])) | {session.clinic_id}
    return {session.clinic_id}


def oauth_error(error: str, description: str | None = None) -> JSONResponse:
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    return JSONResponse(body, status_code=400, headers={"Cache-Control": "no-store"})


def _as_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


@router.post("/connect/token")
async def issue_token(
    request: Request, sandbox: Annotated[Sandbox, Depends(get_sandbox)]
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return oauth_error("invalid_request")
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}

    grant_type = form.get("grant_type")
    if grant_type is None:
        return oauth_error("invalid_request")
    if grant_type != "password":
        return oauth_error("unsupported_grant_type")
    if form.get("scope", "api").split() != ["api"]:
        return oauth_error("invalid_scope")
    acr = _acr_values(form.get("acr_values", ""))
    if acr is None:
        return oauth_error("invalid_request", "acr_values is malformed")

    clinic_id = _as_int(form.get("client_id"))
    clinic = sandbox.store.get(CLINIC_KIND, clinic_id) if clinic_id is not None else None
    clinic_key = clinic.get("ClinicKey") if clinic else None
    if (
        clinic is None
        or not clinic.get("Active", True)
        or not secrets.compare_digest(form.get("client_secret", ""), clinic_key or "")
        or not secrets.compare_digest(form.get("password", ""), clinic_key or "")
    ):
        return oauth_error("invalid_grant", "Clinic is not valid")

    user_id = _as_int(form.get("username"))
    user = sandbox.store.get(CLINICIAN_KIND, user_id) if user_id is not None else None
    if user is None or clinic_id not in user.get("ClinicIds", []):
        return oauth_error("invalid_grant", "Unknown user")
    if not user.get("Active", True):
        return oauth_error("invalid_grant", "Your account is inactive")

    assert clinic_id is not None and user_id is not None
    on_behalf_of: int | None = None
    if ON_BEHALF_OF in acr:
        on_behalf_of = _as_int(acr[ON_BEHALF_OF])
        if on_behalf_of is None or not pairing_is_valid(sandbox, clinic_id, user, on_behalf_of):
            return oauth_error("invalid_grant", ON_BEHALF_OF_REFUSAL)

    now = time.time()
    lifetime = sandbox.config.token_lifetime_seconds
    for token in sandbox.store.all(TOKEN_KIND):
        if token["ExpiresAt"] <= now:
            sandbox.store.delete(TOKEN_KIND, token["Token"])
    access_token = secrets.token_urlsafe(48)
    sandbox.store.put(
        TOKEN_KIND,
        access_token,
        {
            "Token": access_token,
            "ClinicId": clinic_id,
            "UserId": user_id,
            "OnBehalfOfUserId": on_behalf_of,
            "ExpiresAt": now + lifetime,
        },
    )
    return JSONResponse(
        {"access_token": access_token, "expires_in": lifetime, "token_type": "bearer"},
        headers={"Cache-Control": "no-store"},
    )


async def require_session(
    request: Request, sandbox: Annotated[Sandbox, Depends(get_sandbox)]
) -> Session:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized
    token = sandbox.store.get(TOKEN_KIND, value.strip())
    if token is None or token["ExpiresAt"] <= time.time():
        raise Unauthorized
    return Session(
        clinic_id=token["ClinicId"],
        user_id=token["UserId"],
        on_behalf_of_user_id=token.get("OnBehalfOfUserId"),
    )


def _acr_values(text: str) -> dict[str, str] | None:
    """``acr_values``: space-separated ``name=value`` pairs (None if one is not a pair)."""
    values: dict[str, str] = {}
    for part in text.split():
        name, sep, value = part.partition("=")
        if not sep or not name:
            return None
        values[name] = value
    return values


def pairing_is_valid(
    sandbox: Sandbox, clinic_id: int, user: dict[str, Any], prescriber_id: int
) -> bool:
    """Whether ``user`` (a proxy or agent) may act for ``prescriber_id`` in the clinic."""
    roles = set(user.get("ClinicianRoleType", []))
    if not roles & ACTING_FOR_OTHERS or PRESCRIBER_ROLE in roles:
        return False
    prescriber = sandbox.store.get(CLINICIAN_KIND, prescriber_id)
    if (
        prescriber is None
        or prescriber_id == user.get("ClinicianId")
        or clinic_id not in prescriber.get("ClinicIds", [])
        or not prescriber.get("Active", True)
        or not prescriber.get("Confirmed")
        or PRESCRIBER_ROLE not in prescriber.get("ClinicianRoleType", [])
    ):
        return False
    if "PrescribingAgentClinician" in roles and "ProxyClinician" not in roles:
        return user.get("Supervisors", {}).get(str(clinic_id)) == prescriber_id
    return True


def revoke_user_tokens(sandbox: Sandbox, user_id: int) -> int:
    """Forget every token issued to ``user_id``, or to a proxy acting for it, in any clinic."""
    tokens = [
        t
        for t in sandbox.store.all(TOKEN_KIND)
        if user_id in (t["UserId"], t.get("OnBehalfOfUserId"))
    ]
    for token in tokens:
        sandbox.store.delete(TOKEN_KIND, token["Token"])
    return len(tokens)


def expire_all_tokens(sandbox: Sandbox) -> int:
    tokens = sandbox.store.all(TOKEN_KIND)
    for token in tokens:
        sandbox.store.delete(TOKEN_KIND, token["Token"])
    return len(tokens)


SessionDep = Annotated[Session, Depends(require_session)]
SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
