"""The clinic workflow's view of a clinic, from its read-model row."""

from __future__ import annotations

import json

from db.models import ClinicRegistration
from workflows.models import KEY_INVALID, KEY_MISSING, Address, ClinicRecord, ClinicStatus


def clinic_record(registration: ClinicRegistration) -> ClinicRecord:
    """The workflow's view of a clinic, from its read-model row."""
    registered = registration.status == ClinicStatus.registered.value
    return ClinicRecord(
        location_id=registration.location_id,
        status=ClinicStatus.registered if registered else ClinicStatus.blocked,
        clinic_name=registration.clinic_name,
        address=Address.model_validate(json.loads(registration.address_json)),
        dosespot_clinic_id=registration.dosespot_clinic_id,
        blocked_reason=registration.blocked_reason,
        message=_BLOCKED_MESSAGES.get(registration.blocked_reason or ""),
    )


_BLOCKED_MESSAGES = {
    KEY_MISSING: (
        "DoseSpot created the clinic but its ClinicKey never reached us; an admin enters "
        "the key DoseSpot support provides (PUT .../erx/clinics/{location_id}/clinic-key)"
    ),
    KEY_INVALID: "DoseSpot did not accept the ClinicKey that was entered; enter it again",
}
