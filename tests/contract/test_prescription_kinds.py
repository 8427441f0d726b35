"""Pending prescriptions of every kind against DoseSpot's Swagger, read in place: a coded
medication, a supply of the catalogue, a free-text supply and a compiled compound. Each
request is checked on the wire against its operation's schema, each answer too, and the
sandbox keeps what was prescribed (type, name, schedule) and sends it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dosespot import DoseSpotClient, DoseSpotCredentials, DoseSpotRefused
from dosespot.enums import FreeTextType, PrescriptionStatus, PrescriptionType
from dosespot.models import (
    CodedPrescriptionCreate,
    CompoundIngredientCreate,
    CompoundPrescriptionCreate,
    FreeTextSupplyPrescriptionCreate,
    PrescriptionCreate,
    SupplyPrescriptionCreate,
)
from dosespot.protocol import add_prescription_request
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import load_swagger, validate_request
from tests.contract.test_client_patients import CheckedTransport, patient_create, prescriber
from tests.sandbox import CONFIG as SANDBOX

__all__ = ["prescriber"]

PHARMACY = 7901
AMOXICILLIN = 4001
SWABS = 6001
COMMON = {
    "quantity": 1,
    "dispense_unit_id": 1,
    "refills": 0,
    "directions": "Use as directed",
    "pharmacy_id": PHARMACY,
}


def coded() -> CodedPrescriptionCreate:
    return CodedPrescriptionCreate(dispensable_drug_id=AMOXICILLIN, **COMMON)


def supply() -> SupplyPrescriptionCreate:
    return SupplyPrescriptionCreate(supply_id=SWABS, **COMMON)


def free_text() -> FreeTextSupplyPrescriptionCreate:
    return FreeTextSupplyPrescriptionCreate(display_name="Foam wedge pillow, 7 inch", **COMMON)


def compound() -> CompoundPrescriptionCreate:
    return CompoundPrescriptionCreate(
        compound_description="Magic mouthwash: lidocaine, diphenhydramine, antacid 1:1:1",
        compound_ingredients=[
            CompoundIngredientCreate(dispensable_drug_id=AMOXICILLIN, quantity="40"),
            CompoundIngredientCreate(free_text="Diphenhydramine 12.5 mg/5 mL", quantity="40"),
        ],
        **COMMON,
    )


KINDS = {"coded": coded, "supply": supply, "supply/freetext": free_text,
         "compiledcompound": compound}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_posts_the_swaggers_request(kind: str) -> None:
    body = KINDS[kind]()
    operation = f"/api/patients/{{patientId}}/prescriptions/{kind}"
    assert "post" in load_swagger()["paths"][operation]
    request = add_prescription_request(42, body)
    assert (request.method, "/" + request.path) == ("POST", operation.replace("{patientId}", "42"))
    validate_request("post", operation, request.json)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


def clients(sandbox_url: str, user: int) -> tuple[DoseSpotClient, DoseSpotClient, CheckedTransport]:
    transport = CheckedTransport()
    admin = DoseSpotClient(
        f"{sandbox_url}/webapi/v2/",
        SANDBOX.subscription_key,
        DoseSpotCredentials(
            SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, SANDBOX.partner_user_id
        ),
        transport=transport,
    )
    clinician = admin.as_user(
        DoseSpotCredentials(SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, user)
    )
    return admin, clinician, transport


async def test_every_kind_is_kept_and_sent(sandbox_url: str, prescriber: int) -> None:
    admin, clinician, transport = clients(sandbox_url, prescriber)
    expected: list[tuple[PrescriptionCreate, PrescriptionType, str]] = [
        (coded(), PrescriptionType.Coded, "amoxicillin"),
        (supply(), PrescriptionType.Supply, "BD Alcohol Swabs"),
        (free_text(), PrescriptionType.FreeText, "Foam wedge pillow, 7 inch"),
        (compound(), PrescriptionType.Compound, "Magic mouthwash"),
    ]
    async with admin:
        patient_id = await admin.add_patient(patient_create(last_name="Kinds"))
        await admin.add_patient_pharmacy(patient_id, PHARMACY, set_as_primary=True)
        for body, kind, name in expected:
            rx_id = await clinician.add_prescription(patient_id, body)
            rx = await clinician.get_prescription(patient_id, rx_id)
            assert rx.type is kind
            assert name in (rx.display_name or "")
            assert rx.status is PrescriptionStatus.Entered
            if kind is PrescriptionType.FreeText:
                assert rx.free_text_type is FreeTextType.Supply
            if kind is PrescriptionType.Compound:
                assert len(rx.compound_ingredients) == 2
            (outcome,) = await clinician.send_prescriptions(patient_id, [rx_id])
            assert outcome.accepted, outcome.description
    for path in KINDS:
        assert f"POST /api/patients/{{patientId}}/prescriptions/{path}" in transport.checked


async def test_the_sandbox_refuses_what_dosespot_refuses(sandbox_url: str, prescriber: int) -> None:
    admin, clinician, _ = clients(sandbox_url, prescriber)
    async with admin:
        patient_id = await admin.add_patient(patient_create(last_name="Refused"))
        with pytest.raises(DoseSpotRefused, match="Supply not found"):
            await clinician.add_prescription(
                patient_id, SupplyPrescriptionCreate(supply_id=999999, **COMMON)
            )
        with pytest.raises(DoseSpotRefused, match="not controlled"):
            await clinician.add_prescription(
                patient_id,
                FreeTextSupplyPrescriptionCreate(
                    display_name="Wedge", not_controlled=False, **COMMON
                ),
            )
        with pytest.raises(DoseSpotRefused, match="dispensable drug or free text"):
            await clinician.add_prescription(
                patient_id,
                CompoundPrescriptionCreate(
                    compound_description="Nothing named",
                    compound_ingredients=[CompoundIngredientCreate(quantity="1")],
                    **COMMON,
                ),
            )
