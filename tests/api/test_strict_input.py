"""Strict input: ASCII digits only, no control characters in names, path ids shaped as their
columns, strict booleans, malformed JSON in the project's own 422 shape. Never a 500.

The cases that once reached the database (a NUL in a name, an id longer than its column) are
the ones PostgreSQL refuses with an error: CI runs this module with TEST_DATABASE_URL set.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import httpx
import pytest
from pydantic import BaseModel, Strict

import api.routes
from api.app import create_app
from api.schemas import RequestModel
from dosespot.notifications import parse_notification
from erx.settings import Settings
from tests.api.test_clients import CLIENT
from tests.api.test_clinician_journey import Journey, enrollment_form, valid_npi
from tests.api.test_directory import LOCATION
from tests.conftest import WorkspaceKeys

ASCII_REASON = "digits must be ASCII 0-9"
CONTROL_REASON = "control or invisible formatting characters"


def _digits(zero: int) -> dict[int, int]:
    """Translation of 0-9 into the ten digits of a script that starts at code point ``zero``."""
    return str.maketrans("0123456789", "".join(chr(zero + i) for i in range(10)))


ARABIC_INDIC = _digits(0x0660)
FULLWIDTH = _digits(0xFF10)
DEVANAGARI = _digits(0x0966)
OTHER_DIGITS = [
    pytest.param(ARABIC_INDIC, id="arabic-indic"),
    pytest.param(FULLWIDTH, id="fullwidth"),
    pytest.param(DEVANAGARI, id="devanagari"),
]
MEMBER = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
CONTROL_CHARACTERS = [
    pytest.param("\x00", id="nul"),
    pytest.param("\t", id="tab"),
    pytest.param("\n", id="newline"),
    pytest.param("\r", id="carriage-return"),
    pytest.param("\x1b", id="escape"),
    pytest.param("\u202e", id="right-to-left-override"),
    pytest.param("\u200b", id="zero-width-space"),
    pytest.param("\u2028", id="line-separator"),
]


def assert_invalid(resp: httpx.Response, field: str, reason: str) -> None:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error"] == "invalid_input", body
    assert any(e["field"] == field and reason in e["reason"] for e in body["errors"]), body


def set_in(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the field at ``dotted`` (a.b.0.c) set to ``value``."""
    out: Any = copy.deepcopy(body)
    node = out
    *path, last = dotted.split(".")
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return dict(out)


# Only ASCII digits are digits.


async def test_npi_in_other_digits_is_refused_and_never_reaches_dosespot(
    journey: Journey,
) -> None:
    j = journey
    await j.register_clinic()
    resp = await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada"]}, headers=j.headers()
    )
    assert resp.status_code == 200, resp.text
    await j.sandbox.delete("/_sandbox/requests")
    npi = valid_npi()
    for digits in (ARABIC_INDIC, FULLWIDTH):
        resp = await j.api.put(
            f"{j.base}/erx/clinicians/m_ada/enrollment",
            json=enrollment_form(npi.translate(digits)),
            headers=j.headers(),
        )
        assert_invalid(resp, "npi", ASCII_REASON)
    calls = (await j.sandbox.get("/_sandbox/requests", params={"path": "api/clinician"})).json()
    # Other tests' clinicians may still be polled; this one never reached DoseSpot.
    assert [
        c for c in calls if c["path"].rstrip("/").endswith(("api/clinicians", "api/clinician"))
    ] == []
    assert (await j.clinician("m_ada"))["state"] == "invited"


ENROLLMENT_DIGITS = [
    ("npi", "1234567893"),
    ("date_of_birth", "04/27/1980"),
    ("phone", "+1 646 736 0134"),
    ("fax", "+1 646 736 0135"),
    ("professional_address.zip_code", "10118"),
    ("locations.0.dea_number", "AB1234563"),
    ("locations.0.nadea_number", "XB1234563"),
    ("locations.0.license_number", "MD-123456"),
]


