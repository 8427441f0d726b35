"""Renewal (refill) requests: DoseSpot's queue as the prescriber sees it, their answers,
and the read model the renewal list is served from."""

from __future__ import annotations

from temporalio import activity

from activities.dosespot_access import DoseSpotActivities
from activities.errors import dosespot_errors_as_application_errors
from db.models import RenewalRequestRecord
from db.renewals import renewal_row
from db.upsert import upsert
from dosespot import DoseSpotClient, DoseSpotRefused
from dosespot.models import RefillApproval, RefillDenial
from workflows.renewal_models import (
    CheckRenewalInput,
    DecideRenewalInput,
    DecisionOutcome,
    RenewalSnapshot,
)


class RenewalActivities(DoseSpotActivities):
    @activity.defn(name="renewal_still_pending")
    async def renewal_still_pending(self, input: CheckRenewalInput) -> bool:
        """Whether DoseSpot still lists the request in its prescriber's queue."""
        client = await self._in_clinic(input.dosespot_clinic_id, input.dosespot_clinician_id)
        with dosespot_errors_as_application_errors():
            return await _listed(client, input.refill_id, input.dosespot_patient_id)

    @activity.defn(name="decide_renewal")
    async def decide_renewal(self, input: DecideRenewalInput) -> DecisionOutcome:
        """Send the prescriber's answer to DoseSpot, signed in as the prescriber.

        DoseSpot refuses an answer to a request it has already closed. If the request has
        left its queue, that refusal means it was answered elsewhere (or expired) before
        ours arrived, unless an earlier attempt of this very call may have been the one
        that answered it (its reply lost): then it is ours.
        """
        client = await self._in_clinic(input.dosespot_clinic_id, input.dosespot_clinician_id)
        decision = input.decision
        with dosespot_errors_as_application_errors():
            try:
                if decision.kind == "approve":
                    assert decision.approval is not None
                    await client.approve_refill(
                        input.refill_id,
                        RefillApproval(
                            refills=decision.approval.refills,
                            comment=decision.approval.comment or None,
                            effective_date=decision.approval.effective_date,
                        ),
                    )
                else:
                    assert decision.denial is not None
                    await client.deny_refill(
                        input.refill_id,
                        RefillDenial.model_validate(
                            {
                                "DenialReason": decision.denial.denial_reason,
                                "Note": decision.denial.note or None,
                            }
                        ),
                    )
            except DoseSpotRefused:
                if await _listed(client, input.refill_id, input.dosespot_patient_id):
                    raise
                if activity.info().attempt > 1:
                    return DecisionOutcome(outcome="sent")
                activity.logger.info("renewal %s was closed in DoseSpot first", input.refill_id)
                return DecisionOutcome(outcome="no_longer_pending")
        return DecisionOutcome(outcome="sent")

    @activity.defn(name="record_renewal")
    async def record_renewal(self, snapshot: RenewalSnapshot) -> None:
        """Bring the renewal's read-model row up to the workflow's state."""
        async with self._sessionmaker() as session:
            await upsert(session, RenewalRequestRecord, renewal_row(snapshot))
            await session.commit()


async def _listed(client: DoseSpotClient, refill_id: int, patient_id: int | None) -> bool:
    pending = await client.pending_refills(patient_id=patient_id)
    return any(refill.refill_id == refill_id for refill in pending)
