"""Prescriptions played in the sandbox's embedded UI, their statuses over time, failure
pharmacies, self-reported medications, refill requests, notification counts, the pushes
for all of them and the single sign-on's patient check, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from dosespot import build_sso_url
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import (
    CONFIG,
    Receiver,
    api,
    clinician_body,
    create_clinic,
    create_patient,
    get_token,
    partner_api,
    post_valid,
    wait_for_status,
)

PARTNER_USER = CONFIG.partner_user_id
PARTNER_CLINIC = CONFIG.partner_clinic_id
VERIFY_DELAY = 0.3


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = SandboxConfig(
        default_confirmation_delay_seconds=0,
        prescription_sent_delay_seconds=0,
        pharmacy_verified_delay_seconds=VERIFY_DELAY,
        page_size=5,
    )
    with sandbox_server(config) as url:
        yield url


@pytest.fixture(scope="module")
def partner(base_url: str) -> Iterator[httpx.Client]:
    with partner_api(base_url) as client:
        yield client


@pytest.fixture
def pushes(base_url: str, receiver: Receiver) -> Iterator[Receiver]:
    ui(base_url, "PUT", "notifications", json={"url": receiver.url})
    yield receiver
    ui(base_url, "DELETE", "notifications/next")
    ui(base_url, "PUT", "notifications", json={"url": None})


def ui(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{base_url}/_sandbox/{path}", **kwargs)
    assert response.is_success, response.text
    return response.json()


def ui_refusal(base_url: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
    response = httpx.post(f"{base_url}/_sandbox/{path}", json=body)
    assert not response.is_success, response.text
    return response.status_code, str(response.json()["detail"])


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert payload["Result"]["ResultCode"] == "OK", payload
    return payload


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def events(receiver: Receiver, event_type: str) -> list[dict[str, Any]]:
    return [e["Data"] for e in receiver.events() if e["EventType"] == event_type]


def prescriptions(client: httpx.Client, patient_id: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(
        client.get(f"api/patients/{patient_id}/prescriptions", params=params)
    )["Items"]
    return items


def status_of(client: httpx.Client, patient_id: int, rx_id: int) -> str:
    rx = ok(client.get(f"api/patients/{patient_id}/prescriptions/{rx_id}"))["Prescription"]
    status: str = rx["Status"]
    return status


def prescribe(
    base_url: str, patient_id: int, *items: dict[str, Any], **extra: Any
) -> list[dict[str, Any]]:
    """Prescribe as the clinician who registered the patient, unless another is named."""
    body = {**extra, "items": list(items)}
    created: list[dict[str, Any]] = ui(
        base_url, "POST", f"patients/{patient_id}/prescribe", json=body
    )["prescriptions"]
    return created


@pytest.fixture(scope="module")
def prescriber(partner: httpx.Client) -> int:
    """A confirmed PrescribingClinician of the partner clinic (two-factor not active)."""
    clinician_id: int = ok(post_valid(partner, "api/clinicians", clinician_body()))["Id"]
    wait_for_status(partner, clinician_id, "RegistrationSuccess")
    return clinician_id


@pytest.fixture(scope="module")
def doctor(base_url: str, prescriber: int) -> Iterator[httpx.Client]:
    """The prescriber's own API session: its queues and counts."""
    token = get_token(base_url, PARTNER_CLINIC, CONFIG.partner_clinic_key, prescriber)
    with api(base_url, token) as client:
        yield client


@pytest.fixture
def patient(doctor: httpx.Client) -> int:
    """A patient registered by the prescriber, with CVS #1024 as primary pharmacy."""
    patient_id = create_patient(doctor)
    post_valid(
        doctor,
        f"api/patients/{patient_id}/pharmacies",
        {"PharmacyId": 7901, "SetAsPrimary": True},
    )
    return patient_id


# Prescriptions