@pytest.mark.parametrize("digits", OTHER_DIGITS)
@pytest.mark.parametrize(("field", "ascii_value"), ENROLLMENT_DIGITS)
async def test_enrollment_form_takes_ascii_digits_only(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, ascii_value: str, digits: dict
) -> None:
    body = set_in(enrollment_form("1234567893"), field, ascii_value.translate(digits))
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/erx/clinicians/m_ada/enrollment",
        json=body,
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, ASCII_REASON)


@pytest.mark.parametrize("digits", OTHER_DIGITS)
@pytest.mark.parametrize("field", ["zip_code", "phone", "fax"])
async def test_location_takes_ascii_digits_only(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, digits: dict
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/locations/loc-digits",
        json={**LOCATION, field: LOCATION[field].translate(digits)},
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, ASCII_REASON)


@pytest.mark.parametrize("digits", OTHER_DIGITS)
@pytest.mark.parametrize(
    "field",
    [
        "phone",
        "date_of_birth",
        "address.zip_code",
        "medical_record_number",
        "insurance.payer_id",
        "insurance.member_id",
        "insurance.group_id",
    ],
)
async def test_client_takes_ascii_digits_only(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, digits: dict
) -> None:
    node: Any = CLIENT
    for part in field.split("."):
        node = node[part]
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/clients/cl-digits",
        json=set_in(CLIENT, field, node.translate(digits)),
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, ASCII_REASON)
    missing = await api.get(
        f"/v1/workspaces/{workspace.id}/clients/cl-digits", headers=workspace.headers()
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("digits", OTHER_DIGITS)
@pytest.mark.parametrize(
    ("field", "value"), [("zip", "10118"), ("ncpdp_id", "1234567"), ("phone_or_fax", "2127365000")]
)
async def test_pharmacy_search_takes_ascii_digits_only(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, value: str, digits: dict
) -> None:
    resp = await api.get(
        f"/v1/workspaces/{workspace.id}/erx/pharmacies",
        params={field: value.translate(digits)},
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, ASCII_REASON)


def test_no_unicode_digit_class_in_input_validation() -> None:
    """\\d, isdigit and isdecimal take other scripts' digits: the API's checks use [0-9]."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("api", "erx"):
        for path in sorted((root / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if code.strip().startswith('"""'):
                    continue
                if re.search(r"\\d|\.isdigit\(|\.isdecimal\(|\.isnumeric\(", code):
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    allowed = [
        # The one check that asks isdigit, to refuse what is a digit but not ASCII.
        "if any(c.isdigit() and not c.isascii() for c in value):",
        # Reads DoseSpot's replies (a pharmacy's specialty bits), not input.
        "if item.strip().isdigit():",
    ]
    assert [o for o in offenders if not o.endswith(tuple(allowed))] == []


# Names refuse control and invisible characters.


@pytest.mark.parametrize("char", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["first_name", "last_name", "job_title"])
async def test_member_name_refuses_control_characters(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, char: str
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_ctl",
        json={**MEMBER, field: f"Ada{char}x"},
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, CONTROL_REASON)
    members = await api.get(f"/v1/workspaces/{workspace.id}/members", headers=workspace.headers())
    assert members.status_code == 200
    assert "m_ctl" not in {m["id"] for m in members.json()["items"]}


async def test_nul_in_email_is_refused(api: httpx.AsyncClient, workspace: WorkspaceKeys) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_ctl",
        json={**MEMBER, "email": "ada\x00@example.com"},
        headers=workspace.headers(),
    )
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize("char", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["name", "street_address", "suburb", "city"])
async def test_location_text_refuses_control_characters(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, char: str
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/locations/loc-ctl",
        json={**LOCATION, field: f"Main{char}Street"},
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, CONTROL_REASON)


@pytest.mark.parametrize("char", CONTROL_CHARACTERS)
@pytest.mark.parametrize(
    "field",
    [
        "first_name",
        "last_name",
        "professional_address.street_address",
        "professional_address.city",
        "locations.0.license_number",
    ],
)
async def test_enrollment_text_refuses_control_characters(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, char: str
) -> None:
    body = enrollment_form("1234567893")
    body["locations"][0]["license_number"] = "MD-1"
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/erx/clinicians/m_ada/enrollment",
        json=set_in(body, field, f"Ada{char}x"),
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, CONTROL_REASON)


