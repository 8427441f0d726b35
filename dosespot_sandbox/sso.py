"""``GET /LoginSingleSignOn.aspx``: the embedded UI's front door, at the server root.

Like DoseSpot, every outcome is an HTML page on HTTP 200: a failed sign-on shows an error
text, never an HTTP error, so an iframe always has something to show. The page names the
outcome in the ``X-Sandbox-SSO-Result`` header too, for tests. Query strings carry the SSO
codes, so they are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dosespot_sandbox.auth import SandboxDep, pairing_is_valid
from dosespot_sandbox.patients import PATIENT_KIND
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import CLINIC_KIND, Sandbox

router = APIRouter()

SSO_PATH = "/LoginSingleSignOn.aspx"
PARAMETERS = (
    "SingleSignOnClinicId",
    "SingleSignOnUserId",
    "SingleSignOnPhraseLength",
    "SingleSignOnCode",
    "SingleSignOnUserIdVerify",
    "PatientId",
    "RefillsErrors",
    "OnBehalfOfUserId",
    "EncounterID",
)
_CANONICAL = {name.lower(): name for name in PARAMETERS}

# Outcome -> the text DoseSpot's error page shows.
FAILURES = {
    "incorrect_sso_calculations": "Single sign-on failed: incorrect SSO calculations.",
    "no_access_to_clinic": "The clinician does not have access to this clinic.",
    "inactive": "Your account is inactive.",
    "locked_out": "Your account is locked out.",
    "not_confirmed": "The clinician has not been confirmed.",
    "data_validation": "Data validation error.",
    "no_access_to_patient": "The clinician does not have access to this patient.",
    "on_behalf_of_invalid": "OnBehalfOfUser validation failed.",
}


# DoseSpot's published algorithm, written here independently of the client's
# (dosespot.sso), so a mistake there cannot pass its own check.
USER_ID_PHRASE_CHARS = 22


def _sha512_base64(text: str) -> str:
    """base64(SHA-512(text)) without the trailing padding."""
    return base64.b64encode(hashlib.sha512(text.encode("utf-8")).digest()).decode().rstrip("=")


def codes_match(params: Mapping[str, str], clinic_key: str, user_id: int) -> bool:
    """``SingleSignOnCode`` is phrase + digest(phrase + key) and ``SingleSignOnUserIdVerify``
    is digest(user id + first 22 characters of the phrase + key)."""
    length_text = (params.get("SingleSignOnPhraseLength") or "").strip()
    code = params.get("SingleSignOnCode") or ""
    verify = params.get("SingleSignOnUserIdVerify") or ""
    if not length_text.isdigit() or not verify:
        return False
    length = int(length_text)
    if length < USER_ID_PHRASE_CHARS or len(code) <= length:
        return False
    phrase, digest = code[:length], code[length:]
    expected_verify = _sha512_base64(f"{user_id}{phrase[:USER_ID_PHRASE_CHARS]}{clinic_key}")
    code_ok = hmac.compare_digest(digest.encode(), _sha512_base64(phrase + clinic_key).encode())
    verify_ok = hmac.compare_digest(verify.encode(), expected_verify.encode())
    return code_ok and verify_ok


def _as_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _page(outcome: str, heading: str, lines: list[str]) -> HTMLResponse:
    body = "".join(f"<p>{escape(line)}</p>" for line in lines)
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>DoseSpot sandbox</title></head><body><h1>{escape(heading)}</h1>{body}"
        "</body></html>"
    )
    return HTMLResponse(
        html, headers={"X-Sandbox-SSO-Result": outcome, "Cache-Control": "no-store"}
    )


def _failure(outcome: str, detail: str | None = None) -> HTMLResponse:
    lines = [FAILURES[outcome]] + ([detail] if detail else [])
    return _page(outcome, "DoseSpot sandbox — single sign-on failed", lines)


def _sign_on(sandbox: Sandbox, raw: list[tuple[str, str]]) -> HTMLResponse:
    params: dict[str, str] = {}
    for key, value in raw:
        name = _CANONICAL.get(key.lower())
        if name is None:
            # Stricter than DoseSpot: anything else in the URL may be patient data.
            return _failure(
                "data_validation",
                f"Unexpected parameter {key!r}: SSO links carry only DoseSpot identifiers.",
            )
        params[name] = value

    clinic_id = _as_int(params.get("SingleSignOnClinicId"))
    user_id = _as_int(params.get("SingleSignOnUserId"))
    clinic = sandbox.store.get(CLINIC_KIND, clinic_id) if clinic_id is not None else None
    if (
        clinic is None
        or user_id is None
        or not codes_match(params, clinic.get("ClinicKey", ""), user_id)
    ):
        return _failure("incorrect_sso_calculations")
    assert clinic_id is not None and user_id is not None

    user = sandbox.store.get(CLINICIAN_KIND, user_id)
    if user is None or clinic_id not in user.get("ClinicIds", []) or not clinic.get("Active", True):
        return _failure("no_access_to_clinic")
    if not user.get("Active", True):
        return _failure("inactive")
    if user.get("AccountLocked"):
        return _failure("locked_out")
    if not user.get("Confirmed"):
        return _failure("not_confirmed")

    extras: list[str] = []
    for name, label in (("PatientId", "patient"), ("OnBehalfOfUserId", "on behalf of user")):
        if name in params:
            number = _as_int(params[name])
            if number is None:
                return _failure("data_validation", f"{name} is not a valid identifier.")
            extras.append(f"Opened for {label} {number}.")
    if "OnBehalfOfUserId" in params and not pairing_is_valid(
        sandbox, clinic_id, user, int(params["OnBehalfOfUserId"].strip())
    ):
        # As at token time: only a proxy or agent acts for a prescriber it may act for.
        return _failure("on_behalf_of_invalid")
    if "PatientId" in params:
        patient = sandbox.store.get(PATIENT_KIND, int(params["PatientId"].strip()))
        if patient is None or patient.get("ClinicId") != clinic_id:
            return _failure("no_access_to_patient")
    refills_errors = params.get("RefillsErrors")
    if refills_errors is not None:
        if refills_errors.strip().lower() not in {"0", "1", "true", "false"}:
            return _failure("data_validation", "RefillsErrors must be 1 or 0.")
        if refills_errors.strip().lower() in {"1", "true"}:
            extras.append("Opened at the notification queues (refills and transmission errors).")
    if params.get("EncounterID", "").strip():
        extras.append(f"Encounter {params['EncounterID'].strip()}.")

    return _page(
        "signed_in",
        f"DoseSpot sandbox — signed in as clinician {user_id} in clinic {clinic_id}",
        [f"Next step: {sandbox.journeys.next_step(user)}", *extras],
    )


@router.get(SSO_PATH)
async def login_single_sign_on(request: Request, sandbox: SandboxDep) -> HTMLResponse:
    """DoseSpot's SSO entry point."""
    sandbox.advance()
    return _sign_on(sandbox, list(request.query_params.multi_items()))


__all__ = ["SSO_PATH", "router"]
