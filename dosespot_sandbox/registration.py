"""Clinician registration: a new clinician is Pending until DoseSpot confirms it.

The outcome and delay come from a scenario chosen by the clinician's NPI (or the default
scenario). Confirmation pushes ``ClinicianConfirmed``; a registration error pushes nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from dosespot_sandbox.runtime import Sandbox

Outcome = Literal["success", "error"]
SCENARIO_KIND = "scenario"
DEFAULT_SCENARIO_KEY = "default"
CLINICIAN_KIND = "clinician"


class Scenario(BaseModel):
    confirmation_delay_seconds: float = Field(default=2.0, ge=0.0)
    registration_outcome: Outcome = "success"


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
        store = self._sandbox.store
        if npi:
            doc = store.get(SCENARIO_KIND, f"npi:{npi}")
            if doc is not None:
                return Scenario.model_validate(doc)
        doc = store.get(SCENARIO_KIND, DEFAULT_SCENARIO_KEY)
        if doc is not None:
            return Scenario.model_validate(doc)
        config = self._sandbox.config
        return Scenario(
            confirmation_delay_seconds=config.default_confirmation_delay_seconds,
            registration_outcome="error"
            if config.default_registration_outcome == "error"
            else "success",
        )

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

    async def run(self, interval_seconds: float = 0.05) -> None:
        while True:
            self.advance()
            await asyncio.sleep(interval_seconds)