@pytest.mark.parametrize("char", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["first_name", "middle_name", "last_name", "address.city"])
async def test_client_name_refuses_control_characters(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, field: str, char: str
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/clients/cl-ctl",
        json=set_in(CLIENT, field, f"Ada{char}x"),
        headers=workspace.headers(),
    )
    assert_invalid(resp, field, CONTROL_REASON)


async def test_names_keep_letters_of_every_script(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_intl",
        json={**MEMBER, "first_name": "Zoë-Noor", "last_name": "O'Brien نور"},
        headers=workspace.headers(),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["last_name"] == "O'Brien نور"


# Path ids have the shape of their columns.


def _path_parameters() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, parameter) for every path parameter of every route, from OpenAPI."""
    schema = create_app(Settings(environment="test")).openapi()
    return [
        (method.upper(), path, parameter)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]


PATH_PARAMETERS = _path_parameters()
ROUTES = [(method, path, parameter["name"]) for method, path, parameter in PATH_PARAMETERS]


def _column_shaped(schema: dict[str, Any]) -> bool:
    """Our ids are strings of at most 64 characters with a pattern; DoseSpot's are positive
    32-bit integers."""
    if schema.get("type") == "integer":
        positive = schema.get("minimum", 0) >= 1 or schema.get("exclusiveMinimum") == 0
        return positive and schema.get("maximum") == 2**31 - 1
    return schema.get("maxLength") == 64 and bool(schema.get("pattern"))


def test_every_path_id_is_documented_with_its_column_shape() -> None:
    names = {name for _, _, name in ROUTES}
    assert {"ws", "member_id", "location_id", "client_id"} <= names, names
    loose = [
        f"{method} {path} {parameter['name']}"
        for method, path, parameter in PATH_PARAMETERS
        if not _column_shaped(parameter["schema"])
    ]
    assert loose == []


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("x" * 65, id="too-long"),
        pytest.param("a b", id="space"),
        pytest.param("ü", id="non-ascii"),
        pytest.param("١٢٣", id="arabic-indic"),
        pytest.param("a%00b", id="nul"),
        pytest.param("a;drop", id="semicolon"),
    ],
)
@pytest.mark.parametrize(("method", "path", "param"), ROUTES)
async def test_malformed_path_id_is_422_never_500(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    method: str,
    path: str,
    param: str,
    bad: str,
) -> None:
    values = {"ws": workspace.id, "member_id": "m_ada", "location_id": "loc-1"}
    url = path
    for name in re.findall(r"{(\w+)}", path):
        url = url.replace("{" + name + "}", bad if name == param else values.get(name, "id-1"))
    resp = await api.request(method, url, json={}, headers=workspace.headers())
    assert_invalid(resp, param, "")


@pytest.mark.parametrize("param", ["member_id", "location_id", "client_id"])
async def test_id_of_64_characters_is_accepted(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, param: str
) -> None:
    long_id = "i" * 64
    base = f"/v1/workspaces/{workspace.id}"
    if param == "member_id":
        resp = await api.put(f"{base}/members/{long_id}", json=MEMBER, headers=workspace.headers())
    elif param == "location_id":
        resp = await api.put(
            f"{base}/locations/{long_id}", json=LOCATION, headers=workspace.headers()
        )
    else:
        resp = await api.put(f"{base}/clients/{long_id}", json=CLIENT, headers=workspace.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == long_id


async def test_another_workspace_is_404(api: httpx.AsyncClient, workspace: WorkspaceKeys) -> None:
    resp = await api.put(
        "/v1/workspaces/ws_someone_else/members/m_x", json=MEMBER, headers=workspace.headers()
    )
    assert resp.status_code == 404, resp.text


# Booleans are JSON true or false.


@pytest.mark.parametrize("value", ["yes", "true", "1", 1, 0, "on", None, [], {}])
async def test_is_admin_is_a_strict_boolean(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, value: Any
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_bool",
        json={**MEMBER, "is_admin": value},
        headers=workspace.headers(),
    )
    assert_invalid(resp, "is_admin", "")
    ok = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_bool",
        json={**MEMBER, "is_admin": True},
        headers=workspace.headers(),
    )
    assert ok.status_code == 200 and ok.json()["is_admin"] is True, ok.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "erx/clinicians/m_ada/enrollment",
            set_in(enrollment_form("1234567893"), "locations.0.is_default", "true"),
            "locations.0.is_default",
        ),
        ("erx/patients/cl-1/allergies", {"no_known_allergies": "yes"}, "no_known_allergies"),
        ("erx/patients/cl-1/prescribing-session", {"refills_errors": 1}, "refills_errors"),
    ],
)
async def test_other_booleans_are_strict(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, path: str, body: dict, field: str
) -> None:
    url = f"/v1/workspaces/{workspace.id}/{path}"
    method = "POST" if path.endswith("session") else "PUT"
    resp = await api.request(method, url, json=body, headers=workspace.headers())
    assert_invalid(resp, field, "")


def _request_models() -> list[type[BaseModel]]:
    for module in pkgutil.iter_modules(api.routes.__path__):
        importlib.import_module(f"api.routes.{module.name}")
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [RequestModel]
    while todo:
        model = todo.pop()
        seen.append(model)
        todo += model.__subclasses__()
    return seen


def _loose_bool(annotation: Any, metadata: list[Any]) -> bool:
    if annotation is bool:
        return not any(isinstance(m, Strict) and m.strict for m in metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _loose_bool(inner, [*metadata, *extra])
    if origin in (Union, types.UnionType, list, tuple, set, dict):
        return any(_loose_bool(arg, []) for arg in get_args(annotation))
    return False


def test_every_request_boolean_is_strict() -> None:
    loose = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in _request_models()
        for name, field in model.model_fields.items()
        if _loose_bool(field.annotation, list(field.metadata))
    ]
    assert loose == []


# Malformed JSON answers the project's own shape.


@pytest.mark.parametrize(
    "content", [b'{"first_name": ', b"not json", b"{'first_name': 'Ada'}", b"\xff\xfe"]
)
async def test_malformed_json_is_the_projects_422(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, content: bytes
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_json",
        content=content,
        headers={**workspace.headers(), "Content-Type": "application/json"},
    )
    assert_invalid(resp, "body", "not valid JSON")
    assert set(resp.json()) == {"error", "detail", "errors"}


def test_push_ids_are_ascii_digits_only() -> None:
    """A pushed id in other digits names no clinician, rather than the one int() makes of it."""
    event = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": "123"}}
    assert parse_notification(event).clinician_id == 123
    for digits in (ARABIC_INDIC, FULLWIDTH):
        other = {**event, "Data": {"ClinicianId": "123".translate(digits)}}
        assert parse_notification(other).clinician_id is None


@pytest.mark.parametrize("char", CONTROL_CHARACTERS)
async def test_member_search_refuses_control_characters(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, char: str
) -> None:
    resp = await api.get(
        f"/v1/workspaces/{workspace.id}/members",
        params={"search": f"Ada{char}"},
        headers=workspace.headers(),
    )
    assert_invalid(resp, "search", CONTROL_REASON)


@pytest.mark.parametrize("value", [2**31, 2**40, "99999999999999999999", -(2**31) - 1])
@pytest.mark.parametrize(
    "event", ["ClinicianConfirmed", "PrescriberNotificationCounts", "PrescriptionResult"]
)
async def test_push_with_ids_beyond_int32_is_never_500(
    api: httpx.AsyncClient, settings: Settings, event: str, value: int | str
) -> None:
    """DoseSpot's ids are Int32; a larger one names nothing (PostgreSQL refused it with 500)."""
    data = {
        key: value for key in ("ClinicianId", "ClinicId", "PatientId", "PrescriptionId", "Status")
    } | {"PendingPrescriptionCount": value, "RefillRequestCount": 1}
    resp = await api.post(
        "/v1/dosespot/notifications",
        json={"EventType": event, "Data": data},
        headers={"Authorization": f"Secret {settings.dosespot_webhook_secret}"},
    )
    assert resp.status_code < 500, resp.text
    parsed = parse_notification({"EventType": event, "Data": data})
    assert parsed.clinician_id is None and parsed.patient_id is None
