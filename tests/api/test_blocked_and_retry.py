"""DoseSpot says no, for good: the workflow stays RUNNING, shows why, and a retry re-drives it.

End to end over the API, the real Temporal dev server and worker, and the DoseSpot sandbox
over HTTP. Each test refuses one DoseSpot call with a non-retryable answer through the
sandbox's fault rules (``result_error``: HTTP 200 with ResultCode ERROR, DoseSpotRefused;
``error_4xx``: 400 DoseSpotValidationError, 401 DoseSpotAuthError, 404 DoseSpotNotFound),
drives the flow through the API, checks what an admin sees (state ``blocked``, the reason,
the error's type, DoseSpot's message, ``retry`` among the allowed actions, the
``ErxBlockedReason`` search attribute, the workflow's current details), clears the fault,
retries, and checks that the step completes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.worker import Worker

from dosespot import (
    DoseSpotAuthError,
    DoseSpotClient,
    DoseSpotError,
    DoseSpotNotFound,
    DoseSpotRefused,
    DoseSpotValidationError,
)
from erx.settings import Settings
from erx.temporal import SA_BLOCKED_REASON, SA_STAGE
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi
from tests.api.test_setup import dosespot_clinics_named, unique_location
from tests.conftest import WorkspaceKeys
from workflows.clinic_setup import ClinicSetupWorkflow, clinic_setup_workflow_id
from workflows.clinician_enrollment import clinician_workflow_id
from workflows.identity_proofing import identity_proofing_workflow_id
from workflows.models import ClinicianStatus

FAST = {
    "confirmation_delay_seconds": 0.2,
    "attempt_delay_seconds": 0.2,
    "tfa_delay_seconds": 0.5,
}


# Faults -----------------------------------------------------------------------


def refusal(method: str, path: str, kind: str, **fields: Any) -> dict[str, Any]:
    """A fault rule that refuses every matching call until the faults are cleared."""
    return {"method": method, "path": path, "kind": kind, **fields}


async def refuse(sandbox: httpx.AsyncClient, *rules: dict[str, Any]) -> None:
    resp = await sandbox.put("/_sandbox/faults", json=list(rules))
    assert resp.status_code == 200, resp.text


async def clear_faults(sandbox: httpx.AsyncClient) -> None:
    resp = await sandbox.delete("/_sandbox/faults")
    assert resp.status_code == 200, resp.text


# What an admin sees in Temporal --------------------------------------------------


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """What ``workflow.set_current_details`` last said, as the Temporal UI shows it."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def assert_running(temporal: Client, workflow_id: str) -> None:
    desc = await temporal.get_workflow_handle(workflow_id).describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING, (workflow_id, desc.status)


async def blocked_reason_attribute(
    temporal: Client, workflow_id: str, expected: str | None, seconds: float = 10
) -> None:
    """The ``ErxBlockedReason`` search attribute reaches ``expected`` (None: unset)."""
    handle = temporal.get_workflow_handle(workflow_id)
    for _ in range(int(seconds / 0.2)):
        found = (await handle.describe()).typed_search_attributes.get(SA_BLOCKED_REASON)
        if found == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id}: ErxBlockedReason is {found!r}, not {expected!r}")


async def assert_blocked(
    j: Journey,
    temporal: Client,
    member_id: str,
    *,
    step: str,
    resume_state: str,
    reason: str,
    error_type: str,
    message: str,
) -> dict[str, Any]:
    """Blocked as the API, the search attribute and the current details show it."""
    clinician = await j.wait_for(member_id, "blocked")
    blocked = clinician["blocked"]
    assert blocked is not None, clinician
    assert blocked["step"] == step, blocked
    assert blocked["resume_state"] == resume_state, blocked
    assert blocked["reason"] == reason, blocked
    assert blocked["error_type"] == error_type, blocked
    assert message in blocked["message"], blocked
    assert blocked["since"], blocked
    assert clinician["allowed_actions"] == ["retry", "deactivate"], clinician
    assert message in (clinician["message"] or ""), clinician
    workflow_id = clinician_workflow_id(j.ws.id, member_id)
    await assert_running(temporal, workflow_id)
    await blocked_reason_attribute(temporal, workflow_id, reason)
    handle = temporal.get_workflow_handle(workflow_id)
    assert (await handle.describe()).typed_search_attributes.get(SA_STAGE) == "blocked"
    details = await current_details(handle)
    assert details.startswith("Blocked"), details
    assert f"{step}: {reason} ({error_type})" in details, details
    return clinician