def test_prescriptions_go_sent_then_pharmacy_verified_with_pushes(
    base_url: str, partner: httpx.Client, prescriber: int, patient: int, pushes: Receiver
) -> None:
    created = prescribe(
        base_url,
        patient,
        {"medication": "sertraline 50 mg", "quantity": 30, "refills": 2, "directions": "1 daily",
         "days_supply": 30},
        {"medication": 4004, "quantity": 90, "directions": "1 in the morning"},
    )  # fmt: skip
    ids = [rx["PrescriptionId"] for rx in created]
    assert [rx["Status"] for rx in created] == ["eRxSent", "eRxSent"]
    first = ok(partner.get(f"api/patients/{patient}/prescriptions/{ids[0]}"))["Prescription"]
    assert first["DisplayName"] == "sertraline 50 mg tablet"
    assert (first["Quantity"], first["Refills"], first["DaysSupply"]) == ("30", "2", 30)
    assert (first["DispenseUnitId"], first["PharmacyId"], first["PrescriberId"]) == (
        2,
        7901,
        prescriber,
    )
    assert (first["MedicationStatus"], first["Schedule"]) == ("Active", 0)

    eventually(lambda: all(status_of(partner, patient, i) == "PharmacyVerified" for i in ids))
    results = eventually(lambda: len(events(pushes, "PrescriptionResult")) == 4 and pushes)
    by_rx: dict[int, list[int]] = {}
    for data in events(results, "PrescriptionResult"):
        assert (data["PatientId"], data["ClinicId"], data["ClinicianId"]) == (
            patient,
            PARTNER_CLINIC,
            prescriber,
        )
        by_rx.setdefault(data["PrescriptionId"], []).append(data["PrescriptionStatus"])
    assert by_rx == {ids[0]: [4, 13], ids[1]: [4, 13]}
    assert {
        rx["PrescriptionId"] for rx in prescriptions(partner, patient, statusClass="Active")
    } == (set(ids))


def test_the_next_step_can_be_applied_at_once(
    base_url: str, partner: httpx.Client, patient: int
) -> None:
    (rx,) = prescribe(base_url, patient, {"medication": "atorvastatin"})
    advanced = ui(base_url, "POST", f"prescriptions/{rx['PrescriptionId']}/advance")
    assert advanced["Status"] == "PharmacyVerified"
    assert status_of(partner, patient, rx["PrescriptionId"]) == "PharmacyVerified"
    refused = httpx.post(f"{base_url}/_sandbox/prescriptions/{rx['PrescriptionId']}/advance")
    assert refused.status_code == 409


def test_failure_pharmacies_end_in_error_with_details(
    base_url: str,
    partner: httpx.Client,
    doctor: httpx.Client,
    prescriber: int,
    patient: int,
    pushes: Receiver,
) -> None:
    (rejected,) = prescribe(base_url, patient, {"medication": "amoxicillin 500"}, pharmacy_id=7998)
    (failed,) = prescribe(base_url, patient, {"medication": "lisinopril 20"}, pharmacy_id=7999)
    assert failed["Status"] == "Error"
    assert failed["StatusDetails"].startswith("Transmission failed")
    assert rejected["Status"] == "eRxSent"
    eventually(lambda: status_of(partner, patient, rejected["PrescriptionId"]) == "Error")

    results = eventually(lambda: len(events(pushes, "PrescriptionResult")) == 3 and pushes)
    final = {d["PrescriptionId"]: d for d in events(results, "PrescriptionResult")}
    assert final[rejected["PrescriptionId"]]["PrescriptionStatus"] == 6
    assert "Rejected by pharmacy" in final[rejected["PrescriptionId"]]["StatusDetails"]
    assert final[failed["PrescriptionId"]]["PrescriptionStatus"] == 6

    errors = ok(doctor.get("api/notifications/errors"))["Items"]
    mine = {e["PrescriptionId"]: e["ErrorDetails"] for e in errors if e["PatientId"] == patient}
    assert set(mine) == {rejected["PrescriptionId"], failed["PrescriptionId"]}
    assert "Rejected by pharmacy" in mine[rejected["PrescriptionId"]]
    counts = events(pushes, "PrescriberNotificationCounts")
    assert counts and counts[-1]["ClinicianId"] == prescriber
    assert counts[-1]["TransmissionErrorCount"] >= 2
    assert counts[-1]["Total"]["TransmissionErrorCount"] >= 2


def test_discontinued_prescriptions_move_to_inactive(
    base_url: str, partner: httpx.Client, patient: int, pushes: Receiver
) -> None:
    kept, stopped = prescribe(base_url, patient, {"medication": "metformin"}, {"medication": 4014})
    view = ui(
        base_url,
        "POST",
        f"patients/{patient}/prescriptions/{stopped['PrescriptionId']}/discontinue",
        json={"comment": "Ankle swelling"},
    )
    assert (view["MedicationStatus"], view["Comment"]) == ("Discontinued", "Ankle swelling")
    assert "DateInactive" in view
    active = prescriptions(partner, patient, statusClass="Active")
    inactive = prescriptions(partner, patient, statusClass="Inactive")
    assert [rx["PrescriptionId"] for rx in active] == [kept["PrescriptionId"]]
    assert [rx["PrescriptionId"] for rx in inactive] == [stopped["PrescriptionId"]]
    update = eventually(lambda: events(pushes, "MedicationStatusUpdate"))[0]
    assert (update["PrescriptionId"], update["MedicationStatus"]) == (stopped["PrescriptionId"], 3)

    filled = ui(
        base_url,
        "POST",
        f"patients/{patient}/prescriptions/{kept['PrescriptionId']}/medication-status",
        json={"status": "FullFill", "notes": "Filled 30 tablets"},
    )
    assert filled["MedicationStatus"] == "FullFill" and "LastFillDate" in filled
    fill = eventually(
        lambda: [e for e in events(pushes, "MedicationStatusUpdate") if e["MedicationStatus"] == 11]
    )
    assert fill[0]["StatusNotes"] == "Filled 30 tablets"


