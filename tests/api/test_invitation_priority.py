"""Invitations start their enrollments below Temporal's default priority; a clinician's
first enrollment form moves theirs to the default, ahead of any backlog of invitations."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Replayer

from erx.settings import Settings
from erx.temporal import INTERACTIVE_PRIORITY_KEY, INVITATION_PRIORITY_KEY, data_converter
from tests.api.test_clinician_journey import Journey, enrollment_form, valid_npi
from worker import WORKFLOWS
from workflows.clinician_enrollment import clinician_workflow_id


async def priority_key(temporal: Client, workflow_id: str) -> int:
    described = await temporal.get_workflow_handle(workflow_id).describe()
    return described.raw_description.workflow_execution_info.priority.priority_key


async def test_the_first_form_takes_the_enrollment_ahead_of_the_invitations(
    journey: Journey, temporal: Client, settings: Settings
) -> None:
    await journey.register_clinic()
    await journey.add_member("m_prio_a", "Ada", "Hale")
    await journey.add_member("m_prio_b", "Ben", "Hale")
    await journey.invite("m_prio_a", "m_prio_b")
    ws = journey.ws.id
    first, second = clinician_workflow_id(ws, "m_prio_a"), clinician_workflow_id(ws, "m_prio_b")
    assert INVITATION_PRIORITY_KEY > INTERACTIVE_PRIORITY_KEY
    assert await priority_key(temporal, first) == INVITATION_PRIORITY_KEY
    assert await priority_key(temporal, second) == INVITATION_PRIORITY_KEY

    resp = await journey.api.put(
        f"{journey.base}/erx/clinicians/m_prio_a/enrollment",
        json=enrollment_form(valid_npi()),
        headers=journey.headers(),
    )
    assert resp.status_code in (200, 202), resp.text
    await journey.wait_for("m_prio_a", "confirmed")

    assert await priority_key(temporal, first) == INTERACTIVE_PRIORITY_KEY
    assert await priority_key(temporal, second) == INVITATION_PRIORITY_KEY
    # The options change is in the history, and the history still replays.
    history = await temporal.get_workflow_handle(first).fetch_history()
    await Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings)).replay_workflow(
        history
    )


async def test_a_form_for_a_member_not_invited_is_still_404(journey: Journey) -> None:
    await journey.register_clinic()
    await journey.add_member("m_prio_c", "Cy", "Hale")
    resp = await journey.api.put(
        f"{journey.base}/erx/clinicians/m_prio_c/enrollment",
        json=enrollment_form(valid_npi()),
        headers=journey.headers(),
    )
    assert resp.status_code == 404, resp.text
