"""``/_sandbox/``: scenario, fault, notification and bookkeeping controls for tests.

No authentication: the sandbox only ever listens on a developer machine or in CI.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel

from dosespot_sandbox.auth import SandboxDep, expire_all_tokens
from dosespot_sandbox.config import Behaviour, RateLimits
from dosespot_sandbox.faults import FaultRule, FaultSettings, path_matches
from dosespot_sandbox.journey import Conflict
from dosespot_sandbox.notifications import NextDeliveries, NotificationSettings
from dosespot_sandbox.registration import (
    CLINICIAN_KIND,
    DEFAULT_SCENARIO_KEY,
    SCENARIO_KIND,
    AttemptOutcome,
    Outcome,
    Scenario,
)
from dosespot_sandbox.runtime import Sandbox

router = APIRouter(prefix="/_sandbox", tags=["sandbox controls"])


class Completion(BaseModel):
    """How a step in progress ends; without an outcome, the scenario's."""

    outcome: AttemptOutcome | None = None


@router.put("/scenarios/default")
async def put_default_scenario(scenario: Scenario, sandbox: SandboxDep) -> Scenario:
    """Fields left out keep the configured defaults."""
    sandbox.store.put(SCENARIO_KIND, DEFAULT_SCENARIO_KEY, scenario.stored())
    return sandbox.registrations.scenario_for(None)


@router.put("/scenarios/clinicians/{npi}")
async def put_clinician_scenario(npi: str, scenario: Scenario, sandbox: SandboxDep) -> Scenario:
    """Fields left out follow the default scenario."""
    sandbox.store.put(SCENARIO_KIND, f"npi:{npi}", {**scenario.stored(), "npi": npi})
    return sandbox.registrations.scenario_for(npi)


@router.get("/scenarios")
async def get_scenarios(sandbox: SandboxDep) -> dict[str, Any]:
    clinicians = {
        doc["npi"]: sandbox.registrations.scenario_for(doc["npi"])
        for doc in sandbox.store.all(SCENARIO_KIND)
        if "npi" in doc
    }
    return {"default": sandbox.registrations.scenario_for(None), "clinicians": clinicians}


