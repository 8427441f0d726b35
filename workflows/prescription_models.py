"""The Prescription workflow's inputs, results and lifecycle (pure: imported by workflow code).

Only ids travel here: our workspace and prescription ids and DoseSpot's numeric ids. The
prescription's contents stay in the read model, and the prescriber's PIN and one-time code
never enter a payload: a send names only the task queue of the API process that holds them
and the one-time nonce they are kept under (see ``activities.prescriptions.EpcsVault``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# DoseSpot's PrescriptionStatus, by the integer its pushes carry.
PRESCRIPTION_STATUSES = {
    1: "Entered",
    2: "Printed",
    3: "Sending",
    4: "eRxSent",
    5: "FaxSent",
    6: "Error",
    7: "Deleted",
    8: "Requested",
    9: "Edited",
    10: "EpcsError",
    11: "EpcsSigned",
    12: "ReadyToSign",
    13: "PharmacyVerified",
    14: "PharmacySelect",
}
# Statuses from which DoseSpot takes a send: waiting for the prescriber, or failed.
SENDABLE_STATUSES = frozenset(
    {"Entered", "Edited", "ReadyToSign", "PharmacySelect", "Error", "EpcsError"}
)
# DoseSpot has taken the prescription: sending again would make a second live prescription.
TAKEN_STATUSES = frozenset({"Sending", "eRxSent", "FaxSent", "Printed", "EpcsSigned",
                            "PharmacyVerified"})  # fmt: skip
ERROR_STATUSES = frozenset({"Error", "EpcsError"})
# Nothing follows these by itself.
FINAL_STATUSES = frozenset({"PharmacyVerified", "Printed", "FaxSent", "Deleted"}) | ERROR_STATUSES

# The lifecycle: which request each state takes. ``transmitting`` follows DoseSpot's
# status until it is final; ``error`` (DoseSpot's Error or EpcsError) can be sent again
# after a fix; ``signature_required`` means a controlled-substance send lost its PIN and
# code (the API process holding them ended) and must be signed again.
STATES = {
    "saving": "Saving in DoseSpot",
    "pending": "Pending in DoseSpot for the prescriber",
    "sending": "Sending",
    "transmitting": "Sent; following DoseSpot's status",
    "sent": "Sent",
    "error": "Error",
    "signature_required": "Must be signed again",
    "cancelling": "Cancelling",
    "cancelled": "Cancelled",
    "printed": "Printed (on paper)",
    "blocked": "Blocked",
}
ACTIONS = {
    "saving": [],
    "pending": ["send", "cancel"],
    "sending": [],
    "transmitting": [],
    "sent": [],
    "error": ["send", "cancel"],
    "signature_required": ["send", "cancel"],
    "cancelling": [],
    "cancelled": [],
    "printed": [],
    "blocked": ["retry", "cancel"],
}
FINISHED_STATES = frozenset({"sent", "cancelled", "printed"})


def allowed_actions(state: str) -> list[str]:
    return list(ACTIONS.get(state, []))


class PrescriptionTimings(BaseModel):
    poll_seconds: float = 30.0
    poll_max_seconds: float = 900.0
    # eRxSent is followed this long for PharmacyVerified (not every pharmacy verifies).
    follow_hours: float = 24.0
    # A controlled-substance send must reach the API process that holds the codes by then.
    epcs_pickup_seconds: float = 30.0
    # A prescription waiting on a person (pending, error, to be signed, blocked) is looked
    # up in DoseSpot after this long, then after twice as long, up to the maximum: what was
    # done in DoseSpot's own UI is picked up even if its push was lost, and a blocked step
    # is tried again.
    check_hours: float = 24.0
    check_max_hours: float = 168.0
    # Past this many history events, a waiting prescription continues as new.
    history_limit: int = 2000


class DoseSpotRefs(BaseModel):
    """DoseSpot's ids for the prescription: where it lives and who prescribes it."""

    clinic_id: int
    patient_id: int
    prescriber_id: int
    prescription_id: int


class PrescriptionCarry(BaseModel):
    """What a prescription carries into its next run (continue-as-new)."""

    state: str
    resume: str
    refs: DoseSpotRefs | None = None
    status: str | None = None
    details: str | None = None
    refusal: str | None = None
    blocked_reason: str | None = None
    message: str | None = None
    revision: int = 0
    check_hours: float | None = None


class PrescriptionInput(BaseModel):
    workspace_id: str
    rx_id: str
    controlled: bool = False
    timings: PrescriptionTimings = PrescriptionTimings()
    # The patient's PatientErx workflow is told of DoseSpot's pushes about the prescription.
    client_id: str | None = None
    carry: PrescriptionCarry | None = None


class EpcsSigning(BaseModel):
    """Where the prescriber's PIN and code wait: an API process's own task queue and the
    one-time nonce they are kept under there. Neither is a secret."""

    task_queue: str
    nonce: str


class SendRequest(BaseModel):
    epcs: EpcsSigning | None = None


class PrescriptionRef(BaseModel):
    workspace_id: str
    rx_id: str


class SendInput(BaseModel):
    workspace_id: str
    rx_id: str
    refs: DoseSpotRefs
    nonce: str | None = None


class SendResult(BaseModel):
    """DoseSpot's answer to a send: taken (now or by an earlier attempt), or refused."""

    accepted: bool
    already_taken: bool = False
    description: str | None = None
    status: str | None = None


class StatusInput(BaseModel):
    refs: DoseSpotRefs


class StatusObservation(BaseModel):
    status: str | None
    details: str | None = None


class CancelInput(BaseModel):
    refs: DoseSpotRefs


class PrescriptionSnapshot(BaseModel):
    """What the read model shows of the prescription."""

    workspace_id: str
    rx_id: str
    state: str
    dosespot_prescription_id: int | None = None
    dosespot_patient_id: int | None = None
    dosespot_status: str | None = None
    status_details: str | None = None
    status_at: datetime | None = None
    blocked_reason: str | None = None
    message: str | None = None
    revision: int = 0


class PrescriptionStatus(BaseModel):
    workspace_id: str
    rx_id: str
    state: str
    allowed_actions: list[str]
    dosespot_prescription_id: int | None = None
    dosespot_status: str | None = None
    status_details: str | None = None
    refusal: str | None = None
    blocked_reason: str | None = None
    message: str | None = None
    summary: str
