"""Printing a prescription on the real stack (dev server, worker, sandbox over HTTP): the
PDF read back with pypdf carries the prescription's facts, DoseSpot records it as Printed
once however often it is printed, a printed prescription is not sent again, a controlled
substance is never printed, and neither the PDF's facts nor the PDF reach the logs."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pypdf
import pytest

from api.prescription_pdf import in_words_and_figures, integer_in_words, number_in_words
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi
from tests.api.test_medication_record import PHARMACY
from tests.api.test_patients import born_years_ago, client_body, put_client, register
from tests.api.test_prescriptions import OXYCODONE, draft, item, rx_base, sandbox_prescriptions

SET_PRINTED = "api/patients/*/prescriptions/setPrinted"


async def printing_patient(j: Journey) -> tuple[str, dict[str, str], int]:
    """Ada verified with a known NPI, and a registered patient with a primary pharmacy:
    (the NPI, the client as the EHR gave it, DoseSpot's patient id)."""
    await j.register_clinic()
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2, attempt_delay_seconds=0.2)
    await j.invite("m_ada")
    assert (await j.enroll("m_ada", npi, valid_dea("AL"))).status_code == 200
    await j.verify("m_ada")
    client = client_body(born_years_ago(52), middle_name="Jo")
    await put_client(j, "c_rx", client)
    registered = await register(j, "c_rx")
    assert registered.status_code == 200, registered.text
    patient_id: int = registered.json()["patient"]["dosespot_patient_id"]
    primary = await j.sandbox.post(
        f"/_sandbox/patients/{patient_id}/pharmacies",
        json={"pharmacy_id": PHARMACY, "primary": True},
    )
    assert primary.status_code == 200, primary.text
    return npi, client, patient_id


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    return " ".join(reader.pages[0].extract_text().split())


async def set_printed_calls(j: Journey) -> int:
    resp = await j.sandbox.get("/_sandbox/requests", params={"path": SET_PRINTED})
    assert resp.status_code == 200, resp.text
    return len(resp.json())


def test_quantities_in_words() -> None:
    assert in_words_and_figures(30) == "30 (thirty)"
    assert in_words_and_figures(Decimal("3E+1")) == "30 (thirty)"
    assert in_words_and_figures("2.50") == "2.5 (two point five)"
    assert in_words_and_figures(0) == "0 (zero)"
    assert number_in_words(Decimal("0.25")) == "zero point two five"
    assert integer_in_words(115) == "one hundred fifteen"
    assert integer_in_words(99999) == "ninety-nine thousand nine hundred ninety-nine"
    assert integer_in_words(1_000_021) == "one million twenty-one"
    with pytest.raises(ValueError):
        number_in_words("thirty")


async def test_a_printed_prescription_carries_its_facts_and_is_recorded_printed_once(
    journey: Journey, caplog: pytest.LogCaptureFixture
) -> None:
    j = journey
    caplog.set_level(logging.DEBUG)
    npi, client, patient_id = await printing_patient(j)
    (rx,) = await draft(j, item(dispense_quantity=30, refills=2, diagnosis_codes=["J02.9"]))
    url = f"{rx_base(j)}/{rx['rx_id']}/pdf"
    before = await set_printed_calls(j)

    printed = await j.api.get(url, headers=j.headers())
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.headers["cache-control"] == "no-store"
    assert printed.content.startswith(b"%PDF-")
    text = pdf_text(printed.content)
    born = datetime.strptime(client["date_of_birth"], "%m/%d/%Y").date()
    today = datetime.now(UTC).date()
    for fact in (
        "Ada Lovelace",
        f"NPI: {npi}",
        "Sam Jo " + client["last_name"],
        f"Date of birth {born:%m/%d/%Y}",
        "350 Fifth Avenue",
        rx["medication"],
        "Take 1 capsule by mouth twice daily for 10 days",
        "Quantity 30 (thirty)",
        "Refills 2 (two)",
        "Days supply 10",
        "Substitution permitted",
        "J02.9",
        f"Date written {today:%m/%d/%Y}",
    ):
        assert fact in text, (fact, text)
    assert "DEA" not in text, "a non-controlled prescription carries no DEA number"

    (in_dosespot,) = [
        p for p in await sandbox_prescriptions(j, patient_id)
        if p["NonDoseSpotPrescriptionId"] == rx["rx_id"]
    ]  # fmt: skip
    assert in_dosespot["Status"] == "Printed"
    assert await set_printed_calls(j) == before + 1
    shown = (await j.api.get(f"{rx_base(j)}/{rx['rx_id']}", headers=j.headers())).json()
    assert shown["dosespot_status"] == "Printed"

    again = await j.api.get(url, headers=j.headers("member"))
    assert again.status_code == 200, again.text
    assert pdf_text(again.content) == text
    assert await set_printed_calls(j) == before + 1, "printing again records nothing new"

    sent = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers())
    assert sent.status_code == 409, sent.text
    (still,) = [
        p for p in await sandbox_prescriptions(j, patient_id)
        if p["NonDoseSpotPrescriptionId"] == rx["rx_id"]
    ]  # fmt: skip
    assert still["Status"] == "Printed"

    logged = "\n".join(record.getMessage() for record in caplog.records)
    for phi in (npi, client["last_name"], "Take 1 capsule", born.strftime("%m/%d/%Y")):
        assert phi not in logged


async def test_a_controlled_substance_is_never_printed_and_only_the_prescriber_prints(
    journey: Journey,
) -> None:
    j = journey
    _, _, patient_id = await printing_patient(j)
    oxycodone = item(
        OXYCODONE, dispense_quantity=12, dispense_unit_id=2, sig=None, directions="1 tablet q6h"
    )
    (controlled, plain) = await draft(j, oxycodone, item())
    before = await set_printed_calls(j)

    refused = await j.api.get(f"{rx_base(j)}/{controlled['rx_id']}/pdf", headers=j.headers())
    assert refused.status_code == 409, refused.text
    assert "EPCS" in refused.json()["detail"]
    assert "application/pdf" not in refused.headers["content-type"]
    assert await sandbox_prescriptions(j, patient_id) == [], "nothing reached DoseSpot"

    await j.add_member("m_grace", "Grace", "Hopper")
    other = await j.api.get(f"{rx_base(j)}/{plain['rx_id']}/pdf", headers=j.headers("m_grace"))
    assert other.status_code == 403, other.text
    missing = await j.api.get(f"{rx_base(j)}/rx_nosuch/pdf", headers=j.headers())
    assert missing.status_code == 404, missing.text
    assert await set_printed_calls(j) == before
