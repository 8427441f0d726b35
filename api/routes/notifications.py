"""DoseSpot push notifications: authenticate, de-duplicate in the inbox, signal the owner.

DoseSpot documents neither retries nor ordering, and its notifications carry no event id.
An event is known by its identity (dosespot.notifications.event_key: the event type, the
ids in Data, the status or counts it reports) and by when it arrived. A copy whose identity
first arrived less than ``notification_dedupe_window_seconds`` ago (default 600 s) is a
redelivery of that occurrence; the same identity after the window is a new occurrence and
is routed again: two-factor activated again after a reactivation, counts back at an earlier
value. Ten minutes covers a sender's retries well past DoseSpot's 20 s timeout, while a
genuine repeat of one identity inside ten minutes needs a person to undo and redo a step
that quickly; such a repeat is left to the workflows' polling, like a lost notification.

Every occurrence is recorded before anything else happens, and a copy of an occurrence
that was already handed to its workflow is answered as a duplicate. Events no workflow can
take (an unknown clinician, an event type nothing owns yet, a finished workflow) are kept
and answered 200: DoseSpot must not retry them forever, and the workflows' polling of
DoseSpot covers what they miss.

Notification bodies can carry patient details, so logs name the event type and a prefix
of the event key only.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, BackgroundTasks, Header, Request
from pydantic import BaseModel
from sqlalchemy import CursorResult, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import renewal_service
from api.auth import Unauthorized
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import Unavailable, Unprocessable
from db.counts import record_counts
from db.inbox import (
    SIGNAL_TIMEOUT,
    DoseSpotInboxEntry,
    aware,
    claim,
    deliver_claimed,
    release,
    released_on_error,
)
from db.models import ClinicianEnrollment, utcnow
from db.models import Prescription as PrescriptionRow
from db.patients import PatientRegistration
from dosespot.notifications import (
    MalformedNotification,
    PushNotification,
    event_key,
    parse_notification,
)
from erx.settings import Settings
from workflows.clinician_enrollment import clinician_workflow_id
from workflows.models import DOSESPOT_EVENT_SIGNAL, DoseSpotEvent
from workflows.patient_erx import patient_workflow_id
from workflows.prescription import prescription_workflow_id

logger = logging.getLogger("api.notifications")

router = APIRouter(prefix="/v1/dosespot", tags=["dosespot"])

_EVENT_TYPE_LENGTH = 64


class NotificationReceipt(BaseModel):
    """``routed``: handed to its workflow; ``duplicate``: already handed over earlier;
    ``unrouted``: kept, but no running workflow owns it."""

    status: Literal["routed", "duplicate", "unrouted"]


_BODY_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["EventType"],
                    "properties": {
                        "EventType": {"type": "string", "example": "ClinicianConfirmed"},
                        "Data": {"type": "object", "example": {"ClinicianId": 12345}},
                    },
                }
            }
        },
    }
}


@router.post(
    "/notifications",
    response_model=NotificationReceipt,
    openapi_extra=_BODY_SCHEMA,
    responses={422: {"description": "not a notification"}, 401: {"description": "bad secret"}},
)
async def receive_notification(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    background: BackgroundTasks,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> NotificationReceipt:
    """Receive a DoseSpot push notification (``Authorization: Secret <shared secret>``)."""
    _authenticate(settings, authorization)
    try:
        notification = parse_notification(await request.body())
    except MalformedNotification as err:
        raise Unprocessable("body", str(err)) from err
    key = event_key(notification, settings.dosespot_webhook_secret)
    window = timedelta(seconds=settings.notification_dedupe_window_seconds)
    status = await _receive(session, temporal, notification, key, window)
    if status != "duplicate":
        await _keep_counts(session, notification)
        if notification.counts is not None and notification.clinician_id is not None:
            # The clinician's queues changed: renewal requests came or went.
            background.add_task(
                renewal_service.discover_for_clinician, request.app.state, notification.clinician_id
            )
    logger.info("dosespot notification %s %s: %s", _loggable(notification), key[:12], status)
    return NotificationReceipt(status=status)


async def _keep_counts(session: AsyncSession, notification: PushNotification) -> None:
    """A PrescriberNotificationCounts push updates the clinician's badge in the read model."""
    counts = notification.counts
    if counts is None or notification.clinician_id is None or notification.clinic_id is None:
        return
    workspace_id = await session.scalar(
        select(ClinicianEnrollment.workspace_id).where(
            ClinicianEnrollment.dosespot_clinician_id == notification.clinician_id
        )
    )
    if workspace_id is None:
        return
    await record_counts(
        session,
        workspace_id=workspace_id,
        clinician_id=notification.clinician_id,
        clinic_id=notification.clinic_id,
        pending_prescriptions=counts.pending_prescription_count,
        transmission_errors=counts.transmission_error_count,
        refill_requests=counts.refill_request_count,
        change_requests=counts.change_request_count,
        observed_at=utcnow(),
        source="push",
    )
    await session.commit()


def _loggable(notification: PushNotification) -> str:
    # An unknown event type is text from outside: keep it to one short, plain token.
    if notification.known:
        return notification.event_type
    kept = "".join(c for c in notification.event_type if c.isascii() and c.isalnum())
    return f"unknown:{kept[:_EVENT_TYPE_LENGTH]}"


