"""Schemathesis over the whole API against its own OpenAPI document.

Every documented operation (v1, the codec, DoseSpot's push endpoint, health) gets a bounded
number of generated requests, authenticated as a real workspace's service key with its
clinic registered and a clinician invited, over real HTTP to the API on the dev server,
worker and DoseSpot sandbox. No answer may be a server error, use a status the document
does not give for that operation, or have a body its documented schema refuses.
"""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from erx.settings import Settings
from tests.api.test_clinician_journey import Journey
from tests.api.test_patients import born_years_ago, client_body, put_client, register

# Generated requests per operation: the module stays within a couple of minutes on two cores.
EXAMPLES = 10
# The service key with valid and invalid input, then the invited clinician's own member key
# (its answers include the 403s of routes a member key may not use).
PASSES = [
    ("service", GenerationMode.POSITIVE),
    ("service", GenerationMode.NEGATIVE),
    ("member", GenerationMode.POSITIVE),
]
# Operations on what the test sets up (m_ada invited, c_sam registered) that must answer 200.
MUST_SUCCEED = [
    "GET /v1/workspaces/{ws}/members",
    "GET /v1/workspaces/{ws}/erx",
    "GET /v1/workspaces/{ws}/erx/clinicians/{member_id}",
    "GET /v1/workspaces/{ws}/erx/patients/{client_id}",
    "GET /v1/workspaces/{ws}/erx/patients/{client_id}/medications",
    "GET /v1/workspaces/{ws}/erx/patients/{client_id}/allergies",
    "POST /codec/encode",
    "POST /v1/dosespot/notifications",
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _headers(path: str, journey: Journey, app_settings: Settings, who: str) -> dict[str, str]:
    if path.startswith("/codec/"):
        return {"Authorization": f"Bearer {app_settings.codec_token}"}
    if path.startswith("/v1/dosespot/"):
        return {"Authorization": f"Secret {app_settings.dosespot_webhook_secret}"}
    return journey.headers(who)


def _examine(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    path_parameters: dict[str, str],
    seen: set[int],
) -> None:
    """Send one operation's examples; raise on the first answer a check refuses."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    def check(case: Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        seen.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        check()
    except Unsatisfiable:
        # Nothing left to make invalid: every input of the operation is fixed above.
        if mode is not GenerationMode.NEGATIVE:
            raise


def _fuzz(
    spec: dict[str, Any], base_url: str, journey: Journey, app_settings: Settings
) -> tuple[list[str], dict[str, set[int]]]:
    """Every operation's examples (in a thread: the API and the worker run on the loop).

    Returns what the checks refused and the statuses each operation answered.
    """
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    answered: dict[str, set[int]] = {}
    fixed = {"ws": journey.ws.id, "member_id": "m_ada", "client_id": "c_sam"}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        path_parameters = {k: v for k, v in fixed.items() if f"{{{k}}}" in operation.path}
        seen = answered.setdefault(operation.label, set())
        for who, mode in PASSES:
            headers = _headers(operation.path, journey, app_settings, who)
            try:
                _examine(operation, mode, base_url, headers, path_parameters, seen)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({who} key, {mode.value}): {exc}")
    return failures, answered


async def test_the_api_answers_as_its_openapi_document_says(
    journey: Journey, live_api: str, settings: Settings
) -> None:
    j = journey
    await j.register_clinic()
    await j.invite("m_ada")
    await put_client(j, "c_sam", client_body(born_years_ago(40)))
    registered = await register(j, "c_sam")
    assert registered.status_code == 200, registered.text
    spec = (await j.api.get("/openapi.json")).json()
    failures, answered = await asyncio.to_thread(_fuzz, spec, live_api, j, settings)
    assert not failures, "\n\n".join(failures)
    # The run reached the routes themselves: every key was accepted, and the reads of what
    # the workspace holds succeeded.
    assert len(answered) == sum(len(ops) for ops in spec["paths"].values())
    assert all(401 not in statuses for statuses in answered.values()), answered
    for label in MUST_SUCCEED:
        assert 200 in answered[label], (label, answered[label])
