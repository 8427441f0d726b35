"""ICD-10 diagnosis search over a small fixed catalogue.

Diagnosis ids are fixed and below the generated range (10001 and up). Codes and names are
real ICD-10-CM entries; the ids are the sandbox's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, SessionDep
from dosespot_sandbox.patients import page_param, query
from dosespot_sandbox.validation import InvalidRequest

router = APIRouter()

MIN_SEARCH = 3
TOO_SHORT = f"The search term must be at least {MIN_SEARCH} characters."

_ICD10 = [
    (8001, "J02.9", "Acute pharyngitis, unspecified"),
    (8002, "J02.0", "Streptococcal pharyngitis"),
    (8003, "J01.90", "Acute sinusitis, unspecified"),
    (8004, "J06.9", "Acute upper respiratory infection, unspecified"),
    (8005, "J45.909", "Unspecified asthma, uncomplicated"),
    (8006, "I10", "Essential (primary) hypertension"),
    (8007, "E11.9", "Type 2 diabetes mellitus without complications"),
    (8008, "E78.5", "Hyperlipidemia, unspecified"),
    (8009, "E03.9", "Hypothyroidism, unspecified"),
    (8010, "F32.9", "Major depressive disorder, single episode, unspecified"),
    (8011, "F41.1", "Generalized anxiety disorder"),
    (8012, "F90.0", "Attention-deficit hyperactivity disorder, predominantly inattentive type"),
    (8013, "G47.00", "Insomnia, unspecified"),
    (8014, "M54.50", "Low back pain, unspecified"),
    (8015, "N39.0", "Urinary tract infection, site not specified"),
    (8016, "H66.90", "Otitis media, unspecified, unspecified ear"),
    (8017, "K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    (8018, "L70.0", "Acne vulgaris"),
    (8019, "F11.20", "Opioid dependence, uncomplicated"),
    (8020, "Z79.4", "Long term (current) use of insulin"),
]
DIAGNOSES: dict[int, dict[str, Any]] = {
    did: {"DiagnosisId": did, "DiagnosisCode": code, "DiagnosisName": name}
    for did, code, name in _ICD10
}


def search_diagnoses(text: str) -> list[dict[str, Any]]:
    """Codes starting with ``text`` (the dot optional), then names holding every word."""
    folded = text.lower().replace(".", "")
    by_code = [
        d
        for d in DIAGNOSES.values()
        if d["DiagnosisCode"].lower().replace(".", "").startswith(folded)
    ]
    words = text.lower().split()
    by_name = [
        d
        for d in DIAGNOSES.values()
        if d not in by_code and all(w in d["DiagnosisName"].lower() for w in words)
    ]
    return [dict(d) for d in by_code + by_name]


def diagnosis_detail(diagnosis_id: int) -> dict[str, Any] | None:
    """The Diagnosis (code and description) a prescription or favourite carries."""
    found = DIAGNOSES.get(diagnosis_id)
    if found is None:
        return None
    return {
        "DiagnosisId": found["DiagnosisId"],
        "DiagnosisCode": found["DiagnosisCode"],
        "DiagnosisDescription": found["DiagnosisName"],
    }


@router.get("/api/diagnoses/search")
async def diagnosis_search(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    term = (params.get("searchterm") or "").strip()
    if not term:
        raise InvalidRequest({"searchTerm": ["The searchTerm field is required."]})
    if len(term) < MIN_SEARCH:
        return envelope.error(TOO_SHORT)
    return envelope.paged(search_diagnoses(term), page, sandbox.config.page_size)
