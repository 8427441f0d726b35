"""Legal agreements, identity proofing and two-factor activation: what the integrator calls.

The clinician does the rest in DoseSpot's UI, which the sandbox plays from the scenario
(:mod:`dosespot_sandbox.journey`). Refusals are ResultCode ERROR on HTTP 200.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.clinicians import CLINICIAN_NOT_FOUND, clinician_in_session
from dosespot_sandbox.journey import AGREEMENT_NOT_FOUND, AGREEMENTS_BY_ID
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.validation import (
    CLINICIAN_ACCEPT_AGREEMENT_REQUEST,
    CLINICIAN_INITIALIZE_TFA_ACTIVATION_REQUEST,
)

router = APIRouter()


@router.get("/api/clinicians/{clinicianId}/legalAgreements")
async def legal_agreements(
    clinicianId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Items=sandbox.journeys.agreements(clinicianId))


@router.post("/api/clinicians/acceptAgreement")
async def accept_agreement(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    # The body names no clinician: the token's user is the one signing.
    fields = await read_body(request, CLINICIAN_ACCEPT_AGREEMENT_REQUEST)
    sandbox.advance()
    if sandbox.store.get(CLINICIAN_KIND, session.user_id) is None:
        return envelope.error(CLINICIAN_NOT_FOUND, AgreementId=0)
    agreement_id: int = fields["AgreementId"]
    if agreement_id not in AGREEMENTS_BY_ID:
        return envelope.error(AGREEMENT_NOT_FOUND, AgreementId=0)
    sandbox.journeys.accept(session.user_id, [agreement_id], fields["NameSigned"])
    return envelope.ok(AgreementId=agreement_id, NameSigned=fields["NameSigned"])


@router.post("/api/clinicians/{clinicianId}/idpInit")
async def idp_init(clinicianId: int, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    refused = sandbox.journeys.start_idp(clinicianId)
    return envelope.error(refused) if refused else envelope.ok()


@router.post("/api/clinicians/{clinicianId}/initTfaActivate")
async def init_tfa_activate(
    clinicianId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, CLINICIAN_INITIALIZE_TFA_ACTIVATION_REQUEST)
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    refused = sandbox.journeys.start_tfa(clinicianId, fields["TfaTypeId"])
    return envelope.error(refused) if refused else envelope.ok()