async def retry(j: Journey, member_id: str, who: str = "admin") -> dict[str, Any]:
    resp = await j.api.post(f"{j.base}/erx/clinicians/{member_id}/retry", headers=j.headers(who))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def assert_unblocked(j: Journey, temporal: Client, member_id: str) -> None:
    clinician = await j.clinician(member_id)
    assert clinician["blocked"] is None, clinician
    assert "retry" not in clinician["allowed_actions"], clinician
    await blocked_reason_attribute(temporal, clinician_workflow_id(j.ws.id, member_id), None)


# Driving a clinician to the step under test --------------------------------------


async def confirmed_clinician(j: Journey, member_id: str = "m_ada", **scenario: Any) -> int:
    """Register the clinic, invite and enroll ``member_id``: its DoseSpot clinician id."""
    await j.register_clinic()
    await j.invite(member_id)
    npi = valid_npi()
    await j.scenario(npi, **{**FAST, **scenario})
    resp = await j.enroll(member_id, npi, valid_dea())
    assert resp.status_code == 200 and resp.json()["status"] == "confirmed", resp.text
    return (await j.clinician_ids())[member_id]


async def wait_for_clinician_id(j: Journey, member_id: str, seconds: float = 20) -> int:
    for _ in range(int(seconds / 0.05)):
        found = (await j.clinician_ids()).get(member_id)
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{member_id} was never registered with DoseSpot")


async def wait_for_idp(
    j: Journey, member_id: str, seconds: float = 20, **expected: Any
) -> dict[str, Any]:
    for _ in range(int(seconds / 0.2)):
        idp = (await j.clinician(member_id))["idp"] or {}
        if all(idp.get(k) == v for k, v in expected.items()):
            return dict(idp)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{member_id}'s identity proofing never reached {expected}: {idp}")


# The sandbox's refusals are the DoseSpot errors the workflows name non-retryable ---------


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"kind": "result_error", "description": "Nope."}, DoseSpotRefused),
        ({"kind": "error_4xx"}, DoseSpotValidationError),
        ({"kind": "error_4xx", "status_code": 401}, DoseSpotAuthError),
        ({"kind": "error_4xx", "status_code": 404}, DoseSpotNotFound),
    ],
)
async def test_sandbox_refusals_are_typed_dosespot_errors(
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
    rule: dict[str, Any],
    error: type[DoseSpotError],
) -> None:
    await refuse(sandbox_http, {"method": "GET", "path": "api/general/check", **rule})
    with pytest.raises(error) as raised:
        await dosespot.check()
    assert not raised.value.retryable
    await clear_faults(sandbox_http)
    await dosespot.check()


# 1. Clinic setup ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "reason", "error_type", "message"),
    [
        (
            {"kind": "result_error", "description": "Clinic could not be created."},
            "dosespot_refused",
            "DoseSpotRefused",
            "POST api/clinics: Clinic could not be created.",
        ),
        (
            {"kind": "error_4xx", "status_code": 400},
            "dosespot_rejected_data",
            "DoseSpotValidationError",
            "POST api/clinics: The request is invalid.",
        ),
    ],
    ids=["result_error", "http_400"],
)
async def test_refused_clinic_create_blocks_the_location_until_setup_again(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    temporal: Client,
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
    rule: dict[str, Any],
    reason: str,
    error_type: str,
    message: str,
) -> None:
    location = unique_location()
    url = f"/v1/workspaces/{workspace.id}/erx/setup"
    await refuse(sandbox_http, refusal("POST", "api/clinics", **rule))

    setup = await api.post(url, json={"location": location}, headers=workspace.headers())
    assert setup.status_code == 200, setup.text
    body = setup.json()
    assert body["status"] == "blocked", body
    assert body["clinic"]["status"] == "blocked"
    assert body["clinic"]["blocked_reason"] == reason
    assert body["clinic"]["message"] == message
    progress = await api.get(f"/v1/workspaces/{workspace.id}/erx", headers=workspace.headers())
    assert progress.status_code == 200, progress.text
    shown = progress.json()
    assert shown["stage"] == "registration_blocked" and shown["active_step"] == 1, shown
    assert shown["blocked_reason"] == reason
    assert [(c["location_id"], c["status"], c["blocked_reason"]) for c in shown["clinics"]] == [
        ("loc-main", "blocked", reason)
    ]
    assert await dosespot_clinics_named(dosespot, location["name"]) == []

    # ClinicSetup is still running, and says why in Temporal.
    workflow_id = clinic_setup_workflow_id(workspace.id)
    await assert_running(temporal, workflow_id)
    await blocked_reason_attribute(temporal, workflow_id, reason)
    handle = temporal.get_workflow_handle(workflow_id)
    assert (await handle.describe()).typed_search_attributes.get(SA_STAGE) == (
        "registration_blocked"
    )
    assert f"blocked: {reason}" in await current_details(handle)
    [record] = (await handle.query(ClinicSetupWorkflow.progress)).clinics
    assert (record.status.value, record.blocked_reason, record.error_type) == (
        "blocked",
        reason,
        error_type,
    )

    # DoseSpot answers normally again: the same setup request registers the location.
    await clear_faults(sandbox_http)
    again = await api.post(url, json={"location_id": "loc-main"}, headers=workspace.headers())
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "registered", again.text
    assert again.json()["clinic"]["blocked_reason"] is None
    assert again.json()["progress"]["active_step"] == 2
    assert again.json()["progress"]["blocked_reason"] is None
    await assert_running(temporal, workflow_id)
    await blocked_reason_attribute(temporal, workflow_id, None)
    assert len(await dosespot_clinics_named(dosespot, location["name"])) == 1


