"""Prescriptions through the API (Full plan): draft, review, edit, cancel, save as pending
in DoseSpot, and the prescriber's approve-and-send.

A request that waits on a workflow or on DoseSpot has committed its session first.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api import prescription_print
from api import prescription_service as svc
from api import prescription_templates as templates
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.dosespot_calls import DoseSpotDep, dosespot_errors, patient_access
from api.errors import Conflict
from api.patient_service import client_record
from api.prescription_schemas import (
    DoseCalculationIn,
    DoseCalculationPublic,
    PrescriptionItem,
    PrescriptionPublic,
    PrescriptionReview,
    PrescriptionsCreate,
    PrescriptionsPublic,
    SendIn,
)
from api.routes.catalogue import clinician_access
from api.routes.clients import ClientId
from api.schemas import PathId
from workflows.prescription_models import PrescriptionStatus

router = APIRouter(
    prefix="/v1/workspaces/{ws}/erx/patients/{client_id}/prescriptions", tags=["prescriptions"]
)


@router.post("", response_model=PrescriptionsPublic, status_code=status.HTTP_201_CREATED)
async def draft_prescriptions(
    ws: PathId,
    client_id: ClientId,
    body: PrescriptionsCreate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
    temporal: TemporalDep,
) -> PrescriptionsPublic:
    """Draft prescriptions for the patient's prescriber: written out (``items``), from
    favourites, or from an order set. With ``send``, each is saved and sent at once as the
    prescriber (one step); a controlled substance is saved as pending, to be signed with
    the PIN and one-time code."""
    principal.require_workspace(ws)
    prescriber = await svc.prescriber_of(session, principal, ws, body.prescriber_member_id)
    if body.send:
        svc.require_sender(principal, prescriber.member_id)
    for n, item in enumerate(body.items):
        svc.check_item(item, f"items.{n}")
    access = await patient_access(session, settings, ws, client_id)
    own = (
        await clinician_access(session, settings, ws, prescriber.member_id)
        if body.favorites or body.order_set is not None
        else None
    )
    await session.commit()
    clinic = access.clinic.client(dosespot, settings)
    with dosespot_errors("draft prescriptions", ws):
        items = await templates.expand(body, clinic, own, dosespot)
        rows = await svc.create_drafts(session, clinic, access, principal, prescriber, items)
    shown = [svc.public(row) for row in rows]
    await session.commit()
    if body.send:
        await svc.save_and_send(session, temporal, settings, rows)
        shown = [svc.public(await svc.draft_row(session, ws, client_id, r.rx_id)) for r in rows]
    return PrescriptionsPublic(items=shown)


@router.get("", response_model=PrescriptionsPublic)
async def list_prescriptions(
    ws: PathId, client_id: ClientId, principal: PrincipalDep, session: SessionDep
) -> PrescriptionsPublic:
    """The patient's prescriptions written through the API, oldest first."""
    principal.require_workspace(ws)
    await client_record(session, ws, client_id)
    return PrescriptionsPublic(
        items=[svc.public(r) for r in await svc.rows_of(session, ws, client_id)]
    )


@router.post("/dose-calculation", response_model=DoseCalculationPublic)
async def dose_calculation(
    ws: PathId,
    client_id: ClientId,
    body: DoseCalculationIn,
    principal: PrincipalDep,
    session: SessionDep,
) -> DoseCalculationPublic:
    """A weight-based dose from the client's registered weight (and which weight it used)."""
    principal.require_workspace(ws)
    return svc.calculate_dose(await client_record(session, ws, client_id), body)


@router.get("/{rx_id}", response_model=PrescriptionReview)
async def review_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> PrescriptionReview:
    """The prescription with DoseSpot's drug-allergy interactions for the patient."""
    principal.require_workspace(ws)
    row = await svc.draft_row(session, ws, client_id, rx_id)
    access = await patient_access(session, settings, ws, client_id)
    shown = svc.public(row)
    await session.commit()
    with dosespot_errors("allergy interactions", ws):
        found = await access.clinic.client(dosespot, settings).allergy_interactions(
            access.patient_id
        )
    return PrescriptionReview(
        **shown.model_dump(),
        allergy_interactions=[i.interaction_message for i in found if i.interaction_message],
    )


