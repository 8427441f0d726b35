"""The worker: hosts every workflow and activity. Scale by adding processes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.billing import LedgerBillingProvider, billing_activities
from activities.billing_control import BillingControlActivities
from activities.clinicians import ClinicianActivities
from activities.clinics import ClinicActivities
from activities.notifications import NotificationActivities
from activities.patients import PatientActivities
from activities.prescriptions import PrescriptionActivities
from activities.renewal_watch import RenewalWatchActivities
from activities.renewals import RenewalActivities
from api import renewal_service
from db.session import create_sessionmaker, engine_from_settings
from dosespot import DoseSpotClient, DoseSpotCredentials
from erx.codec import SecretBox
from erx.logs import configure_logging
from erx.mail import Mailer
from erx.settings import Settings, get_settings
from erx.temporal import connect, ensure_search_attributes
from workflows.clinic_setup import ClinicSetupWorkflow
from workflows.clinician_billing import ClinicianBillingWorkflow
from workflows.clinician_enrollment import ClinicianEnrollmentWorkflow
from workflows.identity_proofing import IdentityProofingWorkflow
from workflows.patient_erx import PatientErxWorkflow
from workflows.prescription import PrescriptionWorkflow
from workflows.renewal import RenewalRequestWorkflow
from workflows.renewal_watch import RenewalWatchWorkflow

WORKFLOWS = [
    ClinicSetupWorkflow,
    ClinicianEnrollmentWorkflow,
    IdentityProofingWorkflow,
    ClinicianBillingWorkflow,
    PatientErxWorkflow,
    PrescriptionWorkflow,
    RenewalRequestWorkflow,
    RenewalWatchWorkflow,
]


def dosespot_client(settings: Settings) -> DoseSpotClient:
    return DoseSpotClient(
        settings.dosespot_base_url,
        settings.dosespot_subscription_key,
        DoseSpotCredentials(
            clinic_id=settings.dosespot_clinic_id,
            clinic_key=settings.dosespot_clinic_key,
            user_id=settings.dosespot_user_id,
        ),
        timeout=settings.dosespot_timeout_seconds,
    )


# Passed through the workflow sandbox unless ERX_WORKER_STRICT_SANDBOX: our workflow code
# (deterministic, no module state) and the pure libraries it is built on.
SANDBOX_PASSTHROUGH = ("workflows", "pydantic", "pydantic_core", "statemachine")


def workflow_runner(settings: Settings) -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default
    if not settings.worker_strict_sandbox:
        restrictions = restrictions.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_workers(
    client: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    dosespot: DoseSpotClient,
    *,
    task_queue: str | None = None,
) -> tuple[Worker, Worker]:
    """The worker of the task queue, and the one of its mail task queue (members' emails,
    ``ERX_WORKER_MAX_CONCURRENT_EMAILS`` at once, apart from every other activity)."""
    queue = task_queue or settings.task_queue
    secrets = SecretBox(settings.codec_keys, settings.codec_active_key_id)
    clinics = ClinicActivities(dosespot, sessionmaker, secrets, settings.dosespot_user_id)
    clinicians = ClinicianActivities(dosespot, sessionmaker, secrets, settings.dosespot_user_id)
    patients = PatientActivities(dosespot, sessionmaker, secrets, settings.dosespot_user_id)
    prescriptions = PrescriptionActivities(
        dosespot, sessionmaker, secrets, settings.dosespot_user_id
    )
    renewals = RenewalActivities(dosespot, sessionmaker, secrets, settings.dosespot_user_id)
    watch = RenewalWatchActivities(
        renewal_service.discovery(client, settings, sessionmaker, dosespot)
    )
    notifications = NotificationActivities(Mailer.from_settings(settings), sessionmaker, settings)
    billing_control = BillingControlActivities(queue)
    main = Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(settings),
        activities=[
            clinics.ensure_clinic,
            clinicians.register_clinician,
            clinicians.registration_status,
            clinicians.start_identity_proofing,
            clinicians.agreements,
            clinicians.start_two_factor,
            clinicians.deactivate,
            clinicians.record,
            clinicians.append_epcs_audit,
            patients.ensure_patient,
            patients.sync_patient,
            patients.record_patient,
            prescriptions.save_prescription,
            prescriptions.send_prescription,
            prescriptions.prescription_status,
            prescriptions.cancel_prescription,
            prescriptions.record_prescription,
            renewals.renewal_still_pending,
            renewals.decide_renewal,
            renewals.record_renewal,
            watch.discover_renewals,
            notifications.send_member_email,
            billing_control.start,
            billing_control.stop,
            *billing_activities(LedgerBillingProvider(sessionmaker), sessionmaker, settings),
        ],
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
    )
    mail = Worker(
        client,
        task_queue=f"{queue}-mail",
        activities=[notifications.send_member_email],
        max_concurrent_activities=settings.worker_max_concurrent_emails,
    )
    return main, mail


@asynccontextmanager
async def running_workers(settings: Settings) -> AsyncIterator[tuple[Worker, Worker]]:
    client = await connect(settings)
    await ensure_search_attributes(client)
    engine = engine_from_settings(settings)
    async with dosespot_client(settings) as dosespot:
        workers = build_workers(client, settings, create_sessionmaker(engine), dosespot)
        try:
            yield workers
        finally:
            await engine.dispose()


async def main() -> None:
    configure_logging()
    settings = get_settings()
    async with running_workers(settings) as (worker, mail):
        logging.getLogger("worker").info(
            "worker polling task queues %s and %s", settings.task_queue, settings.mail_task_queue
        )
        await asyncio.gather(worker.run(), mail.run())


if __name__ == "__main__":
    asyncio.run(main())
