"""Logs carry ids, never PHI: an enrollment and a patient registration run with canary
values through the API, the worker and the DoseSpot sandbox (all in this process), and
none of the canaries appears in any captured log line."""

from __future__ import annotations

import logging

import pytest

from tests.api.test_clinician_journey import Journey, enrollment_form, valid_dea, valid_npi
from tests.api.test_patients import client_body, put_client, register


async def test_an_enrollment_and_a_registration_leave_no_phi_in_the_logs(
    journey: Journey, caplog: pytest.LogCaptureFixture
) -> None:
    j = journey
    await j.register_clinic()
    npi, dea = valid_npi(), valid_dea("QX")
    canaries = {
        "member": "Qzvcanarymember",
        "npi": npi,
        "dea": dea,
        "patient": "Wkjcanarypatient",
        "birth": "1957-08-19",
        "phone": "6467360199",
    }
    caplog.set_level(logging.DEBUG)
    resp = await j.api.put(
        f"{j.base}/members/m_canary",
        json={
            "first_name": canaries["member"],
            "last_name": "Lovelace",
            "email": "qzvcanary@example.com",
        },
        headers=j.headers(),
    )
    assert resp.status_code == 200, resp.text
    await j.scenario(npi, confirmation_delay_seconds=0.2)
    await j.invite("m_canary")
    form = enrollment_form(npi, dea) | {"phone": "+1 646 736 0199"}
    enrolled = await j.api.put(
        f"{j.base}/erx/clinicians/m_canary/enrollment", json=form, headers=j.headers()
    )
    assert enrolled.status_code == 200, enrolled.text

    body = client_body("08/19/1957") | {"last_name": canaries["patient"]}
    await put_client(j, "c_canary", body)
    assert (await register(j, "c_canary")).status_code == 200

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "api/clinician" in logged or "clinician" in logged, "the run was logged"
    for name, canary in canaries.items():
        assert canary not in logged, name
    assert "qzvcanary@example.com" not in logged
