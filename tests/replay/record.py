"""Record histories for the replay test: ``.venv/bin/python -m tests.replay.record NAME``.

Runs each workflow through its main paths on a throwaway dev server, with stand-in
activities, and writes the history to tests/replay/histories/<type>-<NAME>.json.
Record a new file whenever a workflow changes shape; keep the old ones.
``... record NAME renewal_request`` records only the types named.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from erx.settings import Settings
from erx.temporal import SEARCH_ATTRIBUTES, data_converter
from worker import WORKFLOWS
from workflows.clinic_setup import ClinicSetupWorkflow
from workflows.clinician_enrollment import (
    GENERATION,
    ClinicianEnrollmentWorkflow,
    clinician_workflow_id,
)
from workflows.identity_proofing import identity_proofing_workflow_id
from workflows.models import (
    ActorRequest,
    Address,
    ClinicianEnrollmentInput,
    ClinicRecord,
    ClinicSetupInput,
    ClinicStatus,
    DoseSpotEvent,
    EnsureClinicInput,
    RegisterClinicRequest,
)
from workflows.patient_erx import PatientErxWorkflow, patient_workflow_id
from workflows.patient_models import PatientErxInput

HISTORIES = Path(__file__).parent / "histories"
_attempts: dict[str, int] = {}


@activity.defn(name="ensure_clinic")
async def ensure_clinic(input: EnsureClinicInput) -> ClinicRecord:
    _attempts[input.location_id] = _attempts.get(input.location_id, 0) + 1
    if input.location_id == "loc-refused" and _attempts[input.location_id] == 1:
        raise ApplicationError("Clinic is not valid", type="DoseSpotRefused", non_retryable=True)
    if _attempts[input.location_id] == 1:
        raise ApplicationError("DoseSpot is down", type="DoseSpotUnavailable")
    return ClinicRecord(
        location_id=input.location_id,
        status=ClinicStatus.registered,
        clinic_name="Recorded Clinic",
        address=Address(street_address="1 Main St", city="Austin", state="TX", zip_code="78701"),
        dosespot_clinic_id=100 + len(_attempts),
    )


async def record_clinic_setup(env: WorkflowEnvironment, name: str) -> None:
    queue = f"record-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=[ensure_clinic]
    ):
        handle = await env.client.start_workflow(
            ClinicSetupWorkflow.run,
            ClinicSetupInput(workspace_id="ws_recorded"),
            id="erx-clinic:ws_recorded",
            task_queue=queue,
        )
        for location_id in ("loc-main", "loc-refused", "loc-refused", "loc-second"):
            await handle.execute_update(
                ClinicSetupWorkflow.register_clinic, RegisterClinicRequest(location_id=location_id)
            )
        await handle.query(ClinicSetupWorkflow.progress)
        await handle.terminate("recorded")
        history = await handle.fetch_history()
    (HISTORIES / f"clinic_setup-{name}.json").write_text(history.to_json())


async def record_clinician_enrollment(env: WorkflowEnvironment, name: str) -> None:
    from tests.workflows.test_clinician_enrollment import (
        ADMIN,
        DEA_PRESCRIBER,
        FORM,
        TIMINGS,
        ScriptedDoseSpot,
        invitation_queued,
    )

    dosespot = ScriptedDoseSpot(confirm_after_polls=1, experian=["fail", "pass"])
    timings = TIMINGS.model_copy(
        update={
            "confirmation_poll_seconds": 0.3,
            "idp_poll_seconds": 0.3,
            "tfa_poll_seconds": 0.3,
            "poll_max_seconds": 0.3,
        }
    )
    queue = f"record-{uuid.uuid4()}"
    ws, member = "ws_recorded", "m_ada"
    # Emails on a task queue of their own, as the API starts enrollments.
    mail = [a for a in dosespot.activities() if a.__name__ == "send_member_email"]
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=dosespot.activities()
    ):
        # The workspace's clinic workflow, which the clinician tells about its progress.
        clinic = await env.client.start_workflow(
            ClinicSetupWorkflow.run,
            ClinicSetupInput(workspace_id=ws),
            id=f"erx-clinic:{ws}:{name}",
            task_queue=queue,
        )
        handle = await env.client.start_workflow(
            ClinicianEnrollmentWorkflow.run,
            ClinicianEnrollmentInput(
                workspace_id=ws,
                member_id=member,
                timings=timings,
                setup_workflow_id=clinic.id,
                mail_task_queue=f"{queue}-mail",
                generation=GENERATION,
            ),
            id=clinician_workflow_id(ws, member),
            task_queue=queue,
        )
        # The form comes before the invitation email went out, which withdraws the email.
        await invitation_queued(handle)
        await handle.execute_update(ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        async with Worker(env.client, task_queue=f"{queue}-mail", activities=mail):
            while (await handle.query(ClinicianEnrollmentWorkflow.status)).state != "verified":
                status = await handle.query(ClinicianEnrollmentWorkflow.status)
                if status.state == "confirmed" or (
                    status.idp is not None and not status.idp.attempt_in_progress
                ):
                    await handle.execute_update(
                        ClinicianEnrollmentWorkflow.start_verification, ActorRequest()
                    )
                await asyncio.sleep(0.5)
            # Two-factor is refused once: the clinician is blocked until an admin retries.
            dosespot.fail(
                "start_two_factor",
                ApplicationError("TFA refused", type="DoseSpotRefused", non_retryable=True),
            )
            await handle.execute_update(
                ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest()
            )
            await handle.execute_update(ClinicianEnrollmentWorkflow.retry, ActorRequest())
            for _ in range(100):
                if (await handle.query(ClinicianEnrollmentWorkflow.status)).state == "tfa_active":
                    break
                await asyncio.sleep(0.3)
            for approval in (ADMIN, DEA_PRESCRIBER):
                await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, approval)
            await handle.execute_update(
                ClinicianEnrollmentWorkflow.deactivate, ActorRequest(actor_member_id="m_admin")
            )
            await handle.result()
            enrollment = await handle.fetch_history()
            await clinic.query(ClinicSetupWorkflow.progress)
            await clinic.terminate("recorded")
            told = await clinic.fetch_history()
            child = await env.client.get_workflow_handle(
                identity_proofing_workflow_id(ws, member, 1)
            ).fetch_history()
    (HISTORIES / f"clinician_enrollment-{name}.json").write_text(enrollment.to_json())
    (HISTORIES / f"identity_proofing-{name}.json").write_text(child.to_json())
    (HISTORIES / f"clinic_setup-{name}-told.json").write_text(told.to_json())


async def record_patient_erx(env: WorkflowEnvironment, name: str) -> None:
    from tests.workflows.test_patient_erx import REQUEST, ScriptedPatients

    scripted = ScriptedPatients()
    scripted.failures["sync_patient"] = [
        ApplicationError("no access", type="DoseSpotRefused", non_retryable=True)
    ]
    queue = f"record-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        handle = await env.client.start_workflow(
            PatientErxWorkflow.run,
            PatientErxInput(workspace_id="ws_recorded", client_id="c_1"),
            id=patient_workflow_id("ws_recorded", "c_1"),
            task_queue=queue,
        )
        await handle.execute_update(PatientErxWorkflow.register, REQUEST)
        # The first sync is refused: the patient is blocked until retried.
        for _ in range(100):
            if (await handle.query(PatientErxWorkflow.status)).state == "blocked":
                break
            await asyncio.sleep(0.1)
        await handle.execute_update(PatientErxWorkflow.retry)
        await handle.execute_update(PatientErxWorkflow.sync)
        await handle.signal(
            PatientErxWorkflow.dosespot_event, DoseSpotEvent(event_type="PrescriptionResult")
        )
        await handle.execute_update(PatientErxWorkflow.register, REQUEST)
        await handle.terminate("recorded")
        history = await handle.fetch_history()
    (HISTORIES / f"patient_erx-{name}.json").write_text(history.to_json())


async def record_renewal_request(env: WorkflowEnvironment, name: str) -> None:
    from tests.workflows.test_renewal import ScriptedQueue
    from workflows.renewal import RenewalRequestWorkflow, renewal_workflow_id
    from workflows.renewal_models import (
        RenewalDenial,
        RenewalFacts,
        RenewalRequestInput,
    )

    scripted = ScriptedQueue(
        refusals=[ApplicationError("not now", type="DoseSpotRefused", non_retryable=True)]
    )
    queue = f"record-{uuid.uuid4()}"
    now = await env.get_current_time()
    facts = RenewalFacts(
        refill_id=5001,
        dosespot_clinic_id=77,
        dosespot_clinician_id=88,
        dosespot_patient_id=99,
        member_id="m_ada",
        client_id="c_1",
        requested_at=now,
        expires_at=now + timedelta(days=30),
    )
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        handle = await env.client.start_workflow(
            RenewalRequestWorkflow.run,
            RenewalRequestInput(workspace_id="ws_recorded", facts=facts),
            id=renewal_workflow_id("ws_recorded", facts.refill_id),
            task_queue=queue,
        )
        # Still listed when told to look; the denial is refused, then retried.
        await handle.signal(RenewalRequestWorkflow.refresh)
        for _ in range(100):
            if scripted.checks:
                break
            await asyncio.sleep(0.1)
        denial = RenewalDenial(denial_reason="DeniedNeedAppointment", note="Book a visit")
        await handle.execute_update(RenewalRequestWorkflow.deny, denial)
        await handle.execute_update(RenewalRequestWorkflow.retry)
        await handle.result()
        history = await handle.fetch_history()
    (HISTORIES / f"renewal_request-{name}.json").write_text(history.to_json())


async def record_prescription(env: WorkflowEnvironment, name: str) -> None:
    """Saved, a send refused, a deadline check while pending (DoseSpot: Entered), a push
    while pending (sent in DoseSpot's UI: eRxSent, passed on to a patient with no running
    workflow), a poll (PharmacyVerified), done."""
    from tests.workflows.test_prescription import ScriptedDoseSpot
    from workflows.prescription import PrescriptionWorkflow, prescription_workflow_id
    from workflows.prescription_models import (
        PrescriptionInput,
        PrescriptionTimings,
        SendRequest,
    )

    scripted = ScriptedDoseSpot(
        statuses=["Entered", "PharmacyVerified"], refusals=["The pharmacy is closed."]
    )
    queue = f"record-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        handle = await env.client.start_workflow(
            PrescriptionWorkflow.run,
            PrescriptionInput(
                workspace_id="ws_recorded",
                rx_id="rx_recorded",
                client_id="c_recorded",
                timings=PrescriptionTimings(
                    poll_seconds=0.5,
                    poll_max_seconds=1.0,
                    check_hours=1 / 3600,
                    check_max_hours=1 / 3600,
                ),
            ),
            id=prescription_workflow_id("ws_recorded", "rx_recorded"),
            task_queue=queue,
        )
        await handle.execute_update(PrescriptionWorkflow.save)
        await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        await asyncio.sleep(1.5)
        await handle.signal(
            PrescriptionWorkflow.dosespot_event,
            DoseSpotEvent(
                event_type="PrescriptionResult",
                clinician_id=3,
                data={"PrescriptionId": 44, "PrescriptionStatus": 4},
                received_at="2026-11-27T10:00:00+00:00",
            ),
        )
        await handle.result()
        history = await handle.fetch_history()
    (HISTORIES / f"prescription-{name}.json").write_text(history.to_json())


async def record_renewal_watch(env: WorkflowEnvironment, name: str) -> None:
    """Rounds on the interval, a failed round, a round asked for (look_now), and the run's
    continue-as-new."""
    from workflows.renewal_watch import (
        RenewalWatchInput,
        RenewalWatchWorkflow,
        renewal_watch_workflow_id,
    )

    rounds: list[str] = []

    @activity.defn(name="discover_renewals")
    async def discover_renewals(workspace_id: str) -> None:
        rounds.append(workspace_id)
        if len(rounds) == 2:
            raise ApplicationError("DoseSpot is down", non_retryable=True)

    queue = f"record-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=[discover_renewals]
    ):
        handle = await env.client.start_workflow(
            RenewalWatchWorkflow.run,
            RenewalWatchInput(
                workspace_id="ws_recorded", poll_minutes=1 / 60, continue_as_new_after_events=40
            ),
            id=renewal_watch_workflow_id("ws_recorded"),
            task_queue=queue,
        )
        await asyncio.sleep(2.5)
        await handle.signal(RenewalWatchWorkflow.look_now)
        first = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
        for _ in range(300):
            latest = await env.client.get_workflow_handle(handle.id).describe()
            if latest.run_id != first.run_id:
                break
            await asyncio.sleep(0.2)
        history = await first.fetch_history()
        await env.client.get_workflow_handle(handle.id).terminate("recorded")
    (HISTORIES / f"renewal_watch-{name}.json").write_text(history.to_json())


RECORDERS = {
    "clinic_setup": record_clinic_setup,
    "clinician_enrollment": record_clinician_enrollment,
    "patient_erx": record_patient_erx,
    "renewal_request": record_renewal_request,
    "prescription": record_prescription,
    "renewal_watch": record_renewal_watch,
}


async def main(name: str, only: list[str]) -> None:
    """Record every workflow type, or only the ones named (``renewal_request``, ...)."""
    settings = Settings()
    bin_dir = Path(sys.executable).parent
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(settings),
        dev_server_existing_path=str(bin_dir / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    try:
        for kind, record in RECORDERS.items():
            if not only or kind in only:
                await record(env, name)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v1", sys.argv[2:]))
