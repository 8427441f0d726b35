"""Clinician registration: a new clinician is Pending until DoseSpot confirms it.

The outcome and delay come from a scenario chosen by the clinician's NPI (or the default
scenario). Confirmation pushes ``ClinicianConfirmed``; a registration error pushes nothing.
The same scenario drives the rest of the journey (:mod:`dosespot_sandbox.journey`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from dosespot_sandbox.runtime import Sandbox

Outcome = Literal["success", "error"]
AttemptOutcome = Literal["pass", "fail"]
EventualOutcome = Literal["pass", "fail", "never"]
SCENARIO_KIND = "scenario"
DEFAULT_SCENARIO_KEY = "default"
CLINICIAN_KIND = "clinician"
REGISTERING = ("Pending", "RegistrationError")


def _first_attempt_passes() -> list[AttemptOutcome]:
    return ["pass"]


class Scenario(BaseModel):
    """How DoseSpot and the clinician behave for one NPI (or by default)."""

    confirmation_delay_seconds: float = Field(default=2.0, ge=0.0)
    registration_outcome: Outcome = "success"
    # Experian attempt k uses the k-th outcome; the last one repeats.
    experian_outcomes: list[AttemptOutcome] = Field(
        default_factory=_first_attempt_passes, min_length=1
    )
    attempt_delay_seconds: float = Field(default=1.0, ge=0.0)
    idme_outcome: EventualOutcome = "pass"
    idme_delay_seconds: float = Field(default=2.0, ge=0.0)
    # The clinician signs the three agreements in DoseSpot's UI as proofing starts.
    accept_agreements: bool = True
    tfa_outcome: EventualOutcome = "pass"
    tfa_delay_seconds: float = Field(default=1.0, ge=0.0)

    def experian_outcome(self, attempt: int) -> AttemptOutcome:
        return self.experian_outcomes[min(attempt, len(self.experian_outcomes)) - 1]

    def stored(self) -> dict[str, Any]:
        """Only the fields that were given: the others follow the scenario beneath."""
        return self.model_dump(exclude_unset=True)


class Registrations:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        # clinician id -> when it is due; rebuilt from the store so restarts keep deadlines.
        self._due: dict[int, float] = {}
        self.rebuild()

    def rebuild(self) -> None:
        self._due = {
            doc["ClinicianId"]: doc["ConfirmAt"]
            for doc in self._sandbox.store.all(CLINICIAN_KIND)
            if doc.get("RegistrationStatus") == "Pending" and doc.get("ConfirmAt") is not None
        }

    def scenario_for(self, npi: str | None) -> Scenario:
        """The NPI's scenario over the default scenario over the configuration."""
        store = self._sandbox.store
        config = self._sandbox.config
        fields: dict[str, Any] = {
            "confirmation_delay_seconds": config.default_confirmation_delay_seconds,
            "registration_outcome": "error"
            if config.default_registration_outcome == "error"
            else "success",
        }
        fields.update(_scenario_fields(store.get(SCENARIO_KIND, DEFAULT_SCENARIO_KEY)))
        if npi:
            fields.update(_scenario_fields(store.get(SCENARIO_KIND, f"npi:{npi}")))
        return Scenario.model_validate(fields)

    def start(self, clinician: dict) -> None:
        """Mark a newly created clinician Pending with its scenario's deadline and outcome."""
        scenario = self.scenario_for(clinician.get("NPINumber"))
        clinician["RegistrationStatus"] = "Pending"
        clinician["Confirmed"] = False
        clinician["ConfirmAt"] = time.time() + scenario.confirmation_delay_seconds
        clinician["RegistrationOutcome"] = scenario.registration_outcome
        self._due[clinician["ClinicianId"]] = clinician["ConfirmAt"]

    def advance(self) -> None:
        """Settle every registration whose deadline has passed."""
        now = time.time()
        for clinician_id, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due <= now:
                self.settle(clinician_id, None)

    def settle(self, clinician_id: int, outcome: Outcome | None) -> bool:
        """Apply the registration outcome now (the scenario's unless given); False if unknown."""
        self._due.pop(clinician_id, None)
        store = self._sandbox.store
        doc = store.get(CLINICIAN_KIND, clinician_id)
        if doc is None:
            return False
        outcome = outcome or doc.get("RegistrationOutcome", "success")
        doc["ConfirmAt"] = None
        if doc.get("RegistrationStatus") not in REGISTERING:
            # Registration is over: a late confirmation must not rewind the journey.
            store.put(CLINICIAN_KIND, clinician_id, doc)
            return True
        if outcome == "success":
            already = doc.get("Confirmed", False)
            doc["Confirmed"] = True
            doc["RegistrationStatus"] = "RegistrationSuccess"
            store.put(CLINICIAN_KIND, clinician_id, doc)
            if not already:
                self._sandbox.notifier.emit("ClinicianConfirmed", {"ClinicianId": clinician_id})
        else:
            doc["Confirmed"] = False
            doc["RegistrationStatus"] = "RegistrationError"
            store.put(CLINICIAN_KIND, clinician_id, doc)
        return True


def _scenario_fields(doc: dict[str, Any] | None) -> dict[str, Any]:
    if doc is None:
        return {}
    return {name: value for name, value in doc.items() if name in Scenario.model_fields}