async def test_blocked_clinic_shows_the_error_type_through_the_api(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    sandbox_http: httpx.AsyncClient,
) -> None:
    await refuse(sandbox_http, refusal("POST", "api/clinics", "result_error"))
    setup = await api.post(
        f"/v1/workspaces/{workspace.id}/erx/setup",
        json={"location": unique_location()},
        headers=workspace.headers(),
    )
    assert setup.json()["status"] == "blocked", setup.text
    progress = await api.get(f"/v1/workspaces/{workspace.id}/erx", headers=workspace.headers())
    assert setup.json()["clinic"].get("error_type") == "DoseSpotRefused", setup.text
    assert progress.json()["clinics"][0].get("error_type") == "DoseSpotRefused", progress.text


# Registration itself ----------------------------------------------------------------


async def test_refused_registration_is_registration_failed_then_retried(
    journey: Journey, temporal: Client
) -> None:
    j = journey
    await j.register_clinic()
    await j.invite("m_ada")
    npi = valid_npi()
    await j.scenario(npi, **FAST)
    # Only the create itself: a glob matches the whole path, not what lies below it.
    await refuse(
        j.sandbox,
        refusal("POST", "api/clinician[s]", "result_error", description="NPI is not valid."),
    )
    resp = await j.enroll("m_ada", npi, None)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "registration_failed", resp.text
    clinician = resp.json()["clinician"]
    assert clinician["state"] == "registration_failed"
    assert clinician["blocked"]["step"] == "registration"
    assert clinician["blocked"]["reason"] == "dosespot_refused"
    assert clinician["blocked"]["error_type"] == "DoseSpotRefused"
    assert "NPI is not valid." in clinician["blocked"]["message"]
    assert "retry" in clinician["allowed_actions"]
    workflow_id = clinician_workflow_id(j.ws.id, "m_ada")
    await assert_running(temporal, workflow_id)
    await blocked_reason_attribute(temporal, workflow_id, "dosespot_refused")

    await clear_faults(j.sandbox)
    retried = await retry(j, "m_ada")
    assert retried["state"] in ("enrolling", "awaiting_confirmation", "confirmed"), retried
    await j.wait_for("m_ada", "confirmed")
    await assert_unblocked(j, temporal, "m_ada")


# 2. Waiting for DoseSpot's confirmation ------------------------------------------------


async def test_refused_registration_status_blocks_confirmation_until_retried(
    journey: Journey, temporal: Client, live_api: str, settings: Settings
) -> None:
    j = journey
    await j.register_clinic()
    await j.invite("m_ada")
    npi = valid_npi()
    # DoseSpot does not confirm by itself, and every push is lost: only polling can tell.
    await j.scenario(npi, confirmation_delay_seconds=3600)
    notify = {
        "url": f"{live_api}/v1/dosespot/notifications",
        "secret": settings.dosespot_webhook_secret,
    }
    await j.sandbox.put("/_sandbox/notifications", json={**notify, "drop_probability": 1})
    try:
        enrolling = asyncio.create_task(j.enroll("m_ada", npi, None))
        clinician_id = await wait_for_clinician_id(j, "m_ada")
        await refuse(
            j.sandbox,
            refusal(
                "GET",
                f"api/clinicians/{clinician_id}/registrationStatus",
                "error_4xx",
                status_code=404,
            ),
        )
        resp = await enrolling
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "blocked", resp.text
        await assert_blocked(
            j,
            temporal,
            "m_ada",
            step="confirmation",
            resume_state="awaiting_confirmation",
            reason="dosespot_not_found",
            error_type="DoseSpotNotFound",
            message="registrationStatus: not found",
        )

        await clear_faults(j.sandbox)
        settled = await j.sandbox.post(f"/_sandbox/clinicians/{clinician_id}/confirm")
        assert settled.json()["RegistrationStatus"] == "RegistrationSuccess", settled.text
        retried = await retry(j, "m_ada", who="service")
        assert retried["state"] in ("awaiting_confirmation", "confirmed"), retried
        confirmed = await j.wait_for("m_ada", "confirmed")
        assert confirmed["allowed_actions"] == ["start_verification", "deactivate"]
        await assert_unblocked(j, temporal, "m_ada")
    finally:
        await j.sandbox.put("/_sandbox/notifications", json=notify)


