"""A clinician's verification journey after registration, as DoseSpot runs it.

The legal agreements, identity proofing (up to three Experian attempts, then ID.me) and
two-factor activation all happen in DoseSpot's own UI; the integrator only starts them
(``idpInit``, ``initTfaActivate``) and watches the registration status and the pushes. The
sandbox plays the clinician's part from the scenario for the clinician's NPI.

Every step in progress lives in the clinician's document with its deadline, so with a
state file a restart finishes what was pending. Registration statuses only move along
:data:`TRANSITIONS`, the order in which DoseSpot reports them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from dosespot_sandbox.registration import CLINICIAN_KIND, AttemptOutcome, Scenario

if TYPE_CHECKING:
    from dosespot_sandbox.runtime import Sandbox

Step = Literal["Idp", "Tfa"]
IDP: Step = "Idp"
TFA: Step = "Tfa"
EXPERIAN_ATTEMPTS = 3


@dataclass(frozen=True)
class Agreement:
    agreement_id: int
    name: str
    summary: str

    @property
    def text(self) -> str:
        return f"{self.name}\n\n{self.summary}"


# DoseSpot's agreements are documents shared by every clinician, so their ids are fixed.
AGREEMENTS = (
    Agreement(
        1,
        "ePrescribing Authorization",
        "I authorise DoseSpot to transmit prescriptions electronically on my behalf.",
    ),
    Agreement(
        2,
        "HIPAA Business Associate",
        "DoseSpot will safeguard protected health information as a business associate.",
    ),
    Agreement(
        3,
        "Identity Proofing",
        "I consent to identity proofing by Experian or ID.me, which DoseSpot does not retain.",
    ),
)
AGREEMENTS_BY_ID = {agreement.agreement_id: agreement for agreement in AGREEMENTS}

TRANSITIONS: dict[str, frozenset[str]] = {
    "Pending": frozenset({"RegistrationSuccess", "RegistrationError"}),
    "RegistrationError": frozenset({"RegistrationSuccess"}),
    "RegistrationSuccess": frozenset({"IDPInitializeSuccess"}),
    "IDPInitializeSuccess": frozenset({"IDPSuccess", "IDPError"}),
    "IDPError": frozenset({"IDPInitializeSuccess"}),
    "IDPSuccess": frozenset({"TFAActivateInit"}),
    "TFAActivateInit": frozenset({"TFAActivatedSuccess", "TFAActivatedError"}),
    "TFAActivatedError": frozenset({"TFAActivateInit"}),
    "TFAActivatedSuccess": frozenset(),
}
PROOFED = frozenset({"IDPSuccess", "TFAActivateInit", "TFAActivatedSuccess", "TFAActivatedError"})

NOT_CONFIRMED = "Clinician is not confirmed."
INACTIVE = "Clinician is not active."
IDP_COMPLETE = "Identity proofing has already been completed."
IDP_REQUIRED = "Identity proofing must be completed before two-factor authentication."
TFA_ACTIVE = "Two-factor authentication is already active."
AGREEMENT_NOT_FOUND = "Agreement not found."


class Conflict(Exception):
    """A manual control that does not fit the clinician's current step."""


def move(doc: dict[str, Any], status: str) -> None:
    """Set the registration status, refusing any move DoseSpot never makes."""
    current = doc.get("RegistrationStatus", "Pending")
    if status not in TRANSITIONS.get(current, frozenset()):
        raise RuntimeError(f"registration status cannot move from {current} to {status}")
    doc["RegistrationStatus"] = status


