"""Prescriptions through the API: drafts in the read model, and the Prescription workflow
(``erx-rx:{ws}:{rx_id}``) that saves them in DoseSpot, sends them and follows their status.

Who may do what: anyone of the workspace drafts, edits, cancels and saves a prescription as
pending for its prescriber (staff and proxies included); only the prescriber sends it
(their own member key, or the EHR's service key acting for them). A controlled substance
(schedule II-V) is refused unless the prescriber's EPCS access is granted (the clinician
lifecycle's permission check), and every refusal is audited. The PIN and one-time code go
into this process's :class:`activities.prescriptions.EpcsVault` and from there straight to
DoseSpot; the workflow only ever learns the nonce and this process's task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.prescriptions import EpcsSigningActivities, EpcsVault, epcs_task_queue
from api.auth import Principal, Role
from api.catalogue_schemas import Item, MedicationItem, SupplyItem
from api.clinician_service import (
    UpdateRefused,
    refusal,
    require_controlled_substance_permission,
    verified_prescriber,
)
from api.dosespot_calls import PatientAccess
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.prescription_schemas import (
    DoseCalculationIn,
    DoseCalculationPublic,
    Prescribed,
    PrescriptionItem,
    PrescriptionPublic,
    SendIn,
)
from db.audit import append_audit
from db.models import Client as ClientRecord
from db.models import ClinicianEnrollment
from db.models import Prescription as PrescriptionRow
from dosespot import DoseSpotClient
from erx.codec import SecretBox
from erx.settings import Settings
from erx.temporal import update_result_within
from workflows.models import EpcsAuditInput
from workflows.prescription import PrescriptionWorkflow, prescription_workflow_id
from workflows.prescription_models import (
    TAKEN_STATUSES,
    EpcsSigning,
    PrescriptionInput,
    PrescriptionStatus,
    PrescriptionTimings,
    SendRequest,
    allowed_actions,
)

T = TypeVar("T")
PRESCRIBED: TypeAdapter[Prescribed] = TypeAdapter(Item)
DRAFT = "draft"
LB_PER_KG = Decimal("2.20462")


def timings(settings: Settings) -> PrescriptionTimings:
    return PrescriptionTimings(
        poll_seconds=settings.confirmation_poll_seconds,
        poll_max_seconds=settings.poll_max_seconds,
    )


def today() -> date:
    return datetime.now(UTC).date()


def is_controlled(schedule: int | None) -> bool:
    return schedule is not None and 2 <= schedule <= 5


# Drafts ---------------------------------------------------------------------------------


async def prescriber_of(
    session: AsyncSession, principal: Principal, ws: str, member_id: str | None
) -> ClinicianEnrollment:
    """The prescriber a draft is written for: named, or the member key's own person; they
    must be verified for e-prescribing."""
    if member_id is None:
        if principal.role != Role.member or principal.member_id is None:
            raise Unprocessable("prescriber_member_id", "name the prescriber")
        member_id = principal.member_id
    return await verified_prescriber(
        session, ws, member_id, "the prescriber is not verified for e-prescribing"
    )


def check_item(item: PrescriptionItem, field: str) -> dict[str, Any]:
    """The draft's details as stored, or 422 for what the schema cannot check alone."""
    directions = item.patient_directions()
    if directions is None:
        raise Unprocessable(f"{field}.directions", "give directions or a sig")
    if len(directions) > 1000:
        raise Unprocessable(f"{field}.sig", "the directions it renders exceed 1,000 characters")
    effective = item.effective_date or today()
    if effective < today():
        raise Unprocessable(f"{field}.effective_date", "must not be in the past")
    return {
        "item": item.prescribed().model_dump(mode="json"),
        "diagnosis_codes": item.diagnosis_codes,
        "no_substitutions": item.no_substitutions,
        "urgent": item.urgent,
        "sig": item.sig.model_dump(mode="json") if item.sig else None,
        "directions": directions,
        "dispense_quantity": f"{item.dispense_quantity.normalize():f}",
        "dispense_unit_id": item.dispense_unit_id,
        "days_supply": item.days_supply,
        "refills": item.refills,
        "effective_date": effective.isoformat(),
        "pharmacy_notes": item.pharmacy_notes,
    }


