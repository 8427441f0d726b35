"""Patients end to end: the EHR's client record, registration in the DoseSpot sandbox over
HTTP (pediatric vitals, no twins, edits reaching DoseSpot), and the embedded prescribing
session's link checked by the sandbox."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.patients import PatientActivities
from db.patients import PatientRegistration
from dosespot import DoseSpotClient
from dosespot.models import Patient
from erx.codec import SecretBox
from erx.settings import Settings
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi


def born_years_ago(years: int, days_after_birthday: int = 0) -> str:
    """A date of birth that makes the patient ``years`` old today (MM/DD/YYYY)."""
    today = datetime.now(UTC).date()
    born = date(today.year - years, today.month, min(today.day, 28))
    if born > today:
        born = date(born.year - 1, born.month, born.day)
    born = date.fromordinal(born.toordinal() - days_after_birthday)
    return born.strftime("%m/%d/%Y")


def client_body(dob: str, **changes: Any) -> dict[str, Any]:
    return {
        "first_name": "Sam",
        "last_name": f"Rivera{abs(hash(dob)) % 1000}",
        "date_of_birth": dob,
        "sex": "Female",
        "phone": "+12127365000",
        "phone_type": "Cell",
        "address": {
            "street_address": "350 Fifth Avenue",
            "city": "New York",
            "state": "NY",
            "zip_code": "10118",
        },
        **changes,
    }


VITALS = {"height": {"value": 120, "unit": "cm"}, "weight": {"value": 22.5, "unit": "kg"}}


async def put_client(j: Journey, client_id: str, body: dict[str, Any]) -> None:
    resp = await j.api.put(f"{j.base}/clients/{client_id}", json=body, headers=j.headers())
    assert resp.status_code == 200, resp.text


async def register(j: Journey, client_id: str, body: dict[str, Any] | None = None) -> Any:
    return await j.api.put(
        f"{j.base}/erx/patients/{client_id}", json=body or {}, headers=j.headers()
    )


async def dosespot_patient(
    settings: Settings,
    dosespot: DoseSpotClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    ws: str,
    client_id: str,
) -> tuple[Patient, DoseSpotClient]:
    async with sessionmaker() as session:
        row = await session.get(PatientRegistration, (ws, client_id))
    assert row is not None and row.dosespot_patient_id and row.dosespot_clinic_id
    activities = PatientActivities(
        dosespot,
        sessionmaker,
        SecretBox(settings.codec_keys, settings.codec_active_key_id),
        settings.dosespot_user_id,
    )
    clinic = await activities._in_clinic(row.dosespot_clinic_id)
    return await clinic.get_patient(row.dosespot_patient_id), clinic


@pytest.mark.parametrize("age", [17, 18])
async def test_minors_without_vitals_are_refused_and_nothing_is_sent(
    journey: Journey, age: int
) -> None:
    j = journey
    await j.register_clinic()
    await put_client(j, "c_minor", client_body(born_years_ago(age)))
    resp = await register(j, "c_minor")
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] in ("height", "weight")
    patient = await j.api.get(f"{j.base}/erx/patients/c_minor", headers=j.headers())
    assert patient.json()["state"] == "unregistered"
    assert patient.json()["dosespot_patient_id"] is None


async def test_nineteen_registers_without_vitals_and_a_child_with_them(
    journey: Journey,
    settings: Settings,
    dosespot: DoseSpotClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    j = journey
    await j.register_clinic()
    await put_client(j, "c_adult", client_body(born_years_ago(19)))
    resp = await register(j, "c_adult")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "registered"
    assert resp.json()["patient"]["dosespot_patient_id"]

    await put_client(j, "c_child", client_body(born_years_ago(8)))
    resp = await register(j, "c_child", VITALS)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "registered"
    assert body["patient"]["state"] == "registered"
    patient, _ = await dosespot_patient(settings, dosespot, sessionmaker, j.ws.id, "c_child")
    assert patient.height == 120 and patient.height_metric is not None
    assert patient.height_metric.name == "cm"
    assert patient.weight == 22.5 and patient.weight_metric is not None
    assert patient.weight_metric.name == "kg"

    read = await j.api.get(f"{j.base}/erx/patients/c_child", headers=j.headers())
    assert read.json()["dosespot_patient_id"] == body["patient"]["dosespot_patient_id"]


async def test_a_create_retried_after_a_timeout_leaves_one_patient_and_edits_reach_dosespot(
    journey: Journey,
    settings: Settings,
    dosespot: DoseSpotClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    j = journey
    await j.register_clinic()
    body = client_body(born_years_ago(40))
    await put_client(j, "c_once", body)
    # DoseSpot stores the patient but its answer never arrives: the retry must find it.
    fault = {
        "rules": [
            {"method": "POST", "path": "api/patients", "kind": "timeout_after_commit", "times": 1}
        ]
    }
    assert (await j.sandbox.put("/_sandbox/faults", json=fault)).status_code == 200
    resp = await register(j, "c_once")
    assert resp.status_code in (200, 202), resp.text
    for _ in range(100):
        state = (await j.api.get(f"{j.base}/erx/patients/c_once", headers=j.headers())).json()
        if state["state"] == "registered":
            break
        await asyncio.sleep(0.2)
    assert state["state"] == "registered", state
    patient, clinic = await dosespot_patient(settings, dosespot, sessionmaker, j.ws.id, "c_once")
    twins = await clinic.search_patients(
        body["first_name"], body["last_name"], patient.date_of_birth
    )
    assert [t.patient_id for t in twins] == [patient.patient_id]

    # An edit of the client record reaches DoseSpot's patient by itself.
    await put_client(j, "c_once", body | {"last_name": "Rivera-Cruz"})
    edited, _ = await dosespot_patient(settings, dosespot, sessionmaker, j.ws.id, "c_once")
    assert edited.patient_id == patient.patient_id
    assert edited.last_name == "Rivera-Cruz"
    # So does a later registration's override.
    resp = await register(j, "c_once", {"middle_name": "Ann"})
    assert resp.status_code == 200, resp.text
    edited, _ = await dosespot_patient(settings, dosespot, sessionmaker, j.ws.id, "c_once")
    assert edited.middle_name == "Ann" and edited.last_name == "Rivera-Cruz"


async def test_a_client_record_change_that_no_longer_registers_is_refused(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    child = client_body(born_years_ago(8)) | VITALS
    await put_client(j, "c_kid", child)
    assert (await register(j, "c_kid")).status_code == 200
    without = {k: v for k, v in child.items() if k not in ("height", "weight")}
    resp = await j.api.put(f"{j.base}/clients/c_kid", json=without, headers=j.headers())
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] in ("height", "weight")
    kept = await j.api.get(f"{j.base}/clients/c_kid", headers=j.headers())
    assert kept.json()["height"] == {"value": 120, "unit": "cm"}


async def test_another_workspaces_patient_is_not_found(
    journey: Journey, new_workspace: Any
) -> None:
    j = journey
    await j.register_clinic()
    await put_client(j, "c_mine", client_body(born_years_ago(30)))
    other = await new_workspace()
    for method, path in (
        ("PUT", f"/v1/workspaces/{j.ws.id}/erx/patients/c_mine"),
        ("GET", f"/v1/workspaces/{j.ws.id}/erx/patients/c_mine"),
        ("GET", f"/v1/workspaces/{other.id}/erx/patients/c_mine"),
    ):
        resp = await j.api.request(method, path, json={}, headers=other.headers())
        assert resp.status_code == 404, (method, path, resp.text)


async def test_the_prescribing_session_signs_in_as_a_verified_clinician_only(
    journey: Journey,
) -> None:
    j = journey
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2, attempt_delay_seconds=0.2)
    await j.invite("m_ada", "m_grace")
    await put_client(j, "c_rx", client_body(born_years_ago(45)))
    session_url = f"{j.base}/erx/patients/c_rx/prescribing-session"

    # Not registered yet, and nobody verified: refused with the reason.
    resp = await j.api.post(session_url, json={}, headers=j.headers("member"))
    assert resp.status_code == 409, resp.text
    assert "not verified" in resp.json()["detail"]

    enrolled = await j.enroll("m_ada", npi, valid_dea("AL"))
    assert enrolled.status_code == 200, enrolled.text
    await j.verify("m_ada")
    resp = await j.api.post(session_url, json={}, headers=j.headers("member"))
    assert resp.status_code == 409 and "not registered" in resp.json()["detail"], resp.text
    assert (await register(j, "c_rx")).status_code == 200

    # The clinician's own key, or the service key naming them.
    own = await j.api.post(session_url, json={}, headers=j.headers("member"))
    assert own.status_code == 200, own.text
    assert own.json()["clinician_member_id"] == "m_ada"
    link = own.json()["sso_url"]
    assert "PatientId=" in link
    page = await j.sandbox.get(link.split("127.0.0.1", 1)[1][6:])
    assert page.headers.get("X-Sandbox-SSO-Result") == "signed_in", page.text

    service = await j.api.post(
        session_url, json={"clinician_member_id": "m_ada"}, headers=j.headers()
    )
    assert service.status_code == 200 and service.json()["clinician_member_id"] == "m_ada"
    queue = await j.api.post(
        session_url,
        json={"clinician_member_id": "m_ada", "refills_errors": True},
        headers=j.headers(),
    )
    assert "RefillsErrors=1" in queue.json()["sso_url"]

    # Never to an admin or another member for someone else.
    for who in ("admin", "m_grace"):
        resp = await j.api.post(
            session_url, json={"clinician_member_id": "m_ada"}, headers=j.headers(who)
        )
        assert resp.status_code == 403, (who, resp.text)
    resp = await j.api.post(session_url, json={}, headers=j.headers())
    assert resp.status_code == 422 and "clinician_member_id" in resp.text
    # Grace is invited but not verified: her own key gets the reason.
    resp = await j.api.post(session_url, json={}, headers=j.headers("m_grace"))
    assert resp.status_code == 409 and "not verified" in resp.json()["detail"]


async def test_patient_details_never_reach_the_logs(
    journey: Journey, caplog: pytest.LogCaptureFixture
) -> None:
    """DoseSpot's patient search carries the name and birth date in its URL: the HTTP
    client's request lines must not be logged, by the API or by the worker."""
    j = journey
    await j.register_clinic()
    canary = "Zqxcanaryname"
    body = client_body("02/03/1961") | {"last_name": canary, "first_name": "Wvbcanary"}
    caplog.set_level(logging.DEBUG)
    await put_client(j, "c_canary", body)
    assert (await register(j, "c_canary")).status_code == 200
    logged = caplog.text
    assert "patients/search" in logged, "the DoseSpot calls are logged, by operation"
    for secret in (canary, "Wvbcanary", "1961-02-03", "02/03/1961", "1961"):
        assert secret not in logged, secret


async def test_the_client_records_insurance_is_sent_when_the_patient_is_created(
    journey: Journey,
) -> None:
    j = journey
    await j.register_clinic()
    plan = {"payer_name": "Aetna", "payer_id": "60054", "member_id": "W123456789"}
    await put_client(j, "c_ins", client_body(born_years_ago(33)) | {"insurance": plan})
    resp = await register(j, "c_ins")
    assert resp.status_code == 200, resp.text
    patient_id = resp.json()["patient"]["dosespot_patient_id"]
    stored = (await j.sandbox.get(f"/_sandbox/patients/{patient_id}")).json()
    assert "W123456789" in str(stored["insurance"]), stored["insurance"]
    assert "60054" in str(stored["insurance"])