def timestamp(*, milliseconds: bool = False) -> str:
    """UTC, written as ASP.NET writes dates; pushes carry milliseconds, as in DoseSpot's."""
    now = datetime.now(UTC)
    text = now.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{now.microsecond // 1000:03d}" if milliseconds else text


def _idp(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.setdefault(
        IDP,
        {
            "ExperianAttempts": 0,
            "ExperianFailures": 0,
            "IdmeAttempts": 0,
            "Pending": None,
            "CompletedType": None,
            "CompletedAt": None,
        },
    )


def _tfa(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.setdefault(TFA, {"TfaType": None, "Attempts": 0, "Pending": None})


def _signed(doc: dict[str, Any]) -> dict[str, Any]:
    signed: dict[str, Any] = doc.setdefault("Agreements", {})
    return signed


def missing_agreements(doc: dict[str, Any]) -> list[Agreement]:
    signed = doc.get("Agreements", {})
    return [a for a in AGREEMENTS if str(a.agreement_id) not in signed]


def _full_name(doc: dict[str, Any]) -> str:
    return " ".join(part for part in (doc.get("FirstName"), doc.get("LastName")) if part)


class Journeys:
    """Agreements, identity proofing and two-factor activation for every clinician."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        # (clinician id, step) -> when it is due; rebuilt from the store on start.
        self._due: dict[tuple[int, Step], float] = {}
        self.rebuild()

    def rebuild(self) -> None:
        self._due = {}
        for doc in self._sandbox.store.all(CLINICIAN_KIND):
            for step in (IDP, TFA):
                pending = (doc.get(step) or {}).get("Pending")
                if pending and pending.get("DueAt") is not None:
                    self._due[(doc["ClinicianId"], step)] = pending["DueAt"]

    def advance(self) -> None:
        """Finish every step whose deadline has passed, oldest first."""
        now = time.time()
        for key, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due <= now:
                del self._due[key]
                clinician_id, step = key
                self._finish(clinician_id, step, None)

    # Store

    def _load(self, clinician_id: int) -> dict[str, Any]:
        doc = self._sandbox.store.get(CLINICIAN_KIND, clinician_id)
        if doc is None:
            raise KeyError(clinician_id)
        return doc

    def _save(self, doc: dict[str, Any]) -> None:
        self._sandbox.store.put(CLINICIAN_KIND, doc["ClinicianId"], doc)

    def _scenario(self, doc: dict[str, Any]) -> Scenario:
        return self._sandbox.registrations.scenario_for(doc.get("NPINumber"))

    def _schedule(self, doc: dict[str, Any], step: Step, pending: dict[str, Any]) -> None:
        ready = pending["Outcome"] != "never" and not pending.get("WaitingForAgreements")
        pending["DueAt"] = time.time() + pending["DelaySeconds"] if ready else None
        doc[step]["Pending"] = pending
        key = (doc["ClinicianId"], step)
        if pending["DueAt"] is None:
            self._due.pop(key, None)
        else:
            self._due[key] = pending["DueAt"]

    # Agreements

    def agreements(self, clinician_id: int) -> list[dict[str, Any]]:
        """AgreementInfoResponse items; an unsigned agreement has no AgreementDate."""
        signed = self._load(clinician_id).get("Agreements", {})
        items = []
        for agreement in AGREEMENTS:
            item: dict[str, Any] = {
                "AgreementId": agreement.agreement_id,
                "AgreementText": agreement.text,
            }
            signature = signed.get(str(agreement.agreement_id))
            if signature is not None:
                item["AgreementDate"] = signature["AgreementDate"]
            items.append(item)
        return items

    def accept(
        self, clinician_id: int, agreement_ids: list[int] | None, name_signed: str | None = None
    ) -> None:
        """Sign agreements (all three when ``agreement_ids`` is None); signing twice is a no-op.

        Once all three are signed, an identity-proofing attempt waiting for them begins.
        """
        unknown = set(agreement_ids or ()) - set(AGREEMENTS_BY_ID)
        if unknown:
            raise ValueError(f"unknown agreements {sorted(unknown)}")
        doc = self._load(clinician_id)
        self._sign(doc, agreement_ids, name_signed or _full_name(doc))
        self._save(doc)

    def _sign(self, doc: dict[str, Any], agreement_ids: list[int] | None, name: str) -> None:
        signed = _signed(doc)
        for agreement_id in agreement_ids or list(AGREEMENTS_BY_ID):
            signed.setdefault(str(agreement_id), {"AgreementDate": timestamp(), "NameSigned": name})
        pending = _idp(doc)["Pending"]
        if pending and pending.get("WaitingForAgreements") and not missing_agreements(doc):
            pending["WaitingForAgreements"] = False
            self._schedule(doc, IDP, pending)

    # Identity proofing

    def start_idp(self, clinician_id: int) -> str | None:
        """``idpInit``: start the next attempt; the refusal text if DoseSpot would refuse.

        A call while an attempt is in progress changes nothing, so a retried request does
        not use up an attempt.
        """
        doc = self._load(clinician_id)
        if not doc.get("Active", True):
            return INACTIVE
        if not doc.get("Confirmed"):
            return NOT_CONFIRMED
        if doc.get("RegistrationStatus") in PROOFED:
            return IDP_COMPLETE
        idp = _idp(doc)
        if idp["Pending"]:
            return None
        scenario = self._scenario(doc)
        if idp["ExperianAttempts"] == 0 and idp["IdmeAttempts"] == 0 and scenario.accept_agreements:
            self._sign(doc, None, _full_name(doc))
        if idp["ExperianFailures"] >= EXPERIAN_ATTEMPTS:
            idp["IdmeAttempts"] += 1
            pending = {
                "Path": "idme",
                "Attempt": idp["IdmeAttempts"],
                "Outcome": scenario.idme_outcome,
                "DelaySeconds": scenario.idme_delay_seconds,
            }
        else:
            idp["ExperianAttempts"] += 1
            attempt = idp["ExperianAttempts"]
            pending = {
                "Path": "experian",
                "Attempt": attempt,
                "Outcome": scenario.experian_outcome(attempt),
                "DelaySeconds": scenario.attempt_delay_seconds,
            }
        pending["WaitingForAgreements"] = bool(missing_agreements(doc))
        move(doc, "IDPInitializeSuccess")
        self._schedule(doc, IDP, pending)
        self._save(doc)
        return None

    def complete_idp(self, clinician_id: int, outcome: AttemptOutcome | None) -> dict[str, Any]:
        """Finish the attempt in progress now, with ``outcome`` or the scenario's."""
        doc = self._load(clinician_id)
        pending = _idp(doc)["Pending"]
        if not pending:
            raise Conflict("no identity-proofing attempt is in progress")
        if pending.get("WaitingForAgreements"):
            raise Conflict("the clinician has not accepted the legal agreements")
        if outcome is None and pending["Outcome"] == "never":
            raise Conflict("this attempt never finishes by itself: give an outcome")
        self._due.pop((clinician_id, IDP), None)
        return self._finish(clinician_id, IDP, outcome)

    # Two-factor

    def start_tfa(self, clinician_id: int, tfa_type: str) -> str | None:
        """``initTfaActivate``: start activation; the refusal text if DoseSpot would refuse."""
        doc = self._load(clinician_id)
        if not doc.get("Active", True):
            return INACTIVE
        status = doc.get("RegistrationStatus")
        if status == "TFAActivatedSuccess":
            return TFA_ACTIVE
        if status not in PROOFED:
            return IDP_REQUIRED
        tfa = _tfa(doc)
        if tfa["Pending"]:
            return None
        scenario = self._scenario(doc)
        tfa["TfaType"] = tfa_type
        tfa["Attempts"] += 1
        move(doc, "TFAActivateInit")
        self._schedule(
            doc,
            TFA,
            {"Outcome": scenario.tfa_outcome, "DelaySeconds": scenario.tfa_delay_seconds},
        )
        self._save(doc)
        return None

    def complete_tfa(self, clinician_id: int, outcome: AttemptOutcome | None) -> dict[str, Any]:
        """Finish the activation in progress now, with ``outcome`` or the scenario's."""
        doc = self._load(clinician_id)
        pending = _tfa(doc)["Pending"]
        if not pending:
            raise Conflict("no two-factor activation is in progress")
        if outcome is None and pending["Outcome"] == "never":
            raise Conflict("this activation never finishes by itself: give an outcome")
        self._due.pop((clinician_id, TFA), None)
        return self._finish(clinician_id, TFA, outcome)

    # Completion

    def _finish(self, clinician_id: int, step: Step, outcome: str | None) -> dict[str, Any]:
        doc = self._sandbox.store.get(CLINICIAN_KIND, clinician_id)
        if doc is None:
            return {}
        state = doc.get(step) or {}
        pending = state.get("Pending")
        if not pending:
            return doc
        outcome = outcome or pending["Outcome"]
        if outcome == "never":
            return doc
        state["Pending"] = None
        notifier = self._sandbox.notifier
        if step == IDP:
            passed = outcome == "pass"
            move(doc, "IDPSuccess" if passed else "IDPError")
            if passed:
                state["CompletedType"] = "Experian" if pending["Path"] == "experian" else "IDme"
                state["CompletedAt"] = timestamp(milliseconds=True)
            elif pending["Path"] == "experian":
                state["ExperianFailures"] += 1
            self._save(doc)
            # DoseSpot pushes only successes; a failure shows in the registration status.
            if passed:
                notifier.emit(
                    "ClinicianIDPCompleteSuccess",
                    {
                        "ClinicianId": clinician_id,
                        "ClinicianIDPCompleteDate": state["CompletedAt"],
                        "IDPCompleteType": state["CompletedType"],
                    },
                )
        else:
            passed = outcome == "pass"
            move(doc, "TFAActivatedSuccess" if passed else "TFAActivatedError")
            doc["TfaActivated"] = passed
            self._save(doc)
            if passed:
                notifier.emit("ClinicianTfaActivateSuccess", {"ClinicianId": clinician_id})
        return doc

    # Reading

    def next_step(self, doc: dict[str, Any]) -> str:
        """What the clinician sees next in DoseSpot's UI."""
        status = doc.get("RegistrationStatus", "Pending")
        idp = doc.get(IDP) or {}
        pending = idp.get("Pending")
        missing = missing_agreements(doc)
        if missing and status not in PROOFED:
            return "Accept the legal agreements: " + ", ".join(a.name for a in missing) + "."
        if pending:
            if pending["Path"] == "experian":
                return (
                    f"Identity proofing: Experian attempt {pending['Attempt']} of "
                    f"{EXPERIAN_ATTEMPTS} is in progress."
                )
            return "Identity proofing with ID.me is in progress (it can take up to 24 hours)."
        failures = idp.get("ExperianFailures", 0)
        if status == "RegistrationSuccess":
            return "Identity proofing has not been started yet."
        if status == "IDPError" and idp.get("IdmeAttempts"):
            return "Identity proofing with ID.me failed; it can be started again."
        if status == "IDPError" and failures >= EXPERIAN_ATTEMPTS:
            return (
                f"Identity proofing with Experian failed {EXPERIAN_ATTEMPTS} times: ID.me is "
                "offered next."
            )
        if status == "IDPError":
            return (
                f"Identity proofing attempt {failures} of {EXPERIAN_ATTEMPTS} failed: attempt "
                f"{failures + 1} of {EXPERIAN_ATTEMPTS} is next."
            )
        if status == "IDPSuccess":
            return "Two-factor authentication has not been started yet."
        if status == "TFAActivateInit":
            return "Two-factor authentication: activate Duo and set a 4-digit PIN."
        if status == "TFAActivatedError":
            return "Two-factor activation failed; it can be started again."
        if status == "TFAActivatedSuccess":
            return "Verification is complete: controlled substances can be prescribed."
        return "Registration is not complete."

    def view(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The journey as the ``/_sandbox/clinicians/{id}`` control shows it."""
        idp = doc.get(IDP) or {}
        tfa = doc.get(TFA) or {}
        signed = doc.get("Agreements", {})
        status = doc.get("RegistrationStatus", "Pending")
        path = None
        if idp.get("IdmeAttempts"):
            path = "idme"
        elif idp.get("ExperianAttempts"):
            path = "experian"
        if doc.get("TfaActivated"):
            tfa_state = "activated"
        elif tfa.get("Pending"):
            tfa_state = "in_progress"
        elif status == "TFAActivatedError":
            tfa_state = "failed"
        else:
            tfa_state = "not_started"
        return {
            "clinician_id": doc["ClinicianId"],
            "registration_status": status,
            "confirmed": bool(doc.get("Confirmed")),
            "active": doc.get("Active", True),
            "agreements": [
                {
                    "agreement_id": agreement.agreement_id,
                    "name": agreement.name,
                    "accepted": str(agreement.agreement_id) in signed,
                    "accepted_at": signed.get(str(agreement.agreement_id), {}).get("AgreementDate"),
                }
                for agreement in AGREEMENTS
            ],
            "identity_proofing": {
                "path": path,
                "experian_attempts_used": idp.get("ExperianAttempts", 0),
                "experian_failures": idp.get("ExperianFailures", 0),
                "idme_attempts": idp.get("IdmeAttempts", 0),
                "in_progress": _pending_view(idp.get("Pending")),
                "completed_type": idp.get("CompletedType"),
                "completed_at": idp.get("CompletedAt"),
            },
            "two_factor": {
                "state": tfa_state,
                "tfa_type": tfa.get("TfaType"),
                "attempts": tfa.get("Attempts", 0),
                "in_progress": _pending_view(tfa.get("Pending")),
            },
            "next_step": self.next_step(doc),
        }


def _pending_view(pending: dict[str, Any] | None) -> dict[str, Any] | None:
    if not pending:
        return None
    due = pending.get("DueAt")
    view = {
        "outcome": pending["Outcome"],
        "due_in_seconds": None if due is None else round(max(0.0, due - time.time()), 3),
    }
    if "Path" in pending:
        view.update(
            path=pending["Path"],
            attempt=pending["Attempt"],
            waiting_for_agreements=bool(pending.get("WaitingForAgreements")),
        )
    return view
