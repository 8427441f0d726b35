"""The renewal read model's row, from the renewal workflow's snapshot."""

from __future__ import annotations

from typing import Any

from db.models import utcnow
from workflows.renewal_models import RenewalSnapshot


def renewal_row(snapshot: RenewalSnapshot) -> dict[str, Any]:
    facts = snapshot.facts
    decision = snapshot.decision
    approval = decision.approval if decision else None
    denial = decision.denial if decision else None
    answer = approval or denial
    return {
        "workspace_id": snapshot.workspace_id,
        "refill_id": facts.refill_id,
        "state": snapshot.state,
        "dosespot_clinic_id": facts.dosespot_clinic_id,
        "dosespot_clinician_id": facts.dosespot_clinician_id,
        "dosespot_patient_id": facts.dosespot_patient_id,
        "member_id": facts.member_id,
        "client_id": facts.client_id,
        "requested_prescription_id": facts.requested_prescription_id,
        "original_prescription_id": facts.original_prescription_id,
        "pharmacy_id": facts.pharmacy_id,
        "medication": facts.medication,
        "schedule": facts.schedule,
        "controlled": facts.controlled,
        "requested_at": facts.requested_at,
        "expires_at": facts.expires_at,
        "decision": decision.kind if decision else None,
        "decided_by_member_id": answer.actor_member_id if answer else None,
        "refills": approval.refills if approval else None,
        "denial_reason": denial.denial_reason if denial else None,
        "blocked_reason": snapshot.blocked_reason,
        "message": snapshot.message,
        "ended_at": snapshot.ended_at,
        "updated_at": utcnow(),
    }
