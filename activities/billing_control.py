"""Starting and stopping a clinician's ClinicianBilling workflow from their enrollment."""

from __future__ import annotations

from temporalio import activity

from workflows.billing_models import BillingDeactivate, BillingReactivate, ClinicianBillingInput
from workflows.clinician_billing import GENERATION as BILLING_GENERATION
from workflows.clinician_billing import ClinicianBillingWorkflow, clinician_billing_workflow_id
from workflows.models import BillingControl


class BillingControlActivities:
    def __init__(self, task_queue: str) -> None:
        self._task_queue = task_queue

    @activity.defn(name="start_clinician_billing")
    async def start(self, control: BillingControl) -> None:
        """Signal-with-start: a first verification starts billing from today; a returning
        clinician's existing billing workflow is reactivated, never duplicated."""
        await activity.client().start_workflow(
            ClinicianBillingWorkflow.run,
            ClinicianBillingInput(
                workspace_id=control.workspace_id,
                member_id=control.member_id,
                anchor=control.at.date(),
                generation=BILLING_GENERATION,
            ),
            id=clinician_billing_workflow_id(control.workspace_id, control.member_id),
            task_queue=self._task_queue,
            start_signal="reactivate",
            start_signal_args=[BillingReactivate(at=control.at)],
        )

    @activity.defn(name="stop_clinician_billing")
    async def stop(self, control: BillingControl) -> None:
        handle = activity.client().get_workflow_handle(
            clinician_billing_workflow_id(control.workspace_id, control.member_id)
        )
        await handle.signal(
            ClinicianBillingWorkflow.deactivate, BillingDeactivate(effective_at=control.at)
        )
