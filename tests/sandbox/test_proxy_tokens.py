"""Proxies and prescribing agents in the sandbox: a token acting on behalf of a prescriber
(``acr_values=OnBehalfOfUserId``) is issued only for a valid pairing, an agent's supervisor
per clinic, the pending prescription a proxy writes names it as the agent, and a send with
the proxy's token is refused while the prescriber's goes through."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from dosespot import build_sso_url
from dosespot_sandbox.auth import ON_BEHALF_OF_REFUSAL
from dosespot_sandbox.clinicians import NOT_AN_AGENT, SUPERVISOR_NOT_PRESCRIBER
from dosespot_sandbox.prescriptions import NOT_PRESCRIBER, SUPERVISOR_MISMATCH
from tests.contract.swagger import validate_request
from tests.sandbox import (
    CONFIG,
    SUBSCRIPTION,
    api,
    clinician_body,
    create_patient,
    get_token,
    post_valid,
    token_form,
    wait_for_status,
)
from tests.sandbox.test_prescription_sending import base_url, partner

# The sandbox that sends prescriptions quickly, and its partner admin, as in the sending tests.
__all__ = ["base_url", "partner"]

CLINIC = CONFIG.partner_clinic_id
KEY = CONFIG.partner_clinic_key
CVS = 7901


def add_user(partner: httpx.Client, role: str) -> int:
    overrides: dict[str, Any] = {"ClinicianRoleType": [role]}
    if role != "PrescribingClinician":
        overrides.update(NPINumber=None, DEANumber=None)
    body = {k: v for k, v in clinician_body(**overrides).items() if v is not None}
    created = post_valid(partner, "api/clinicians", body).json()
    assert created["Result"]["ResultCode"] == "OK", created
    clinician_id: int = created["Id"]
    wait_for_status(partner, clinician_id, "RegistrationSuccess")
    return clinician_id


def on_behalf_token(base_url: str, user_id: int, prescriber_id: int) -> httpx.Response:
    form = {**token_form(CLINIC, KEY, user_id), "acr_values": f"OnBehalfOfUserId={prescriber_id}"}
    return httpx.post(f"{base_url}/webapi/v2/connect/token", data=form, headers=SUBSCRIPTION)


def put_supervisor(partner: httpx.Client, agent: int, supervisor: int) -> dict[str, Any]:
    body = [{"ClinicId": CLINIC, "SupervisorId": supervisor}]
    validate_request("PUT", f"/api/clinicians/{agent}/supervisors", body)
    reply: dict[str, Any] = partner.put(f"api/clinicians/{agent}/supervisors", json=body).json()
    return reply


def coded() -> dict[str, Any]:
    return {
        "DispensableDrugId": 4001,
        "Quantity": 20,
        "DispenseUnitId": 1,
        "Refills": 0,
        "DaysSupply": 10,
        "Directions": "Take 1 capsule by mouth twice daily for 10 days",
        "NoSubstitutions": False,
        "EffectiveDate": datetime.now(UTC).strftime("%Y-%m-%dT00:00:00"),
        "Status": "Active",
    }


def test_on_behalf_tokens_need_a_valid_pairing(base_url: str, partner: httpx.Client) -> None:
    prescriber = add_user(partner, "PrescribingClinician")
    other = add_user(partner, "PrescribingClinician")
    proxy = add_user(partner, "ProxyClinician")
    agent = add_user(partner, "PrescribingAgentClinician")

    assert on_behalf_token(base_url, proxy, prescriber).status_code == 200

    # An agent acts only for its supervisor in the clinic.
    refused = on_behalf_token(base_url, agent, prescriber)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": ON_BEHALF_OF_REFUSAL}
    assert put_supervisor(partner, agent, prescriber)["Result"]["ResultCode"] == "OK"
    assert on_behalf_token(base_url, agent, prescriber).status_code == 200
    assert on_behalf_token(base_url, agent, other).json()["error_description"] == (
        ON_BEHALF_OF_REFUSAL
    )

    # Nobody acts for a proxy, a prescriber does not act for another, an unknown id fails.
    for user, for_whom in ((proxy, agent), (other, prescriber), (proxy, 999999), (proxy, proxy)):
        bad = on_behalf_token(base_url, user, for_whom)
        assert bad.status_code == 400, (user, for_whom)
        assert bad.json()["error_description"] == ON_BEHALF_OF_REFUSAL
    malformed = {**token_form(CLINIC, KEY, proxy), "acr_values": "OnBehalfOfUserId"}
    resp = httpx.post(f"{base_url}/webapi/v2/connect/token", data=malformed, headers=SUBSCRIPTION)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"

    # Supervisors are an agent's: a proxy has none, and a supervisor prescribes.
    assert put_supervisor(partner, proxy, prescriber)["Result"]["ResultDescription"] == (
        NOT_AN_AGENT
    )
    assert put_supervisor(partner, agent, proxy)["Result"]["ResultDescription"] == (
        SUPERVISOR_NOT_PRESCRIBER
    )
    # Removing the clinic's supervisor ends the agent's pairing.
    body = {"ClinicIds": [CLINIC]}
    validate_request("DELETE", f"/api/clinicians/{agent}/supervisors", body)
    removed = partner.request("DELETE", f"api/clinicians/{agent}/supervisors", json=body)
    assert removed.json()["Result"]["ResultCode"] == "OK"
    assert on_behalf_token(base_url, agent, prescriber).status_code == 400


def test_a_proxy_writes_pending_and_only_the_prescriber_sends(
    base_url: str, partner: httpx.Client
) -> None:
    prescriber = add_user(partner, "PrescribingClinician")
    proxy = add_user(partner, "ProxyClinician")
    doctor_token = get_token(base_url, CLINIC, KEY, prescriber)
    proxy_token = on_behalf_token(base_url, proxy, prescriber).json()["access_token"]
    with api(base_url, doctor_token) as doctor, api(base_url, proxy_token) as helper:
        patient = create_patient(doctor)
        post_valid(
            doctor, f"api/patients/{patient}/pharmacies", {"PharmacyId": CVS, "SetAsPrimary": True}
        )
        created = post_valid(helper, f"api/patients/{patient}/prescriptions/coded", coded()).json()
        assert created["Result"]["ResultCode"] == "OK", created
        rx_id = created["Id"]
        # Only a prescription written for a prescriber names that prescriber as supervisor.
        for writer, supervisor in ((doctor, prescriber), (helper, proxy)):
            named = {**coded(), "SupervisorId": supervisor}
            odd = post_valid(writer, f"api/patients/{patient}/prescriptions/coded", named).json()
            assert odd["Result"]["ResultDescription"] == SUPERVISOR_MISMATCH, odd
        rx = helper.get(f"api/patients/{patient}/prescriptions/{rx_id}").json()["Prescription"]
        assert rx["PrescriberId"] == prescriber and rx["PrescriberAgentId"] == proxy
        assert rx["Status"] == "Entered"

        send = {"PrescriptionIds": [rx_id]}
        refused = helper.post(f"api/patients/{patient}/prescriptions/send", json=send).json()
        assert refused[0]["Result"]["ResultDescription"] == NOT_PRESCRIBER
        sent = doctor.post(f"api/patients/{patient}/prescriptions/send", json=send).json()
        assert sent[0]["Result"]["ResultCode"] == "OK", sent

        # DoseSpot's pushes about it name the proxy as the agent.
        results: list[dict[str, Any]] = []
        for _ in range(50):
            doctor.get(f"api/patients/{patient}/prescriptions/{rx_id}")
            log = httpx.post(f"{base_url}/_sandbox/notifications/flush").json()
            results = [
                e["data"] for e in log
                if e["event_type"] == "PrescriptionResult" and e["data"]["PrescriptionId"] == rx_id
            ]  # fmt: skip
            if results:
                break
            time.sleep(0.1)
        assert results and all(r["AgentId"] == proxy for r in results), results


def sso_outcome(base_url: str, user_id: int, on_behalf_of: int) -> str:
    url = build_sso_url(
        f"{base_url}/LoginSingleSignOn.aspx", CLINIC, KEY, user_id,
        on_behalf_of_user_id=on_behalf_of,
    )  # fmt: skip
    response = httpx.get(url)
    assert response.status_code == 200
    return response.headers["X-Sandbox-SSO-Result"]


def test_the_ui_opens_on_behalf_only_for_a_valid_pairing(
    base_url: str, partner: httpx.Client
) -> None:
    prescriber = add_user(partner, "PrescribingClinician")
    other = add_user(partner, "PrescribingClinician")
    proxy = add_user(partner, "ProxyClinician")
    agent = add_user(partner, "PrescribingAgentClinician")
    assert put_supervisor(partner, agent, prescriber)["Result"]["ResultCode"] == "OK"

    assert sso_outcome(base_url, proxy, prescriber) == "signed_in"
    assert sso_outcome(base_url, agent, prescriber) == "signed_in"
    for user, for_whom in ((agent, other), (other, prescriber), (proxy, 999999)):
        assert sso_outcome(base_url, user, for_whom) == "on_behalf_of_invalid", (user, for_whom)
