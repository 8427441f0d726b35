"""The OpenAPI document describes the error bodies and statuses the API really gives."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter

from api.app import create_app
from erx.settings import Settings
from tests.api.test_strict_input import _request_models
from tests.conftest import WorkspaceKeys

CLINICIAN_ACTIONS = [
    ("put", "/v1/workspaces/{ws}/erx/clinicians/{member_id}/enrollment"),
    ("post", "/v1/workspaces/{ws}/erx/clinicians/{member_id}/verification"),
    ("post", "/v1/workspaces/{ws}/erx/clinicians/{member_id}/two-factor"),
    ("post", "/v1/workspaces/{ws}/erx/clinicians/{member_id}/epcs-approvals"),
    ("post", "/v1/workspaces/{ws}/erx/clinicians/{member_id}/retry"),
    ("delete", "/v1/workspaces/{ws}/erx/clinicians/{member_id}"),
]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app: FastAPI = create_app(Settings(environment="test"))
    return app.openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def schema_of(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The response's JSON schema, with the document's components to resolve references."""
    return {
        **response["content"]["application/json"]["schema"],
        "components": spec["components"],
    }


def test_validation_errors_are_documented_in_our_shape(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(spec)
    invalid = spec["components"]["schemas"]["InvalidInputPublic"]
    assert set(invalid["required"]) == {"error", "detail", "errors"}
    documented = [(m, p, op["responses"].get("422")) for m, p, op in operations(spec)]
    assert [d for d in documented if d[2] is not None]
    for method, path, response in documented:
        if response is not None:
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/InvalidInputPublic", (method, path)


def test_every_workspace_route_documents_401_and_404(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        if path.startswith(("/v1/workspaces/", "/codec/", "/v1/dosespot/")):
            assert "401" in op["responses"], (method, path)
        if path.startswith("/v1/workspaces/"):
            assert "404" in op["responses"], (method, path)
            for status in ("401", "404"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorPublic", (method, path, status)


@pytest.mark.parametrize(("method", "path"), CLINICIAN_ACTIONS)
def test_clinician_actions_document_403_and_409(
    spec: dict[str, Any], method: str, path: str
) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(responses), sorted(responses)


def test_health_claims_no_authentication(spec: dict[str, Any]) -> None:
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200"}
    assert set(spec["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}


async def test_real_error_bodies_match_the_documented_schemas(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    spec = (await api.get("/openapi.json")).json()
    path = "/v1/workspaces/{ws}/members/{member_id}"
    url = path.format(ws=workspace.id, member_id="m_new")
    member = {"first_name": "Ada", "last_name": "Byron", "email": "ada.b@example.com"}
    other = path.format(ws="ws_someone_else", member_id="m_new")
    answers = {
        "422": await api.put(url, json={"first_name": 7}, headers=workspace.headers()),
        "401": await api.put(url, json=member, headers={"Authorization": "Bearer erx_nope"}),
        "403": await api.put(url, json=member, headers=workspace.headers("member")),
        "404": await api.put(other, json=member, headers=workspace.headers()),
    }
    documented = spec["paths"][path]["put"]["responses"]
    for status, resp in answers.items():
        assert str(resp.status_code) == status, (status, resp.text)
        jsonschema.validate(resp.json(), schema_of(spec, documented[status]))
    assert answers["422"].json()["errors"][0]["field"] == "first_name"


async def test_a_body_that_is_not_utf8_is_invalid_input_on_body(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_new",
        content=b";m\xff/",
        headers={**workspace.headers(), "Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid_input"
    assert resp.json()["errors"] == [
        {"field": "body", "reason": "the body is not valid JSON (it is not UTF-8 text)"}
    ]


async def test_an_unknown_path_answers_in_the_error_shape(api: httpx.AsyncClient) -> None:
    resp = await api.get("/v1/nowhere")
    assert resp.status_code == 404
    assert resp.json() == {"error": "not_found", "detail": "Not Found"}


def _documented_inputs(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, field, schema) of every request field whose document gives a pattern or the
    accepted values."""
    found = []
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            for alternative in prop.get("anyOf", [prop]):
                if "pattern" in alternative or "enum" in alternative:
                    found.append((name, field, alternative))
    return found


def test_documented_formats_are_what_the_validators_take(spec: dict[str, Any]) -> None:
    """A client built from the document sends what the API accepts: every documented example
    fits its pattern or values and passes the field's own validation, and no field documents
    a format (an ISO date) besides the pattern it really takes."""
    models = {model.__name__: model for model in _request_models()}
    checked = set()
    for name, field, prop in _documented_inputs(spec):
        if name not in models:
            continue
        assert "format" not in prop or "pattern" not in prop, (name, field, prop)
        info = models[name].model_fields[field]
        annotation: Any = (
            Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        )
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        for example in prop.get("examples", []):
            if "pattern" in prop:
                assert re.search(prop["pattern"], example), (name, field, example)
            if "enum" in prop:
                assert example in prop["enum"], (name, field, example)
            adapter.validate_python(example)
            checked.add((name, field))
        if "enum" in prop:
            for value in prop["enum"]:
                adapter.validate_python(value)
                checked.add((name, field))
    # The formats a prescriber's enrollment needs are among them.
    assert {
        ("EnrollmentFormIn", "npi"),
        ("EnrollmentFormIn", "date_of_birth"),
        ("EnrollmentFormIn", "phone"),
        ("EnrollmentLocationIn", "dea_number"),
        ("EnrollmentLocationIn", "dea_state"),
        ("ProxyRegistrationIn", "date_of_birth"),
        ("ClientUpsert", "date_of_birth"),
        ("LocationCreate", "zip_code"),
        ("RenewalDenialIn", "denial_reason"),
    } <= checked


def test_a_prescribers_date_of_birth_is_documented_as_the_api_takes_it(
    spec: dict[str, Any],
) -> None:
    """DoseSpot takes a prescriber's date of birth as MM/DD/YYYY, and so does the API: the
    document must not promise an ISO date the API then refuses."""
    for name in ("EnrollmentFormIn", "ProxyRegistrationIn"):
        prop = spec["components"]["schemas"][name]["properties"]["date_of_birth"]
        assert prop["type"] == "string" and "format" not in prop, prop
        assert re.search(prop["pattern"], "04/27/1980")
        assert not re.search(prop["pattern"], "1980-04-27")