async def diagnosis_ids(dosespot: DoseSpotClient, codes: list[str], field: str) -> list[int]:
    """DoseSpot's diagnosis id of each ICD-10 code (422 for a code DoseSpot does not know)."""
    ids = []
    for code in codes:
        found = await dosespot.search_diagnoses(code)
        exact = [
            d.diagnosis_id
            for d in found.items
            if d.diagnosis_id and (d.diagnosis_code or "").upper() == code
        ]
        if not exact:
            raise Unprocessable(field, f"{code} is not an ICD-10 code DoseSpot knows")
        ids.append(exact[0])
    return ids


async def default_pharmacy(dosespot: DoseSpotClient, patient_id: int) -> int | None:
    for pharmacy in await dosespot.patient_pharmacies(patient_id):
        if getattr(pharmacy, "is_default", False):
            return int(pharmacy.pharmacy_id)
    return None


async def describe(dosespot: DoseSpotClient, prescribed: Prescribed) -> tuple[str, int]:
    """What DoseSpot calls the item, and its controlled-substance schedule (a compound's
    is its most controlled coded ingredient's; a supply is never controlled)."""
    if isinstance(prescribed, MedicationItem):
        drug = await dosespot.select_medication(dispensable_drug_id=prescribed.dispensable_drug_id)
        name = drug.display_name or drug.drug_name or str(prescribed.dispensable_drug_id)
        return name[:300], drug.schedule or 0
    if isinstance(prescribed, SupplyItem):
        if prescribed.supply_id is None:
            return (prescribed.name or "")[:300], 0
        supply = await dosespot.get_supply(prescribed.supply_id)
        return (supply.name or str(prescribed.supply_id))[:300], 0
    schedules = [
        (await dosespot.select_medication(dispensable_drug_id=i.dispensable_drug_id)).schedule or 0
        for i in prescribed.ingredients
        if i.dispensable_drug_id is not None
    ]
    return prescribed.description[:300], max(schedules, default=0)