def _authenticate(settings: Settings, authorization: str | None) -> None:
    scheme, _, given = (authorization or "").strip().partition(" ")
    expected = settings.dosespot_webhook_secret.encode()
    # Compared even when the scheme is wrong, so the answer time says nothing about the secret.
    matches = hmac.compare_digest(given.strip().encode(), expected)
    if scheme.casefold() != "secret" or not matches:
        raise Unauthorized("push notifications need the DoseSpot shared secret")


async def _receive(
    session: AsyncSession,
    temporal: Client,
    notification: PushNotification,
    key: str,
    window: timedelta,
) -> Literal["routed", "duplicate", "unrouted"]:
    # Committed on its own first, so the event is kept whatever happens to its routing.
    occurrence = await _record(session, key, notification, window)

    # The claim is committed before the signal: no transaction stays open (and no row or,
    # in SQLite, database write lock is held) while Temporal is awaited. A concurrent copy
    # waits for the claim's outcome and then sees the event as routed.
    received_at = await claim(session, key, occurrence)
    if received_at is None:
        return "duplicate"
    async with released_on_error(session, key, occurrence):
        workflow_id = await _owner(session, notification)
        await session.commit()
    if workflow_id is None:
        await release(session, key, occurrence)
        return "unrouted"
    event = DoseSpotEvent(
        event_type=notification.event_type,
        clinician_id=notification.clinician_id,
        data=notification.data,
        received_at=received_at.isoformat(),
    )
    signal = temporal.get_workflow_handle(workflow_id).signal(
        DOSESPOT_EVENT_SIGNAL, event, rpc_timeout=SIGNAL_TIMEOUT
    )
    try:
        await deliver_claimed(session, key, occurrence, workflow_id, signal)
    except RPCError as err:
        # The failed attempt is counted; a redelivery of the event tries again.
        if err.status == RPCStatusCode.NOT_FOUND:
            return "unrouted"
        logger.warning("dosespot notification %s: signal failed (%s)", key[:12], err.status.name)
        raise Unavailable("the workflow service did not take the event; it is kept") from err
    return "routed"


async def _record(
    session: AsyncSession, key: str, notification: PushNotification, window: timedelta
) -> int:
    """The occurrence this copy belongs to: the identity's latest one if it began within the
    window, else a new one, inserted and committed here. Returns its number."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    while True:
        latest = (
            await session.execute(
                select(DoseSpotInboxEntry.occurrence, DoseSpotInboxEntry.received_at)
                .where(DoseSpotInboxEntry.event_key == key)
                .order_by(DoseSpotInboxEntry.occurrence.desc())
                .limit(1)
            )
        ).first()
        if latest is not None and now - aware(latest.received_at) < window:
            await session.commit()
            return latest.occurrence
        occurrence = 1 if latest is None else latest.occurrence + 1
        # Two copies that saw the same latest occurrence race for the same new number: the
        # primary key lets one insert it, and the other finds it on the next pass.
        result = await session.execute(
            insert(DoseSpotInboxEntry)
            .values(
                event_key=key,
                occurrence=occurrence,
                event_type=notification.event_type[:_EVENT_TYPE_LENGTH],
                clinician_id=notification.clinician_id,
                received_at=now,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["event_key", "occurrence"])
        )
        await session.commit()
        if cast(CursorResult[Any], result).rowcount == 1:
            return occurrence


async def _owner(session: AsyncSession, notification: PushNotification) -> str | None:
    """The workflow that owns the event's DoseSpot id, if there is one.

    A PrescriptionResult of a prescription written through the API, while its Prescription
    workflow follows it, belongs to that workflow; an event naming a patient to that
    patient's PatientErx; other clinician events to the clinician's ClinicianEnrollment.
    """
    if notification.event_type == "PrescriptionResult" and notification.prescription_id:
        prescription = (
            await session.execute(
                select(PrescriptionRow.workspace_id, PrescriptionRow.rx_id).where(
                    PrescriptionRow.dosespot_prescription_id == notification.prescription_id,
                    PrescriptionRow.state.not_in(("sent", "cancelled", "printed", "draft")),
                )
            )
        ).first()
        if prescription is not None:
            # Written through the API and still followed: its Prescription workflow.
            return prescription_workflow_id(prescription.workspace_id, prescription.rx_id)
    if notification.patient_id is not None:
        patient = (
            await session.execute(
                select(PatientRegistration.workspace_id, PatientRegistration.client_id).where(
                    PatientRegistration.dosespot_patient_id == notification.patient_id
                )
            )
        ).first()
        if patient is not None:
            return patient_workflow_id(patient.workspace_id, patient.client_id)
    if not notification.concerns_clinician:
        return None
    enrollment = (
        await session.execute(
            select(ClinicianEnrollment.workspace_id, ClinicianEnrollment.member_id).where(
                ClinicianEnrollment.dosespot_clinician_id == notification.clinician_id
            )
        )
    ).first()
    if enrollment is None:
        return None
    return clinician_workflow_id(enrollment.workspace_id, enrollment.member_id)