@router.put("/{rx_id}", response_model=PrescriptionPublic)
async def edit_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    body: PrescriptionItem,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> PrescriptionPublic:
    """Replace a draft's details (its medication stays)."""
    principal.require_workspace(ws)
    row = await svc.draft_row(session, ws, client_id, rx_id)
    svc.check_item(body, "body")
    access = await patient_access(session, settings, ws, client_id)
    client = access.clinic.client(dosespot, settings)
    with dosespot_errors("edit prescription", ws):
        ids = await svc.diagnosis_ids(client, body.diagnosis_codes, "diagnosis_codes")
        pharmacy = body.pharmacy_id or await svc.default_pharmacy(client, access.patient_id)
    svc.edit_draft(row, body, pharmacy, ids)
    shown = svc.public(row)
    await session.commit()
    return shown


@router.delete("/{rx_id}", response_model=PrescriptionPublic)
async def cancel_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> PrescriptionPublic:
    """Cancel a draft, or delete a pending prescription from DoseSpot."""
    principal.require_workspace(ws)
    row = await svc.draft_row(session, ws, client_id, rx_id)
    if row.state == svc.DRAFT:
        row.state = "cancelled"
        shown = svc.public(row)
        await session.commit()
        return shown
    await session.commit()
    await svc.cancel(temporal, row)
    return svc.public(await svc.draft_row(session, ws, client_id, rx_id))


@router.post("/{rx_id}/save", response_model=PrescriptionPublic)
async def save_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PrescriptionPublic:
    """Save as a pending prescription in DoseSpot for the prescriber (staff and proxies
    may); 202 if DoseSpot is still being retried."""
    principal.require_workspace(ws)
    row = await svc.draft_row(session, ws, client_id, rx_id)
    if row.state == "cancelled":
        raise Conflict("the prescription was cancelled", state="cancelled", allowed_actions=[])
    await svc.mark_started(session, row, "saving")
    result = await svc.save(temporal, settings, row)
    return await _answer(session, ws, client_id, rx_id, result, response)


@router.post("/{rx_id}/send", response_model=PrescriptionPublic)
async def send_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    body: SendIn,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PrescriptionPublic:
    """The prescriber approves and sends. A controlled substance needs the prescriber's
    EPCS access, PIN and one-time code; the codes go straight to DoseSpot, never kept."""
    principal.require_workspace(ws)
    row = await svc.draft_row(session, ws, client_id, rx_id)
    svc.require_sender(principal, row.prescriber_member_id)
    svc.refuse_if_sent(row)
    if row.state == "cancelled":
        raise Conflict("the prescription was cancelled", state="cancelled", allowed_actions=[])
    await session.commit()
    signing = await svc.epcs_signing(
        temporal,
        request.app.state.sessionmaker,
        request.app.state.epcs_signer,
        row,
        principal,
        body,
    )
    await svc.mark_started(session, row, "sending")
    result = await svc.send(temporal, settings, row, signing)
    if result is not None and result.refusal:
        raise Conflict(
            result.refusal,
            state=result.state,
            allowed_actions=result.allowed_actions,
            dosespot_refused=True,
        )
    if result is not None and result.state == "signature_required":
        raise Conflict(result.message or "sign again", state=result.state,
                       allowed_actions=result.allowed_actions)  # fmt: skip
    return await _answer(session, ws, client_id, rx_id, result, response)


@router.get(
    "/{rx_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The printable PDF"}},
)
async def print_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> Response:
    """Print a non-controlled prescription (PDF); DoseSpot records it as printed, once."""
    principal.require_workspace(ws)
    pdf = await prescription_print.print_prescription(
        session, temporal, settings, dosespot, principal, ws, client_id, rx_id
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{rx_id}.pdf"',
        },
    )


@router.post("/{rx_id}/retry", response_model=PrescriptionPublic)
async def retry_prescription(
    ws: PathId,
    client_id: ClientId,
    rx_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> PrescriptionPublic:
    """Re-drive a blocked prescription from the step that stopped."""
    principal.require_workspace(ws)
    row = await svc.draft_row(session, ws, client_id, rx_id)
    await session.commit()
    await svc.retry(temporal, row)
    return svc.public(await svc.draft_row(session, ws, client_id, rx_id))


async def _answer(
    session: SessionDep,
    ws: str,
    client_id: str,
    rx_id: str,
    result: PrescriptionStatus | None,
    response: Response,
) -> PrescriptionPublic:
    if result is None:
        response.status_code = status.HTTP_202_ACCEPTED
    return svc.public(await svc.draft_row(session, ws, client_id, rx_id))