def test_unsent_prescriptions_are_pending_and_counted(
    base_url: str, partner: httpx.Client, doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    before = ok(doctor.get("api/notifications/counts"))["PendingPrescriptionsCount"]
    (pending,) = prescribe(base_url, patient, {"medication": "prednisone", "send": False})
    assert pending["Status"] == "Entered"
    assert [
        rx["PrescriptionId"] for rx in prescriptions(partner, patient, statusClass="Pending")
    ] == [pending["PrescriptionId"]]
    assert ok(doctor.get("api/notifications/counts"))["PendingPrescriptionsCount"] == before + 1
    assert ok(partner.get("api/notifications/counts"))["PendingPrescriptionsCount"] == 0
    counts = eventually(lambda: events(pushes, "PrescriberNotificationCounts"))
    assert counts[-1]["PendingPrescriptionCount"] == before + 1


def test_prescription_list_filters_dates_status_sort_and_pages(
    base_url: str, partner: httpx.Client, patient: int
) -> None:
    created = prescribe(base_url, patient, *({"medication": 4015} for _ in range(6)))
    ids = [rx["PrescriptionId"] for rx in created]
    first_page = ok(partner.get(f"api/patients/{patient}/prescriptions"))
    assert first_page["PageResult"]["TotalCount"] == 6
    assert first_page["PageResult"]["TotalPages"] == 2
    newest_first = prescriptions(partner, patient, sortColumn="DateWritten", sortOrder="Desc")
    assert [rx["PrescriptionId"] for rx in newest_first] == ids[::-1][:5]
    written = created[0]["WrittenDate"]
    today = written[:10]
    assert len(prescriptions(partner, patient, startDate=today, endDate=today)) == 5
    assert prescriptions(partner, patient, endDate="2000-01-01") == []
    assert len(prescriptions(partner, patient, prescriptionStatus="eRxSent", pageNumber=2)) == 1
    assert prescriptions(partner, patient, prescriptionStatus=13) == []
    bad = partner.get(f"api/patients/{patient}/prescriptions", params={"statusClass": "Gone"})
    assert bad.status_code == 400 and "statusClass" in bad.json()["ModelState"]


def test_prescribing_refusals(base_url: str, partner: httpx.Client, patient: int) -> None:
    status, detail = ui_refusal(
        base_url, f"patients/{patient}/prescribe", {"items": [{"medication": "oxycodone"}]}
    )
    assert (status, detail) == (409, "You do not have permission to send controlled substances")
    status, _ = ui_refusal(
        base_url,
        f"patients/{patient}/prescribe",
        {"pharmacy_id": 7928, "items": [{"medication": 4002}]},
    )
    assert status == 409
    body = clinician_body()
    ui(
        base_url,
        "PUT",
        f"scenarios/clinicians/{body['NPINumber']}",
        json={"confirmation_delay_seconds": 3600},
    )
    unconfirmed = ok(post_valid(partner, "api/clinicians", body))["Id"]
    status, detail = ui_refusal(
        base_url,
        f"patients/{patient}/prescribe",
        {"clinician_id": unconfirmed, "items": [{"medication": 4002}]},
    )
    assert (status, detail) == (409, "the clinician has not been confirmed")
    status, detail = ui_refusal(
        base_url, f"patients/{patient}/prescribe", {"items": [{"medication": "sertraline"}]}
    )
    assert status == 422 and "several" in detail
    status, _ = ui_refusal(
        base_url, f"patients/{patient}/prescribe", {"items": [{"medication": "unobtainium"}]}
    )
    assert status == 422
    assert prescriptions(partner, patient) == []
    missing = httpx.post(f"{base_url}/_sandbox/patients/424242/prescribe", json={"items": [{}]})
    assert missing.status_code == 404


def test_an_epcs_clinician_prescribes_controlled_substances_and_supplies(
    base_url: str, partner: httpx.Client, patient: int
) -> None:
    body = clinician_body()
    ui(
        base_url,
        "PUT",
        f"scenarios/clinicians/{body['NPINumber']}",
        json={"attempt_delay_seconds": 0, "tfa_delay_seconds": 0},
    )
    clinician_id = ok(post_valid(partner, "api/clinicians", body))["Id"]
    wait_for_status(partner, clinician_id, "RegistrationSuccess")
    ok(partner.post(f"api/clinicians/{clinician_id}/idpInit"))
    wait_for_status(partner, clinician_id, "IDPSuccess")
    ok(partner.post(f"api/clinicians/{clinician_id}/initTfaActivate", json={"TfaTypeId": "Mobile"}))
    wait_for_status(partner, clinician_id, "TFAActivatedSuccess")

    created = prescribe(
        base_url,
        patient,
        {"medication": 4020, "quantity": 12, "days_supply": 3},
        {"medication": "alprazolam"},
        {"medication": "pregabalin"},
        {"medication": "buprenorphine"},
        {"supply": "FreeStyle", "quantity": 100},
        clinician_id=clinician_id,
    )
    assert [rx.get("Schedule") for rx in created] == [2, 4, 5, 3, None]
    assert created[4]["Type"] == "Supply" and created[4]["SupplyId"] == 6003
    assert all(rx["PrescriberId"] == clinician_id for rx in created)
    status, _ = ui_refusal(
        base_url,
        f"patients/{patient}/prescribe",
        {"clinician_id": clinician_id, "pharmacy_id": 7903, "items": [{"medication": 4020}]},
    )
    assert status == 409


# Self-reported medications


def test_self_reported_medications_through_the_api_and_the_ui(
    base_url: str, partner: httpx.Client, patient: int, pushes: Receiver
) -> None:
    path = f"api/patients/{patient}/selfReportedMedications"
    free = ok(
        post_valid(
            partner,
            f"{path}/freetext",
            {"DisplayName": "Fish oil 1000 mg", "Status": "Active", "Directions": "1 daily",
             "Quantity": 60, "DispenseUnitId": 1},
        )
    )["Id"]  # fmt: skip
    coded = ok(
        post_valid(partner, f"{path}/coded", {"DispensableDrugId": 4019, "Status": "Active"})
    )["Id"]
    from_ui = ui(
        base_url,
        "POST",
        f"patients/{patient}/self-reported-medications",
        json={"medication": "omeprazole", "directions": "before breakfast"},
    )
    items = {s["SelfReportedMedicationId"]: s for s in ok(partner.get(path))["Items"]}
    assert set(items) == {free, coded, from_ui["SelfReportedMedicationId"]}
    assert (items[free]["Quantity"], items[free]["DispenseUnitType"]) == ("60", "Capsule")
    assert items[coded]["DisplayName"] == "cetirizine 10 mg tablet"
    assert items[coded]["OTC"] is True

    no_comment = partner.post(f"{path}/{free}/updateStatus", json={"Status": "Discontinued"})
    assert no_comment.json()["Result"]["ResultCode"] == "ERROR"
    ok(
        post_valid(
            partner, f"{path}/{free}/updateStatus", {"Status": "Discontinued", "Comment": "Stopped"}
        )
    )
    stopped = ok(partner.get(f"{path}/{free}"))["Item"]
    assert stopped["Status"] == "Discontinued" and "DiscontinuedDate" in stopped

    srm_events = eventually(
        lambda: len(events(pushes, "SelfReportedMedicationStatusUpdate")) == 4 and pushes
    )
    statuses = [d["Status"] for d in events(srm_events, "SelfReportedMedicationStatusUpdate")]
    assert sorted(statuses) == ["Added", "Added", "Added", "Edited"]


# Refill requests


def test_refill_requests_queue_count_and_resolve(
    base_url: str, partner: httpx.Client, doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    (original,) = prescribe(base_url, patient, {"medication": 4012, "quantity": 90, "refills": 0})
    before = ok(doctor.get("api/notifications/counts"))["RefillRequestsCount"]
    refill = ui(
        base_url,
        "POST",
        f"patients/{patient}/refill-requests",
        json={"prescription_id": original["PrescriptionId"]},
    )
    never = ui(
        base_url,
        "POST",
        f"patients/{patient}/refill-requests",
        json={"medication": "azithromycin", "pharmacy_id": 7905},
    )
    pending = ok(partner.get("api/refills/pending", params={"patientId": patient}))["Items"]
    assert [r["RefillId"] for r in pending] == [refill["RefillId"], never["RefillId"]]
    assert pending[0]["OriginalPrescriptionId"] == original["PrescriptionId"]
    assert pending[0]["Patient"]["PatientId"] == patient
    assert "OriginalPrescriptionId" not in pending[1]
    requested = ok(
        partner.get(f"api/patients/{patient}/prescriptions/{pending[0]['RequestedPrescriptionId']}")
    )["Prescription"]
    assert (requested["Status"], requested["DisplayName"]) == (
        "Requested",
        "levothyroxine 50 mcg tablet",
    )
    listed = prescriptions(partner, patient)
    assert [rx["PrescriptionId"] for rx in listed] == [original["PrescriptionId"]]
    assert len(prescriptions(partner, patient, prescriptionStatus="Requested")) == 2
    assert ok(doctor.get("api/notifications/counts"))["RefillRequestsCount"] == before + 2

    ui(base_url, "POST", f"refill-requests/{refill['RefillId']}/resolve")
    left = ok(partner.get("api/refills/pending", params={"patientId": patient}))["Items"]
    assert [r["RefillId"] for r in left] == [never["RefillId"]]
    counts = eventually(lambda: len(events(pushes, "PrescriberNotificationCounts")) >= 3 and pushes)
    assert events(counts, "PrescriberNotificationCounts")[-1]["RefillRequestCount"] == before + 1


def test_other_clinics_see_neither_refills_nor_prescriptions(
    base_url: str, partner: httpx.Client, patient: int
) -> None:
    prescribe(base_url, patient, {"medication": 4012})
    ui(base_url, "POST", f"patients/{patient}/refill-requests", json={"medication": 4017})
    clinic_id, clinic_key = create_clinic(partner)
    token = get_token(base_url, clinic_id, clinic_key, PARTNER_USER)
    with api(base_url, token) as elsewhere:
        queue = ok(elsewhere.get("api/refills/pending"))["Items"]
        assert all(r["ClinicId"] == clinic_id for r in queue)
        refusal = elsewhere.get("api/refills/pending", params={"patientId": patient}).json()
        assert refusal["Result"]["ResultDescription"] == (
            "User is not authorized to access this patient."
        )
        everywhere = ok(elsewhere.get("api/refills/pending", params={"clinic": "All"}))["Items"]
        assert any(r["Patient"]["PatientId"] == patient for r in everywhere)


# Allergies and pharmacies entered in the UI


def test_allergies_and_pharmacies_entered_in_the_ui(
    base_url: str, partner: httpx.Client, patient: int, pushes: Receiver
) -> None:
    entered = ui(
        base_url,
        "POST",
        f"patients/{patient}/allergies",
        json={"allergen": "codeine", "reaction": "Nausea", "reaction_type": "AdverseReaction"},
    )
    assert (entered["DisplayName"], entered["AllergenType"]) == ("Codeine", "ScreenableIngredient")
    items = ok(partner.get(f"api/patients/{patient}/allergies"))["Items"]
    assert [a["PatientAllergyId"] for a in items] == [entered["PatientAllergyId"]]
    allergy_events = eventually(lambda: events(pushes, "AllergyStatusUpdate"))
    assert allergy_events[0]["AllergyStatus"] == "Added"

    chosen = ui(
        base_url,
        "POST",
        f"patients/{patient}/pharmacies",
        json={"pharmacy_id": 7905, "primary": True},
    )
    assert [(p["PharmacyId"], p["IsDefault"]) for p in chosen] == [(7905, True), (7901, False)]
    pharmacy_events = eventually(lambda: events(pushes, "PharmacyStatusUpdate"))
    assert pharmacy_events[0]["PharmacyId"] == 7905
    record = ui(base_url, "GET", f"patients/{patient}")
    assert record["pharmacies"][0]["PharmacyId"] == 7905
    assert record["allergies"][0]["DisplayName"] == "Codeine"


def test_patient_pushes_on_create_and_edit(
    base_url: str, partner: httpx.Client, pushes: Receiver
) -> None:
    patient_id = create_patient(partner)
    body = ok(partner.get(f"api/patients/{patient_id}"))["Item"]
    del body["PatientId"], body["HasSSN"]
    ok(partner.put(f"api/patients/{patient_id}", json={**body, "Email": "ada@example.com"}))
    received = eventually(lambda: len(events(pushes, "PatientStatusUpdate")) == 2 and pushes)
    statuses = [d["PatientStatus"] for d in events(received, "PatientStatusUpdate")]
    assert sorted(statuses) == ["Added", "Edited"]


# Planned push faults


def test_the_next_pushes_can_be_dropped_duplicated_or_reordered(
    base_url: str, partner: httpx.Client, patient: int, pushes: Receiver
) -> None:
    ui(base_url, "POST", "notifications/next", json={"action": "drop"})
    ui(
        base_url,
        "POST",
        f"patients/{patient}/self-reported-medications",
        json={"display_name": "A"},
    )
    ui(base_url, "POST", "notifications/next", json={"action": "duplicate"})
    ui(
        base_url,
        "POST",
        f"patients/{patient}/self-reported-medications",
        json={"display_name": "B"},
    )
    ui(base_url, "POST", "notifications/next", json={"action": "reorder", "count": 3})
    assert ui(base_url, "GET", "notifications/next") == {"planned": ["reorder"] * 3}
    for name in ("C", "D", "E"):
        ui(
            base_url,
            "POST",
            f"patients/{patient}/self-reported-medications",
            json={"display_name": name},
        )
    ui(base_url, "POST", "notifications/flush")
    ids = [
        d["SelfReportedMedicationId"] for d in events(pushes, "SelfReportedMedicationStatusUpdate")
    ]
    srms = {
        s["DisplayName"]: s["SelfReportedMedicationId"]
        for s in ok(partner.get(f"api/patients/{patient}/selfReportedMedications"))["Items"]
    }
    assert ids == [srms["B"], srms["B"], srms["E"], srms["D"], srms["C"]]
    log = ui(base_url, "GET", "notifications/log")
    dropped = [e for e in log if e["outcome"] == "dropped"]
    assert dropped and dropped[-1]["data"]["SelfReportedMedicationId"] == srms["A"]


# Single sign-on with a patient


def test_sso_opens_a_patient_of_the_clinic_and_refuses_others(
    base_url: str, partner: httpx.Client, patient: int
) -> None:
    def outcome(clinic_id: int, clinic_key: str, **kwargs: Any) -> str:
        url = build_sso_url(
            f"{base_url}/LoginSingleSignOn.aspx", clinic_id, clinic_key, PARTNER_USER, **kwargs
        )
        response = httpx.get(url)
        assert response.status_code == 200
        return response.headers["X-Sandbox-SSO-Result"]

    key = CONFIG.partner_clinic_key
    assert outcome(PARTNER_CLINIC, key, patient_id=patient) == "signed_in"
    assert outcome(PARTNER_CLINIC, key, patient_id=424242) == "no_access_to_patient"
    assert outcome(PARTNER_CLINIC, key, refills_errors=True) == "signed_in"
    other_id, other_key = create_clinic(partner)
    assert outcome(other_id, other_key, patient_id=patient) == "no_access_to_patient"
    page = httpx.get(
        build_sso_url(
            f"{base_url}/LoginSingleSignOn.aspx", other_id, other_key, PARTNER_USER,
            patient_id=patient,
        )
    ).text  # fmt: skip
    assert "does not have access to this patient" in page


def test_an_ignored_error_leaves_the_error_queue(
    base_url: str, doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    before = ok(doctor.get("api/notifications/counts"))["TransactionErrorsCount"]
    (failed,) = prescribe(base_url, patient, {"medication": 4013}, pharmacy_id=7999)
    (sent,) = prescribe(base_url, patient, {"medication": 4013})
    assert ok(doctor.get("api/notifications/counts"))["TransactionErrorsCount"] == before + 1
    path = f"api/patients/{patient}/prescriptions"
    not_failed = doctor.post(f"{path}/{sent['PrescriptionId']}/ignoreError", json={})
    assert not_failed.json()["Result"]["ResultCode"] == "ERROR"
    ok(
        post_valid(
            doctor, f"{path}/{failed['PrescriptionId']}/ignoreError", {"Comment": "Phoned in"}
        )
    )
    assert ok(doctor.get("api/notifications/counts"))["TransactionErrorsCount"] == before
    errors = ok(doctor.get("api/notifications/errors"))["Items"]
    assert failed["PrescriptionId"] not in {e["PrescriptionId"] for e in errors}
    rx = ok(doctor.get(f"{path}/{failed['PrescriptionId']}"))["Prescription"]
    assert (rx["ErrorIgnored"], rx["Comment"]) == (True, "Phoned in")
    counts = eventually(lambda: len(events(pushes, "PrescriberNotificationCounts")) >= 2 and pushes)
    assert events(counts, "PrescriberNotificationCounts")[-1]["TransmissionErrorCount"] == before


def test_self_reported_medications_are_edited_in_place(
    doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    path = f"api/patients/{patient}/selfReportedMedications"
    srm_id = ok(
        post_valid(doctor, f"{path}/freetext", {"DisplayName": "Magnesium", "Status": "Active"})
    )["Id"]
    reported = ok(doctor.get(f"{path}/{srm_id}"))["Item"]["DateReported"]
    edited = ok(
        post_valid(doctor, f"{path}/coded", {"DispensableDrugId": 4007, "Status": "Active"})
    )["Id"]
    body = {"DispensableDrugId": 4006, "Status": "Active", "Directions": "At night"}
    assert ok(doctor.put(f"{path}/coded/{edited}", json=body))["Id"] == edited
    item = ok(doctor.get(f"{path}/{edited}"))["Item"]
    assert (item["DisplayName"], item["Directions"]) == ("atorvastatin 20 mg tablet", "At night")
    simple = {"RoutedDoseFormDrugId": 5014, "Status": "Active"}
    ok(doctor.put(f"{path}/simple/{edited}", json=simple))
    assert ok(doctor.get(f"{path}/{edited}"))["Item"]["DisplayName"] == "gabapentin 300 mg capsule"
    free = {"DisplayName": "Magnesium glycinate", "Status": "Active", "Refills": 1}
    ok(doctor.put(f"{path}/freetext/{srm_id}", json=free))
    item = ok(doctor.get(f"{path}/{srm_id}"))["Item"]
    assert (item["DisplayName"], item["Refills"], item["DateReported"]) == (
        "Magnesium glycinate",
        1,
        reported,
    )
    missing = doctor.put(f"{path}/freetext/424242", json=free).json()
    assert (missing["Result"]["ResultCode"], missing["Id"]) == ("ERROR", 0)
    received = eventually(
        lambda: len(events(pushes, "SelfReportedMedicationStatusUpdate")) == 5 and pushes
    )
    statuses = [d["Status"] for d in events(received, "SelfReportedMedicationStatusUpdate")]
    assert sorted(statuses) == ["Added", "Added", "Edited", "Edited", "Edited"]


def test_some_pharmacies_never_confirm_receipt(
    base_url: str, partner: httpx.Client, patient: int
) -> None:
    (rx,) = prescribe(base_url, patient, {"medication": 4016}, pharmacy_id=7904)
    assert (rx["Status"], rx["PendingSteps"]) == ("eRxSent", [])
    time.sleep(VERIFY_DELAY + 0.1)
    assert status_of(partner, patient, rx["PrescriptionId"]) == "eRxSent"


def test_a_pending_prescription_is_sent_later(
    base_url: str, doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    (pending,) = prescribe(base_url, patient, {"medication": 4017, "send": False})
    rx_id = pending["PrescriptionId"]
    queued = ok(doctor.get("api/notifications/counts"))["PendingPrescriptionsCount"]
    sent = ui(base_url, "POST", f"patients/{patient}/prescriptions/{rx_id}/send")
    assert sent["Status"] == "eRxSent"
    assert ok(doctor.get("api/notifications/counts"))["PendingPrescriptionsCount"] == queued - 1
    again = httpx.post(f"{base_url}/_sandbox/patients/{patient}/prescriptions/{rx_id}/send")
    assert again.status_code == 409
    eventually(lambda: status_of(doctor, patient, rx_id) == "PharmacyVerified")
    counts = events(pushes, "PrescriberNotificationCounts")
    assert [c["PendingPrescriptionCount"] for c in counts][-2:] == [queued, queued - 1]
    results = eventually(lambda: len(events(pushes, "PrescriptionResult")) == 2 and pushes)
    assert [d["PrescriptionStatus"] for d in events(results, "PrescriptionResult")] == [4, 13]


PUSH_SHAPES = {
    "PatientStatusUpdate": {
        "PatientId", "ClinicId", "ClinicianId", "AgentId", "PatientStatus", "StatusDateTime",
        "SourceType",
    },
    "PharmacyStatusUpdate": {
        "PatientId", "ClinicId", "ClinicianId", "PharmacyId", "PharmacyStatus", "StatusDateTime",
    },
    "AllergyStatusUpdate": {
        "PatientId", "ClinicId", "ClinicianId", "PatientAllergyId", "AllergyStatus",
        "StatusDateTime",
    },
    "PrescriptionResult": {
        "PatientId", "ClinicId", "ClinicianId", "AgentId", "PrescriptionId",
        "RelatedRxRequestQueueItemId", "PrescriptionStatus", "StatusDateTime", "StatusDetails",
    },
    "MedicationStatusUpdate": {
        "PatientId", "ClinicId", "ClinicianId", "AgentId", "PrescriptionId",
        "RelatedRxChangeQueueItemId", "MedicationStatus", "StatusDateTime", "StatusNotes",
    },
    "SelfReportedMedicationStatusUpdate": {
        "PatientId", "ClinicId", "ClinicianId", "AgentId", "SelfReportedMedicationId", "Status",
        "StatusDateTime",
    },
    "PrescriberNotificationCounts": {
        "ClinicianId", "ClinicId", "PendingPrescriptionCount", "TransmissionErrorCount",
        "RefillRequestCount", "ChangeRequestCount", "Total",
    },
}  # fmt: skip


def test_every_push_has_its_documented_data(
    base_url: str, doctor: httpx.Client, pushes: Receiver
) -> None:
    patient = create_patient(doctor)
    ok(post_valid(doctor, f"api/patients/{patient}/pharmacies", {"PharmacyId": 7905}))
    ok(doctor.post(f"api/patients/{patient}/allergies/noKnownAllergy"))
    (rx,) = prescribe(base_url, patient, {"medication": 4015}, pharmacy_id=7999)
    ui(base_url, "POST", f"patients/{patient}/prescriptions/{rx['PrescriptionId']}/discontinue")
    ui(base_url, "POST", f"patients/{patient}/self-reported-medications", json={"medication": 4019})
    received = eventually(
        lambda: set(PUSH_SHAPES) <= {e["EventType"] for e in pushes.events()} and pushes
    )
    for event in received.events():
        data = event["Data"]
        assert set(data) == PUSH_SHAPES[event["EventType"]], event["EventType"]
        if "StatusDateTime" in data:
            assert len(data["StatusDateTime"]) == len("2026-11-27T08:21:26.203")
        if event["EventType"] == "PrescriberNotificationCounts":
            assert set(data["Total"]) == PUSH_SHAPES[event["EventType"]] - {
                "ClinicianId",
                "ClinicId",
                "Total",
            }
    assert {auth for auth, _ in received.received} == {f"Secret {CONFIG.notification_secret}"}


def test_refill_requests_expire_and_leave_the_queue(
    base_url: str, doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    ui(base_url, "PUT", "behaviour", json={"refill_request_lifetime_days": 0.4 / 86400})
    try:
        refill = ui(
            base_url, "POST", f"patients/{patient}/refill-requests", json={"medication": 4014}
        )
    finally:
        ui(base_url, "DELETE", "behaviour")
    pending = ok(doctor.get("api/refills/pending", params={"patientId": patient}))["Items"]
    assert [r["RefillId"] for r in pending] == [refill["RefillId"]]
    assert pending[0]["RequestExpirationDate"] >= pending[0]["RequestedDate"]
    eventually(
        lambda: not ok(doctor.get("api/refills/pending", params={"patientId": patient}))["Items"]
    )
    record = ui(base_url, "GET", f"patients/{patient}")
    assert [r["State"] for r in record["refill_requests"]] == ["Expired"]
    counts = eventually(lambda: len(events(pushes, "PrescriberNotificationCounts")) >= 2 and pushes)
    refill_counts = [
        c["RefillRequestCount"] for c in events(counts, "PrescriberNotificationCounts")
    ]
    assert refill_counts[-1] == refill_counts[-2] - 1


def test_pharmacies_that_report_fills_move_the_medication_status(
    base_url: str, doctor: httpx.Client, patient: int, pushes: Receiver
) -> None:
    ui(base_url, "PUT", "behaviour", json={"pharmacy_fill_delay_seconds": 0.1})
    try:
        (filled,) = prescribe(base_url, patient, {"medication": 4006})
        (unverified,) = prescribe(base_url, patient, {"medication": 4006}, pharmacy_id=7904)
    finally:
        restored = ui(base_url, "DELETE", "behaviour")
    assert restored["pharmacy_fill_delay_seconds"] is None
    assert [s.get("MedicationStatus") for s in filled["PendingSteps"]] == [None, "FullFill"]
    path = f"api/patients/{patient}/prescriptions"

    def dispensed() -> dict[str, Any] | None:
        rx = ok(doctor.get(f"{path}/{filled['PrescriptionId']}"))["Prescription"]
        return rx if rx["MedicationStatus"] == "FullFill" else None

    rx = eventually(dispensed)
    assert (rx["Status"], rx["LastFillDate"][11:]) == ("PharmacyVerified", "00:00:00")
    update = eventually(lambda: events(pushes, "MedicationStatusUpdate"))[0]
    assert (update["PrescriptionId"], update["MedicationStatus"], update["StatusNotes"]) == (
        filled["PrescriptionId"],
        11,
        "Dispensed in full",
    )
    assert unverified["PendingSteps"] == []