# 3. Two-factor activation ----------------------------------------------------------


async def test_refused_two_factor_init_blocks_until_retried(
    journey: Journey, temporal: Client
) -> None:
    j = journey
    clinician_id = await confirmed_clinician(j)
    await j.verify("m_ada")
    await refuse(
        j.sandbox,
        refusal(
            "POST",
            f"api/clinicians/{clinician_id}/initTfaActivate",
            "result_error",
            description="Two-factor authentication could not be started.",
        ),
    )
    resp = await j.api.post(f"{j.base}/erx/clinicians/m_ada/two-factor", headers=j.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "blocked", resp.text
    await assert_blocked(
        j,
        temporal,
        "m_ada",
        step="two_factor_init",
        resume_state="verified",
        reason="dosespot_refused",
        error_type="DoseSpotRefused",
        message="Two-factor authentication could not be started.",
    )
    journey_view = (await j.sandbox.get(f"/_sandbox/clinicians/{clinician_id}")).json()
    assert journey_view["two_factor"]["state"] == "not_started", journey_view

    await clear_faults(j.sandbox)
    retried = await retry(j, "m_ada")
    assert retried["state"] == "tfa_pending", retried
    assert retried["blocked"] is None
    active = await j.wait_for("m_ada", "tfa_active")
    assert active["tfa_active"] is True
    await assert_unblocked(j, temporal, "m_ada")


# 4. Deactivation -----------------------------------------------------------------


async def test_refused_deactivation_blocks_until_retried_then_completes(
    journey: Journey, temporal: Client
) -> None:
    j = journey
    clinician_id = await confirmed_clinician(j)
    await refuse(
        j.sandbox, refusal("PUT", f"api/clinicians/{clinician_id}", "error_4xx", status_code=400)
    )
    deleting = asyncio.create_task(
        j.api.delete(f"{j.base}/erx/clinicians/m_ada", headers=j.headers("admin"))
    )
    try:
        await assert_blocked(
            j,
            temporal,
            "m_ada",
            step="deactivation",
            resume_state="confirmed",
            reason="dosespot_rejected_data",
            error_type="DoseSpotValidationError",
            message="The request is invalid.",
        )
        view = (await j.sandbox.get(f"/_sandbox/clinicians/{clinician_id}")).json()
        assert view["active"] is True, view
        if deleting.done():
            # Answering at once is fine too, as long as it says blocked, not deactivated.
            early = deleting.result()
            assert early.status_code == 200 and early.json()["state"] == "blocked", early.text

        await clear_faults(j.sandbox)
        await retry(j, "m_ada")
        workflow_id = clinician_workflow_id(j.ws.id, "m_ada")
        handle = temporal.get_workflow_handle(workflow_id)
        for _ in range(100):
            if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
                break
            await asyncio.sleep(0.2)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        result = ClinicianStatus.model_validate(await handle.result())
        assert result.state == "deactivated" and result.blocked is None, result
        if not deleting.done() or deleting.result().json()["state"] != "blocked":
            gone = await asyncio.wait_for(deleting, timeout=10)
            assert gone.status_code == 200, gone.text
            assert gone.json()["state"] == "deactivated", gone.text
        view = (await j.sandbox.get(f"/_sandbox/clinicians/{clinician_id}")).json()
        assert view["active"] is False, view
        await blocked_reason_attribute(temporal, workflow_id, None)
        assert (await j.clinician("m_ada"))["state"] == "deactivated"
    finally:
        if not deleting.done():
            deleting.cancel()


# 5. Identity proofing --------------------------------------------------------------


async def test_refused_first_idp_init_blocks_until_retried(
    journey: Journey, temporal: Client
) -> None:
    j = journey
    clinician_id = await confirmed_clinician(j)
    await refuse(
        j.sandbox,
        refusal(
            "POST",
            f"api/clinicians/{clinician_id}/idpInit",
            "result_error",
            description="Clinician is not active.",
        ),
    )
    resp = await j.api.post(f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers())
    assert resp.status_code == 200, resp.text
    clinician = await assert_blocked(
        j,
        temporal,
        "m_ada",
        step="identity_proofing:start_attempt",
        resume_state="verifying",
        reason="dosespot_refused",
        error_type="DoseSpotRefused",
        message="Clinician is not active.",
    )
    assert clinician["idp"]["run"] == 1 and clinician["idp"]["outcome"] == "blocked"
    # The child ended by itself, as blocked: it did not fail.
    first = temporal.get_workflow_handle(identity_proofing_workflow_id(j.ws.id, "m_ada", 1))
    assert (await first.describe()).status == WorkflowExecutionStatus.COMPLETED

    await clear_faults(j.sandbox)
    retried = await retry(j, "m_ada")
    assert retried["state"] == "verifying", retried
    verified = await j.wait_for("m_ada", "verified")
    assert verified["idp"]["run"] == 2, verified
    assert verified["idp"]["failed_attempts"] == 0
    assert verified["idp"]["outcome"] == "verified"
    await assert_unblocked(j, temporal, "m_ada")


async def test_refused_second_idp_init_keeps_the_failed_attempt(
    journey: Journey, temporal: Client
) -> None:
    j = journey
    clinician_id = await confirmed_clinician(j, experian_outcomes=["fail", "pass"])
    resp = await j.api.post(f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers())
    assert resp.status_code == 200, resp.text
    await wait_for_idp(j, "m_ada", failed_attempts=1, attempt_in_progress=False)

    # The clinician asks for attempt 2; DoseSpot refuses our credentials for good.
    await refuse(
        j.sandbox,
        refusal("POST", f"api/clinicians/{clinician_id}/idpInit", "error_4xx", status_code=401),
    )
    resp = await j.api.post(f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers())
    assert resp.status_code == 200, resp.text
    clinician = await assert_blocked(
        j,
        temporal,
        "m_ada",
        step="identity_proofing:start_attempt",
        resume_state="verifying",
        reason="dosespot_credentials",
        error_type="DoseSpotAuthError",
        message="unauthorised with a fresh token",
    )
    assert clinician["idp"]["failed_attempts"] == 1, clinician
    view = (await j.sandbox.get(f"/_sandbox/clinicians/{clinician_id}")).json()
    assert view["identity_proofing"]["experian_attempts_used"] == 1, view

    await clear_faults(j.sandbox)
    retried = await retry(j, "m_ada")
    assert retried["state"] == "verifying", retried
    assert retried["idp"]["failed_attempts"] == 1, retried
    # The attempt asked for before the refusal starts again by itself.
    verified = await j.wait_for("m_ada", "verified", seconds=15)
    assert verified["idp"]["run"] == 2, verified
    assert verified["idp"]["failed_attempts"] == 1, verified
    view = (await j.sandbox.get(f"/_sandbox/clinicians/{clinician_id}")).json()
    assert view["identity_proofing"]["experian_attempts_used"] == 2, view
    await assert_unblocked(j, temporal, "m_ada")


async def test_retry_restarts_the_refused_attempt_without_another_request(
    journey: Journey, temporal: Client
) -> None:
    j = journey
    clinician_id = await confirmed_clinician(j, experian_outcomes=["fail", "pass"])
    resp = await j.api.post(f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers())
    assert resp.status_code == 200, resp.text
    await wait_for_idp(j, "m_ada", failed_attempts=1, attempt_in_progress=False)
    await refuse(
        j.sandbox, refusal("POST", f"api/clinicians/{clinician_id}/idpInit", "result_error")
    )
    resp = await j.api.post(f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers())
    assert resp.status_code == 200, resp.text
    await j.wait_for("m_ada", "blocked")
    await clear_faults(j.sandbox)
    await retry(j, "m_ada")
    # The clinician asked for attempt 2 before the refusal; the retry starts it.
    await j.wait_for("m_ada", "verified", seconds=8)
    view = (await j.sandbox.get(f"/_sandbox/clinicians/{clinician_id}")).json()
    assert view["identity_proofing"]["experian_attempts_used"] == 2, view