async def create_drafts(
    session: AsyncSession,
    dosespot: DoseSpotClient,
    access: PatientAccess,
    principal: Principal,
    prescriber: ClinicianEnrollment,
    items: list[tuple[PrescriptionItem, str]],
) -> list[PrescriptionRow]:
    """Each item checked (422 on its field, nothing written) and looked up in DoseSpot's
    catalogue, then written as a draft."""
    details = [check_item(item, field) for item, field in items]
    described = [await describe(dosespot, item.prescribed()) for item, _ in items]
    pharmacy = None
    if any(item.pharmacy_id is None for item, _ in items):
        pharmacy = await default_pharmacy(dosespot, access.patient_id)
    for (item, field), detail in zip(items, details, strict=True):
        detail["diagnosis_ids"] = await diagnosis_ids(
            dosespot, item.diagnosis_codes, f"{field}.diagnosis_codes"
        )
    rows = []
    for (item, _), detail, (name, schedule) in zip(items, details, described, strict=True):
        prescribed = item.prescribed()
        row = PrescriptionRow(
            workspace_id=access.clinic.workspace_id,
            rx_id=f"rx_{uuid.uuid4().hex[:20]}",
            client_id=access.client_id,
            prescriber_member_id=prescriber.member_id,
            created_by=principal.member_id,
            state=DRAFT,
            details=json.dumps(detail),
            kind=prescribed.kind,
            dispensable_drug_id=prescribed.dispensable_drug_id
            if isinstance(prescribed, MedicationItem)
            else None,
            medication=name,
            schedule=schedule,
            pharmacy_id=item.pharmacy_id or pharmacy,
            dosespot_patient_id=access.patient_id,
            revision=0,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


async def draft_row(session: AsyncSession, ws: str, client_id: str, rx_id: str) -> PrescriptionRow:
    row = await session.get(PrescriptionRow, (ws, rx_id), populate_existing=True)
    if row is None or row.client_id != client_id:
        raise NotFound("no such prescription")
    return row


def edit_draft(
    row: PrescriptionRow, item: PrescriptionItem, pharmacy: int | None, ids: list[int]
) -> None:
    if row.state != DRAFT:
        raise Conflict(
            f"only a draft can be edited; this prescription is {row.state}",
            state=row.state,
            allowed_actions=actions_of(row),
        )
    if item.prescribed() != prescribed_of(row):
        raise Unprocessable("item", "a draft keeps what it prescribes: cancel it and draft another")
    row.details = json.dumps(check_item(item, "body") | {"diagnosis_ids": ids})
    row.pharmacy_id = item.pharmacy_id or pharmacy
    row.revision += 1


def actions_of(row: PrescriptionRow) -> list[str]:
    if row.state == DRAFT:
        return ["edit", "save", "send", "cancel"]
    return allowed_actions(row.state)


def prescribed_of(row: PrescriptionRow) -> Prescribed:
    """What the draft prescribes (drafts from before kinds name only their drug)."""
    d: dict[str, Any] = json.loads(row.details)
    if "item" in d:
        return PRESCRIBED.validate_python(d["item"])
    return MedicationItem(kind="medication", dispensable_drug_id=row.dispensable_drug_id or 0)


def public(row: PrescriptionRow) -> PrescriptionPublic:
    d: dict[str, Any] = json.loads(row.details)
    return PrescriptionPublic(
        kind=row.kind or "medication",
        item=prescribed_of(row),
        rx_id=row.rx_id,
        client_id=row.client_id,
        prescriber_member_id=row.prescriber_member_id,
        state=row.state,
        allowed_actions=actions_of(row),
        medication=row.medication,
        dispensable_drug_id=row.dispensable_drug_id,
        controlled_schedule=row.schedule if is_controlled(row.schedule) else None,
        diagnosis_codes=d["diagnosis_codes"],
        directions=d["directions"],
        dispense_quantity=d["dispense_quantity"],
        dispense_unit_id=d["dispense_unit_id"],
        days_supply=d["days_supply"],
        refills=d["refills"],
        effective_date=date.fromisoformat(d["effective_date"]),
        no_substitutions=d["no_substitutions"],
        urgent=d["urgent"],
        pharmacy_id=row.pharmacy_id,
        pharmacy_notes=d["pharmacy_notes"],
        dosespot_prescription_id=row.dosespot_prescription_id,
        dosespot_status=row.dosespot_status,
        status_details=row.status_details,
        message=row.message,
        blocked_reason=row.blocked_reason,
        updated_at=row.updated_at.replace(tzinfo=row.updated_at.tzinfo or UTC)
        if row.updated_at
        else None,
    )


# The dose calculator ---------------------------------------------------------------------


def calculate_dose(client: ClientRecord, body: DoseCalculationIn) -> DoseCalculationPublic:
    """A weight-based dose from the client's registered weight (422 if none is registered)."""
    if client.weight is None or client.weight_unit is None:
        raise Unprocessable("weight", "the client has no registered weight")
    weight = Decimal(str(client.weight))
    kg = weight if client.weight_unit == "kg" else weight / LB_PER_KG
    kg = kg.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    dose = (body.dose_per_kg * kg).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    capped = body.max_dose is not None and dose > body.max_dose
    if capped:
        assert body.max_dose is not None
        dose = body.max_dose
    recorded = client.vitals_recorded_at
    return DoseCalculationPublic(
        dose=_plain(dose),
        unit=body.unit,
        capped=capped,
        weight_kg=_plain(kg),
        weight_as_recorded=f"{weight.normalize():f} {client.weight_unit}",
        weight_recorded_at=recorded.replace(tzinfo=recorded.tzinfo or UTC) if recorded else None,
    )


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and without an exponent: 400, not 4E+2."""
    return Decimal(f"{value.normalize():f}")


# The workflow ----------------------------------------------------------------------------


async def _call(awaitable: Any) -> Any:
    try:
        return await awaitable
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from err
    except RPCError as err:
        if "already completed" in str(err).lower():
            raise Conflict(
                "the prescription is finished (sent or cancelled)",
                state="finished",
                allowed_actions=[],
            ) from err
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("no such prescription") from err
        raise


def _start(settings: Settings, row: PrescriptionRow) -> WithStartWorkflowOperation[Any, Any]:
    return WithStartWorkflowOperation(
        PrescriptionWorkflow.run,
        PrescriptionInput(
            workspace_id=row.workspace_id,
            rx_id=row.rx_id,
            controlled=is_controlled(row.schedule),
            timings=timings(settings),
            client_id=row.client_id,
        ),
        id=prescription_workflow_id(row.workspace_id, row.rx_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=settings.task_queue,
    )


async def save(
    temporal: Client, settings: Settings, row: PrescriptionRow
) -> PrescriptionStatus | None:
    """Save as pending in DoseSpot (starting the workflow if it has none, never a second)."""
    update = await _call(
        temporal.start_update_with_start_workflow(
            PrescriptionWorkflow.save,
            start_workflow_operation=_start(settings, row),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    )
    result: PrescriptionStatus | None = await _call(
        update_result_within(update, settings.patient_wait_seconds)
    )
    return result


async def mark_started(session: AsyncSession, row: PrescriptionRow, state: str) -> None:
    """A draft handed to its workflow is no longer editable: the workflow writes from now."""
    if row.state == DRAFT:
        row.state = state
        row.revision = 0
    await session.commit()


async def save_and_send(
    session: AsyncSession, temporal: Client, settings: Settings, rows: list[PrescriptionRow]
) -> None:
    """One step: each draft saved and sent (a controlled substance saved as pending, since
    only the prescriber's PIN and one-time code sign it). They go to DoseSpot together; each
    answer's state says how far its prescription got within the wait."""
    for row in rows:
        await mark_started(session, row, "saving" if is_controlled(row.schedule) else "sending")
    await asyncio.gather(
        *(
            save(temporal, settings, row)
            if is_controlled(row.schedule)
            else send(temporal, settings, row, None)
            for row in rows
        )
    )


def require_sender(principal: Principal, prescriber_member_id: str) -> None:
    """Only the prescriber sends (or prints): their own key, or the service key for them."""
    if principal.role == Role.service:
        return
    if principal.member_id != prescriber_member_id:
        raise Forbidden(
            "only the prescriber sends a prescription (their own key, or the EHR's service "
            "key acting for them); a proxy, prescribing agent or staff member saves it as "
            "pending for the prescriber to send"
        )


def refuse_if_sent(row: PrescriptionRow) -> None:
    if (row.dosespot_status in TAKEN_STATUSES) or row.state in ("transmitting", "sent"):
        raise Conflict(
            f"the prescription was already sent (DoseSpot status {row.dosespot_status})",
            state=row.state,
            dosespot_status=row.dosespot_status,
            allowed_actions=actions_of(row),
        )


async def audit_refusal(
    sessionmaker: async_sessionmaker[AsyncSession],
    row: PrescriptionRow,
    principal: Principal,
    reason: str,
) -> None:
    """A refused controlled-substance send lands in the append-only EPCS audit log."""
    async with sessionmaker() as audit_session:
        await append_audit(
            audit_session,
            EpcsAuditInput(
                workspace_id=row.workspace_id,
                subject_member_id=row.prescriber_member_id,
                actor_member_id=principal.member_id,
                action="send",
                outcome="refused",
                reason=f"{reason} ({row.rx_id})",
                idempotency_key=f"api:{uuid.uuid4()}",
            ),
        )
        await audit_session.commit()


async def epcs_signing(
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    signer: EpcsSigningWorker,
    row: PrescriptionRow,
    principal: Principal,
    body: SendIn,
) -> EpcsSigning | None:
    """For a controlled substance: the permission check (refusals audited), then the PIN
    and code into this process's memory. None for any other drug."""
    if not is_controlled(row.schedule):
        return None
    try:
        await require_controlled_substance_permission(
            temporal, row.workspace_id, row.prescriber_member_id
        )
    except UpdateRefused as err:
        await audit_refusal(sessionmaker, row, principal, err.message)
        raise
    if body.pin is None:
        raise Unprocessable("pin", "a controlled substance is signed with the prescriber's PIN")
    if body.otp is None:
        raise Unprocessable("otp", "a controlled substance is signed with a one-time code")
    signer.ensure_running()
    nonce = signer.vault.put(body.pin.get_secret_value(), body.otp.get_secret_value())
    return EpcsSigning(task_queue=signer.task_queue, nonce=nonce)


async def send(
    temporal: Client, settings: Settings, row: PrescriptionRow, signing: EpcsSigning | None
) -> PrescriptionStatus | None:
    update = await _call(
        temporal.start_update_with_start_workflow(
            PrescriptionWorkflow.send,
            SendRequest(epcs=signing),
            start_workflow_operation=_start(settings, row),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    )
    result: PrescriptionStatus | None = await _call(
        update_result_within(update, settings.patient_wait_seconds)
    )
    return result


async def cancel(temporal: Client, row: PrescriptionRow) -> PrescriptionStatus:
    handle = temporal.get_workflow_handle(prescription_workflow_id(row.workspace_id, row.rx_id))
    result: PrescriptionStatus = await _call(handle.execute_update(PrescriptionWorkflow.cancel))
    return result


async def tell_printed(temporal: Client, row: PrescriptionRow) -> None:
    handle = temporal.get_workflow_handle(prescription_workflow_id(row.workspace_id, row.rx_id))
    await handle.signal(PrescriptionWorkflow.printed)


async def retry(temporal: Client, row: PrescriptionRow) -> PrescriptionStatus:
    handle = temporal.get_workflow_handle(prescription_workflow_id(row.workspace_id, row.rx_id))
    result: PrescriptionStatus = await _call(handle.execute_update(PrescriptionWorkflow.retry))
    return result


async def rows_of(session: AsyncSession, ws: str, client_id: str) -> list[PrescriptionRow]:
    return list(
        (
            await session.scalars(
                select(PrescriptionRow)
                .where(PrescriptionRow.workspace_id == ws, PrescriptionRow.client_id == client_id)
                .order_by(PrescriptionRow.created_at, PrescriptionRow.rx_id)
            )
        ).all()
    )


class EpcsSigningWorker:
    """This API process's own Temporal worker: its own task queue, only the activity that
    signs controlled-substance sends with the codes this process holds in memory. It starts
    with the first controlled-substance send and stops with the process."""

    def __init__(
        self,
        temporal: Client,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        dosespot: DoseSpotClient,
    ) -> None:
        self.task_queue = epcs_task_queue(settings.task_queue)
        self.vault = EpcsVault()
        self._temporal = temporal
        self._signing = EpcsSigningActivities(
            dosespot,
            sessionmaker,
            SecretBox(settings.codec_keys, settings.codec_active_key_id),
            settings.dosespot_user_id,
            self.vault,
        )
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._worker = Worker(
            self._temporal,
            task_queue=self.task_queue,
            activities=[self._signing.send_epcs_prescription],
        )
        self._task = asyncio.create_task(self._worker.run())

    async def stop(self) -> None:
        if self._worker is not None and self._task is not None and not self._task.done():
            await self._worker.shutdown()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
