"""``connect/token`` (OAuth password grant) and bearer-token checks for API calls.

A token belongs to one (clinic, user) pair: every call made with it acts as that user in
that clinic. Tokens are opaque and kept in the store, so they survive a restart as real
DoseSpot tokens would.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import CLINIC_KIND, TOKEN_KIND, Sandbox, get_sandbox

router = APIRouter()


class Unauthorized(Exception):
    pass


@dataclass(frozen=True)
class Session:
    clinic_id: int
    user_id: int


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
    if "OnBehalfOfUserId" in form.get("acr_values", ""):
        return oauth_error("invalid_request", "OnBehalfOfUserId is not supported by the sandbox")

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
    return Session(clinic_id=token["ClinicId"], user_id=token["UserId"])


def revoke_user_tokens(sandbox: Sandbox, user_id: int) -> int:
    """Forget every token issued to ``user_id``, in any clinic."""
    tokens = [t for t in sandbox.store.all(TOKEN_KIND) if t["UserId"] == user_id]
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