@router.delete("/scenarios")
async def delete_scenarios(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.store.delete_where(lambda kind, _doc: kind != SCENARIO_KIND)
    return {"ok": True}


@router.get("/clinics/{clinic_id}")
async def get_clinic_with_key(clinic_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """A clinic with its ClinicKey, as DoseSpot support would read it out."""
    doc = sandbox.store.get("clinic", clinic_id)
    if doc is None:
        raise HTTPException(404, "no such clinic")
    return doc


@router.post("/clinicians/{clinician_id}/confirm")
async def confirm_clinician(
    clinician_id: int, sandbox: SandboxDep, outcome: Outcome = "success"
) -> dict[str, Any]:
    if not sandbox.registrations.settle(clinician_id, outcome):
        raise HTTPException(404, "no such clinician")
    doc = sandbox.store.get("clinician", clinician_id) or {}
    return {"ClinicianId": clinician_id, "RegistrationStatus": doc.get("RegistrationStatus")}


def _journey(sandbox: Sandbox, clinician_id: int) -> dict[str, Any]:
    doc = sandbox.store.get(CLINICIAN_KIND, clinician_id)
    if doc is None:
        raise HTTPException(404, "no such clinician")
    return sandbox.journeys.view(doc)


@router.get("/clinicians")
async def find_clinicians(
    sandbox: SandboxDep,
    clinic_id: Annotated[int, Query(alias="clinicId")],
    email: Annotated[str | None, Query()] = None,
) -> list[int]:
    """The ids of the clinic's clinicians (with this email): how many users DoseSpot holds
    for one person, which its API does not tell."""
    return sorted(
        doc["ClinicianId"]
        for doc in sandbox.store.all(CLINICIAN_KIND)
        if clinic_id in doc.get("ClinicIds", [])
        and (email is None or (doc.get("Email") or "").lower() == email.lower())
    )


@router.get("/clinicians/{clinician_id}")
async def get_clinician_journey(clinician_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """Where the clinician is: agreements, proofing attempts and path, two-factor."""
    sandbox.advance()
    return _journey(sandbox, clinician_id)


@router.post("/clinicians/{clinician_id}/agreements/accept")
async def accept_agreements(clinician_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """The clinician signs all three agreements in DoseSpot's UI."""
    _journey(sandbox, clinician_id)
    sandbox.journeys.accept(clinician_id, None)
    return _journey(sandbox, clinician_id)


@router.post("/clinicians/{clinician_id}/idp/complete")
async def complete_idp(
    clinician_id: int,
    sandbox: SandboxDep,
    completion: Annotated[Completion | None, Body()] = None,
) -> dict[str, Any]:
    """The clinician finishes the identity-proofing attempt in progress now."""
    _journey(sandbox, clinician_id)
    try:
        sandbox.journeys.complete_idp(clinician_id, (completion or Completion()).outcome)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    return _journey(sandbox, clinician_id)


@router.post("/clinicians/{clinician_id}/tfa/complete")
async def complete_tfa(
    clinician_id: int,
    sandbox: SandboxDep,
    completion: Annotated[Completion | None, Body()] = None,
) -> dict[str, Any]:
    """The clinician finishes the two-factor activation in progress now."""
    _journey(sandbox, clinician_id)
    try:
        sandbox.journeys.complete_tfa(clinician_id, (completion or Completion()).outcome)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    return _journey(sandbox, clinician_id)


@router.put("/faults")
async def put_faults(
    settings: Annotated[FaultSettings | list[FaultRule], Body()], sandbox: SandboxDep
) -> FaultSettings:
    if isinstance(settings, list):
        settings = FaultSettings(rules=settings)
    sandbox.faults.configure(settings)
    return settings


@router.get("/faults")
async def get_faults(sandbox: SandboxDep) -> list[FaultRule]:
    return sandbox.faults.rules()


@router.delete("/faults")
async def delete_faults(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.faults.clear()
    return {"ok": True}


@router.get("/behaviour")
async def get_behaviour(sandbox: SandboxDep) -> Behaviour:
    return sandbox.config.behaviour()


@router.put("/behaviour")
async def put_behaviour(behaviour: Behaviour, sandbox: SandboxDep) -> Behaviour:
    """Change the given fields from now on (delays apply to prescriptions sent after)."""
    sandbox.config = sandbox.config.with_behaviour(behaviour)
    return sandbox.config.behaviour()


@router.delete("/behaviour")
async def delete_behaviour(sandbox: SandboxDep) -> Behaviour:
    """Back to the configuration the sandbox started with."""
    configured = sandbox.configured.behaviour().model_dump()
    sandbox.config = sandbox.config.model_copy(update=configured)
    return sandbox.config.behaviour()


@router.put("/rate-limits")
async def put_rate_limits(limits: RateLimits, sandbox: SandboxDep) -> RateLimits:
    sandbox.limiter.configure(limits)
    return limits


@router.put("/notifications")
async def put_notifications(
    settings: NotificationSettings, sandbox: SandboxDep
) -> NotificationSettings:
    """A secret left out stays the configured one: DoseSpot always sends one."""
    if "secret" not in settings.model_fields_set:
        settings = settings.model_copy(update={"secret": sandbox.config.notification_secret})
    sandbox.notifier.configure(settings)
    return settings.model_copy(update={"secret": "***" if settings.secret else ""})


@router.get("/notifications/log")
async def notification_log(sandbox: SandboxDep) -> list[dict[str, Any]]:
    return sandbox.notifier.log()


@router.delete("/notifications/log")
async def clear_notification_log(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.notifier.clear_log()
    return {"ok": True}


@router.post("/notifications/flush")
async def flush_notifications(sandbox: SandboxDep) -> list[dict[str, Any]]:
    await sandbox.notifier.flush()
    return sandbox.notifier.log()


@router.post("/notifications/next")
async def plan_next_notifications(
    next_deliveries: NextDeliveries, sandbox: SandboxDep
) -> dict[str, list[str]]:
    """Drop, duplicate or reorder the next events, deterministically."""
    return {"planned": list(sandbox.notifier.plan(next_deliveries))}


@router.get("/notifications/next")
async def get_planned_notifications(sandbox: SandboxDep) -> dict[str, list[str]]:
    return {"planned": list(sandbox.notifier.planned())}


@router.delete("/notifications/next")
async def clear_planned_notifications(sandbox: SandboxDep) -> dict[str, list[str]]:
    """Forget the plan; events held for reordering are delivered now, newest first."""
    sandbox.notifier.clear_plan()
    return {"planned": []}


@router.post("/tokens/expire")
async def expire_tokens(sandbox: SandboxDep) -> dict[str, int]:
    return {"expired": expire_all_tokens(sandbox)}


@router.get("/requests")
async def get_requests(
    sandbox: SandboxDep,
    path: Annotated[str | None, Query()] = None,
    method: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    return [
        entry
        for entry in sandbox.requests()
        if (path is None or path_matches(path, entry["path"]))
        and (method is None or entry["method"] == method.upper())
    ]


@router.delete("/requests")
async def delete_requests(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.clear_requests()
    return {"ok": True}


@router.post("/reset")
async def reset(sandbox: SandboxDep) -> dict[str, bool]:
    sandbox.reset()
    return {"ok": True}
