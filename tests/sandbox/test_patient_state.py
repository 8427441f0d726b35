"""Patients and prescriptions survive a restart with a state file; a reset forgets them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import create_clinician, create_patient, partner_api, wait_for_status


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
