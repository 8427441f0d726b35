"""``setPrinted`` against DoseSpot's Swagger, read in place: what the client sends and what
the sandbox answers, each checked on the wire against the operation's request and response
schemas; a pending prescription becomes Printed, a sent one is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dosespot import DoseSpotRefused
from dosespot.enums import PrescriptionStatus
from dosespot.models import CodedPrescriptionCreate
from dosespot.protocol import set_printed_request
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import load_swagger, validate_request, validate_response
from tests.contract.test_client_patients import patient_create, prescriber
from tests.contract.test_prescription_kinds import clients

OPERATION = "/api/patients/{patientId}/prescriptions/setPrinted"
AMOXICILLIN = 4001
PHARMACY = 7901

__all__ = ["prescriber"]


def test_the_request_is_the_swaggers_set_prescriptions_printed() -> None:
    operation = load_swagger()["paths"][OPERATION]["post"]
    assert operation["operationId"] == "Prescriptions_SetPrescriptionsPrintedV2"
    request = set_printed_request(123, [10021, 10022])
    assert (request.method, "/" + request.path) == ("POST", OPERATION.replace("{patientId}", "123"))
    validate_request("post", OPERATION, request.json)
    validate_response("post", OPERATION, {"Result": {"ResultCode": "OK"}})


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


def amoxicillin() -> CodedPrescriptionCreate:
    return CodedPrescriptionCreate(
        dispensable_drug_id=AMOXICILLIN,
        quantity=30,
        dispense_unit_id=1,
        refills=2,
        directions="Take 1 capsule by mouth twice daily",
        pharmacy_id=PHARMACY,
    )


async def test_the_client_and_the_sandbox_agree_on_set_printed(
    sandbox_url: str, prescriber: int
) -> None:
    admin, clinician, transport = clients(sandbox_url, prescriber)
    async with admin:
        patient_id = await admin.add_patient(patient_create(last_name="Printed"))
        await admin.add_patient_pharmacy(patient_id, PHARMACY, set_as_primary=True)
        printed = await clinician.add_coded_prescription(patient_id, amoxicillin())
        sent = await clinician.add_coded_prescription(patient_id, amoxicillin())

        await clinician.set_prescriptions_printed(patient_id, [printed])
        rx = await clinician.get_prescription(patient_id, printed)
        assert rx.status is PrescriptionStatus.Printed

        (outcome,) = await clinician.send_prescriptions(patient_id, [sent])
        assert outcome.accepted
        with pytest.raises(DoseSpotRefused):
            await clinician.set_prescriptions_printed(patient_id, [sent])
        (again,) = await clinician.send_prescriptions(patient_id, [printed])
        assert not again.accepted, "a printed prescription is not sent as well"
    assert "POST /api/patients/{patientId}/prescriptions/setPrinted" in transport.checked
