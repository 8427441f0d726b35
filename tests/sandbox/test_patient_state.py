"""Patients and prescriptions survive a restart with a state file; a reset forgets them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import (
    born_years_ago,
    create_clinician,
    create_patient,
    partner_api,
    patient_body,
    wait_for_status,
)


def prescription_status(client: httpx.Client, patient_id: int, rx_id: int) -> str:
    body = client.get(f"api/patients/{patient_id}/prescriptions/{rx_id}").json()
    status: str = body["Prescription"]["Status"]
    return status


def test_a_pending_status_step_finishes_after_a_restart(tmp_path: Path) -> None:
    config = SandboxConfig(
        state_path=tmp_path / "sandbox.db",
        prescription_sent_delay_seconds=0,
        pharmacy_verified_delay_seconds=0.5,
    )
    with sandbox_server(config) as url, partner_api(url) as client:
        prescriber = create_clinician(client)
        httpx.post(f"{url}/_sandbox/clinicians/{prescriber}/confirm").raise_for_status()
        wait_for_status(client, prescriber, "RegistrationSuccess")
        patient_id = create_patient(client)
        created = httpx.post(
            f"{url}/_sandbox/patients/{patient_id}/prescribe",
            json={
                "clinician_id": prescriber,
                "pharmacy_id": 7902,
                "items": [{"medication": "azithromycin"}],
            },
        ).json()["prescriptions"]
        rx_id = created[0]["PrescriptionId"]
        assert prescription_status(client, patient_id, rx_id) == "eRxSent"

    time.sleep(0.6)
    with sandbox_server(config) as url, partner_api(url) as client:
        assert prescription_status(client, patient_id, rx_id) == "PharmacyVerified"
        pharmacies = client.get(f"api/patients/{patient_id}/pharmacies").json()["Items"]
        assert [p["PharmacyId"] for p in pharmacies] == [7902]

        httpx.post(f"{url}/_sandbox/reset").raise_for_status()
        assert client.get(f"api/patients/{patient_id}").json()["Result"]["ResultDescription"] == (
            "Patient not found."
        )
        assert httpx.get(f"{url}/_sandbox/patients/{patient_id}").status_code == 404
        assert client.get("api/notifications/counts").json()["TransactionErrorsCount"] == 0


def test_behaviour_changes_at_runtime_and_goes_back() -> None:
    with sandbox_server(SandboxConfig(minor_max_age=18)) as url, partner_api(url) as client:
        adult_at_18 = patient_body(DateOfBirth=born_years_ago(18))
        assert client.post("api/patients", json=adult_at_18).status_code == 400
        changed = httpx.put(
            f"{url}/_sandbox/behaviour",
            json={"minor_max_age": 17, "page_size": 2, "pharmacy_verified_delay_seconds": 0},
        ).json()
        assert (changed["minor_max_age"], changed["page_size"]) == (17, 2)
        assert changed["prescription_sent_delay_seconds"] == 1.0
        assert client.post("api/patients", json=adult_at_18).json()["Result"]["ResultCode"] == "OK"
        page = client.get("api/pharmacies/search", params={"state": "MA"}).json()["PageResult"]
        assert page["PageSize"] == 2
        refused = httpx.put(f"{url}/_sandbox/behaviour", json={"partner_clinic_id": 1})
        assert refused.status_code == 422

        restored = httpx.delete(f"{url}/_sandbox/behaviour").json()
        assert (restored["minor_max_age"], restored["page_size"]) == (18, 20)
        assert client.post("api/patients", json=adult_at_18).status_code == 400
        httpx.put(f"{url}/_sandbox/behaviour", json={"page_size": 3}).raise_for_status()
        httpx.post(f"{url}/_sandbox/reset").raise_for_status()
        assert httpx.get(f"{url}/_sandbox/behaviour").json()["page_size"] == 20


def test_an_inactive_patient_cannot_be_prescribed_for() -> None:
    with sandbox_server() as url, partner_api(url) as client:
        patient_id = create_patient(client, Active=False)
        response = httpx.post(
            f"{url}/_sandbox/patients/{patient_id}/prescribe",
            json={"pharmacy_id": 7901, "items": [{"medication": 4002}]},
        )
        assert (response.status_code, response.json()["detail"]) == (
            409,
            "the patient is inactive",
        )
