"""Clients (patients as the EHR keeps them): validation, replace, roles, tenant isolation."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.routes import clients as clients_route
from db.models import Base
from tests.conftest import WorkspaceKeys

CLIENT: dict[str, Any] = {
    "first_name": "Ada",
    "middle_name": "Augusta",
    "last_name": "Lovelace",
    "date_of_birth": "12/10/2012",
    "sex": "Female",
    "phone": "+1 (212) 736-5000",
    "phone_type": "Cell",
    "email": "ada@example.com",
    "address": {
        "street_address": "350 Fifth Avenue",
        "suburb": "Apt 4",
        "city": "New York",
        "state": "ny",
        "zip_code": "10118",
    },
    "medical_record_number": "MRN-000123",
    "height": {"value": 152.5, "unit": "cm"},
    "weight": {"value": 41.2, "unit": "kg"},
    "vitals_recorded_at": "2025-09-01T10:30:00-04:00",
    "insurance": {
        "payer_name": "Acme Health",
        "payer_id": "60054",
        "member_id": "W123456789",
        "group_id": "GRP-77",
    },
}


def new_id() -> str:
    return f"cl_{uuid.uuid4().hex[:12]}"


def url(ws: str, client_id: str) -> str:
    return f"/v1/workspaces/{ws}/clients/{client_id}"


async def test_put_creates_and_get_reads_the_client(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    client_id = new_id()
    resp = await api.put(url(workspace.id, client_id), json=CLIENT, headers=workspace.headers())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == client_id
    assert body["date_of_birth"] == "2012-12-10"
    assert body["phone"] == "+12127365000"
    assert body["address"] == {
        "street_address": "350 Fifth Avenue",
        "suburb": "Apt 4",
        "city": "New York",
        "state": "NY",
        "zip_code": "10118",
    }
    assert body["height"] == {"value": 152.5, "unit": "cm"}
    assert body["weight"] == {"value": 41.2, "unit": "kg"}
    assert body["insurance"]["member_id"] == "W123456789"
    assert body["medical_record_number"] == "MRN-000123"
    assert datetime.fromisoformat(body["vitals_recorded_at"]) == datetime(
        2025, 9, 1, 14, 30, tzinfo=UTC
    )

    read = await api.get(url(workspace.id, client_id), headers=workspace.headers())
    assert read.status_code == 200
    assert read.json() == body


async def test_iso_date_of_birth_and_admin_key(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    resp = await api.put(
        url(workspace.id, new_id()),
        json={**CLIENT, "date_of_birth": "2012-12-10"},
        headers=workspace.headers("admin"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["date_of_birth"] == "2012-12-10"


async def test_put_replaces_the_whole_record(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    client_id = new_id()
    first = await api.put(url(workspace.id, client_id), json=CLIENT, headers=workspace.headers())
    assert first.status_code == 200
    replacement = {
        k: v
        for k, v in CLIENT.items()
        if k not in ("middle_name", "email", "height", "weight", "vitals_recorded_at", "insurance")
    }
    replacement["last_name"] = "King"
    replacement["address"] = {
        "street_address": "1 Ockham Park",
        "city": "Ripley",
        "state": "CA",
        "zip_code": "92272-0001",
    }
    resp = await api.put(
        url(workspace.id, client_id), json=replacement, headers=workspace.headers()
    )
    assert resp.status_code == 200, resp.text
    read = (await api.get(url(workspace.id, client_id), headers=workspace.headers())).json()
    assert read["last_name"] == "King"
    assert read["address"]["suburb"] is None
    assert read["address"]["zip_code"] == "92272-0001"
    for cleared in ("middle_name", "email", "height", "weight", "vitals_recorded_at"):
        assert read[cleared] is None, cleared
    assert read["insurance"] is None
    assert read["updated_at"] >= first.json()["updated_at"]


async def test_member_key_reads_but_cannot_write(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    client_id = new_id()
    await api.put(url(workspace.id, client_id), json=CLIENT, headers=workspace.headers())
    read = await api.get(url(workspace.id, client_id), headers=workspace.headers("member"))
    assert read.status_code == 200
    write = await api.put(
        url(workspace.id, client_id),
        json={**CLIENT, "last_name": "Byron"},
        headers=workspace.headers("member"),
    )
    assert write.status_code == 403
    after = await api.get(url(workspace.id, client_id), headers=workspace.headers())
    assert after.json()["last_name"] == "Lovelace"
    assert (await api.get(url(workspace.id, client_id))).status_code == 401


async def test_another_workspaces_client_is_404(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    new_workspace: Callable[[], Awaitable[WorkspaceKeys]],
) -> None:
    other = await new_workspace()
    client_id = new_id()
    created = await api.put(url(other.id, client_id), json=CLIENT, headers=other.headers())
    assert created.status_code == 200
    # Through the other workspace's path with this workspace's key...
    for headers in (workspace.headers(), workspace.headers("member")):
        resp = await api.get(url(other.id, client_id), headers=headers)
        assert resp.status_code == 404
    resp = await api.put(url(other.id, client_id), json=CLIENT, headers=workspace.headers())
    assert resp.status_code == 404
    # ...and by its id under this workspace: it does not exist here.
    resp = await api.get(url(workspace.id, client_id), headers=workspace.headers())
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"
    # The other workspace's record is untouched.
    kept = await api.get(url(other.id, client_id), headers=other.headers())
    assert kept.json()["last_name"] == "Lovelace"


async def test_unknown_client_is_404(api: httpx.AsyncClient, workspace: WorkspaceKeys) -> None:
    resp = await api.get(url(workspace.id, new_id()), headers=workspace.headers())
    assert resp.status_code == 404


def arabic_indic(digits: str) -> str:
    return "".join(chr(0x0660 + int(d)) if d.isdigit() else d for d in digits)


def fullwidth(digits: str) -> str:
    return "".join(chr(0xFF10 + int(d)) if d.isdigit() else d for d in digits)


def _address(**patch: str) -> dict[str, Any]:
    return {"address": {**CLIENT["address"], **patch}}


def _future(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).strftime("%m/%d/%Y")


BAD_INPUT: list[tuple[dict[str, Any], str, str]] = [
    ({"first_name": "A" * 36}, "first_name", "at most 35 characters"),
    ({"last_name": "L" * 36}, "last_name", "at most 35 characters"),
    ({"middle_name": "M" * 36}, "middle_name", "at most 35 characters"),
    ({"first_name": ""}, "first_name", "at least 1 character"),
    ({"first_name": "   "}, "first_name", "at least 1 character"),
    ({"first_name": "Ada\tMary"}, "first_name", "control"),
    ({"last_name": "Love\nlace"}, "last_name", "control"),
    ({"last_name": "Lovelace\x00"}, "last_name", "control"),
    ({"first_name": "Ada\u202e"}, "first_name", "control"),
    ({"first_name": "A\u200bda"}, "first_name", "control"),
    ({"last_name": "Love\u2028lace"}, "last_name", "control"),
    ({"phone": "+44 20 7946 0958"}, "phone", "US phone number"),
    ({"phone": "212 736 5000"}, "phone", "+1"),
    ({"phone": "+1 555 736 5000"}, "phone", "555"),
    ({"phone": arabic_indic("+1 212 736 5000")}, "phone", "ASCII 0-9"),
    ({"phone": "+1 212 736 " + fullwidth("5000")}, "phone", "ASCII 0-9"),
    (_address(zip_code=arabic_indic("10118")), "address.zip_code", "ASCII 0-9"),
    (_address(zip_code="1011"), "address.zip_code", "5-digit ZIP"),
    (_address(state="XX"), "address.state", "not a US state"),
    (_address(street_address="x" * 36), "address.street_address", "35 characters"),
    (_address(city="New\x0bYork"), "address.city", "control"),
    ({"address": {**CLIENT["address"], "country": "CA"}}, "address.country", "unknown field"),
    ({"date_of_birth": _future(1)}, "date_of_birth", "in the future"),
    ({"date_of_birth": _future(400)}, "date_of_birth", "in the future"),
    ({"date_of_birth": "02/30/2012"}, "date_of_birth", "not a real date"),
    ({"date_of_birth": "2012-12-10T00:00:00"}, "date_of_birth", "MM/DD/YYYY"),
    ({"date_of_birth": arabic_indic("12/10/2012")}, "date_of_birth", "ASCII 0-9"),
    ({"date_of_birth": "01/01/1850"}, "date_of_birth", "years ago"),
    ({"date_of_birth": 1355097600}, "date_of_birth", "must be a string"),
    ({"sex": "M"}, "sex", "'Male', 'Female' or 'Unknown'"),
    ({"sex": "female"}, "sex", "'Male', 'Female' or 'Unknown'"),
    ({"sex": "Other"}, "sex", "'Male', 'Female' or 'Unknown'"),
    ({"phone_type": "Undefined"}, "phone_type", "'Cell'"),
    ({"phone_type": "Mobile"}, "phone_type", "'Cell'"),
    ({"email": "not-an-email"}, "email", "email"),
    ({"email": "a" * 60 + "@" + "b" * 20 + ".example.com"}, "email", "80 characters"),
    ({"medical_record_number": "MRN\u00e9"}, "medical_record_number", "ASCII"),
    ({"medical_record_number": "M" * 36}, "medical_record_number", "35 characters"),
    ({"height": {"value": 0, "unit": "cm"}}, "height", "greater than zero"),
    ({"height": {"value": -150, "unit": "cm"}}, "height", "greater than zero"),
    ({"height": {"value": 1500, "unit": "cm"}}, "height", "between 20 and 250"),
    ({"height": {"value": 170, "unit": "in"}}, "height", "between 8 and 100"),
    ({"height": {"value": 170, "unit": "m"}}, "height.unit", "'cm' or 'in'"),
    ({"height": {"value": "170", "unit": "cm"}}, "height.value", "valid number"),
    ({"height": {"value": 170}}, "height.unit", "field required"),
    ({"weight": {"value": 0, "unit": "kg"}}, "weight", "greater than zero"),
    ({"weight": {"value": -3, "unit": "lb"}}, "weight", "greater than zero"),
    ({"weight": {"value": 4000, "unit": "kg"}}, "weight", "between 0.3 and 350"),
    ({"weight": {"value": 0.1, "unit": "lb"}}, "weight", "between 0.66 and 770"),
    ({"weight": {"value": True, "unit": "kg"}}, "weight.value", "valid number"),
    (
        {"vitals_recorded_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        "vitals_recorded_at",
        "in the future",
    ),
    ({"vitals_recorded_at": "2025-09-01T14:30:00"}, "vitals_recorded_at", "timezone"),
    ({"vitals_recorded_at": "2011-01-01T00:00:00Z"}, "vitals_recorded_at", "date of birth"),
    (
        {"height": None, "weight": None},
        "vitals_recorded_at",
        "height or a weight",
    ),
    ({"insurance": {"payer_name": "Acme"}}, "insurance.member_id", "field required"),
    ({"colour": "blue"}, "colour", "unknown field"),
]


@pytest.mark.parametrize(("patch", "field", "reason"), BAD_INPUT)
async def test_bad_client_is_422_naming_field_and_reason_and_writes_nothing(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, patch: dict[str, Any], field: str, reason: str
) -> None:
    client_id = new_id()
    resp = await api.put(
        url(workspace.id, client_id), json={**CLIENT, **patch}, headers=workspace.headers()
    )
    assert resp.status_code == 422, resp.text
    errors = resp.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    assert (
        await api.get(url(workspace.id, client_id), headers=workspace.headers())
    ).status_code == 404


async def test_bad_replacement_keeps_the_stored_client(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    client_id = new_id()
    await api.put(url(workspace.id, client_id), json=CLIENT, headers=workspace.headers())
    before = (await api.get(url(workspace.id, client_id), headers=workspace.headers())).json()
    for patch in ({"last_name": "B" * 36}, {"sex": "X"}, {"date_of_birth": _future(3)}):
        resp = await api.put(
            url(workspace.id, client_id), json={**CLIENT, **patch}, headers=workspace.headers()
        )
        assert resp.status_code == 422
    after = (await api.get(url(workspace.id, client_id), headers=workspace.headers())).json()
    assert after == before


async def test_missing_required_fields_are_named(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    required = ("first_name", "last_name", "date_of_birth", "sex", "phone", "phone_type")
    body = {k: v for k, v in CLIENT.items() if k not in (*required, "address")}
    resp = await api.put(url(workspace.id, new_id()), json=body, headers=workspace.headers())
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    for field in (*required, "address"):
        assert {"field": field, "reason": "field required"} in errors


@pytest.mark.parametrize(
    ("client_id", "reason"),
    [("c" * 65, "at most 64 characters"), ("a b", "pattern"), ("é", "pattern")],
)
async def test_client_id_is_limited_like_the_column(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, client_id: str, reason: str
) -> None:
    for method in ("PUT", "GET"):
        resp = await api.request(
            method,
            url(workspace.id, client_id),
            json=CLIENT if method == "PUT" else None,
            headers=workspace.headers(),
        )
        assert resp.status_code == 422, resp.text
        errors = resp.json()["errors"]
        assert any(e["field"] == "client_id" and reason in e["reason"] for e in errors), errors
    longest = "c" * 64
    resp = await api.put(url(workspace.id, longest), json=CLIENT, headers=workspace.headers())
    assert resp.status_code == 200, resp.text


async def test_phi_is_neither_logged_nor_repeated_in_errors(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_name = "Zenobiaqx"
    client_id = new_id()
    ok = await api.put(
        url(workspace.id, client_id),
        json={**CLIENT, "last_name": secret_name},
        headers=workspace.headers(),
    )
    assert ok.status_code == 200
    bad_dob = "02/30/2011"
    bad = await api.put(
        url(workspace.id, client_id),
        json={**CLIENT, "first_name": secret_name + "\t", "date_of_birth": bad_dob},
        headers=workspace.headers(),
    )
    assert bad.status_code == 422
    assert secret_name not in bad.text
    assert bad_dob not in bad.text
    await api.get(url(workspace.id, client_id), headers=workspace.headers())
    # Everything was captured down to DEBUG, the SQLite driver's statement logging included
    # (the app keeps that logger quiet: it repeats statement parameters).
    logging.getLogger("api.clients").debug("capture check")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "capture check" in logged
    for phi in (secret_name, "Augusta", "W123456789", "+12127365000", "2012-12-10"):
        assert phi not in logged


async def test_names_are_stored_composed_and_counted_in_characters(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    decomposed = "Jose\u0301" + "e" * 31  # 36 code points, 35 characters
    resp = await api.put(
        url(workspace.id, new_id()),
        json={**CLIENT, "first_name": decomposed, "last_name": "  Nuñez  "},
        headers=workspace.headers(),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["first_name"] == "Jos\u00e9" + "e" * 31
    assert resp.json()["last_name"] == "Nuñez"


def _failing_upsert(error: type[DBAPIError]) -> Callable[..., Awaitable[None]]:
    async def upsert(*_: object, **__: object) -> None:
        raise error("INSERT INTO clients ...", {"last_name": "Zenobiaqx"}, Exception("Zenobiaqx"))

    return upsert


async def test_database_errors_do_not_carry_phi_into_logs(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    body = {**CLIENT, "last_name": "Zenobiaqx"}
    monkeypatch.setattr(clients_route, "upsert", _failing_upsert(OperationalError))
    resp = await api.put(url(workspace.id, new_id()), json=body, headers=workspace.headers())
    assert resp.status_code == 503
    assert "Zenobiaqx" not in resp.text
    assert "OperationalError" in caplog.text
    assert "Zenobiaqx" not in caplog.text

    # Any other database error is a bug: a 500 whose traceback names only the error's type.
    monkeypatch.setattr(clients_route, "upsert", _failing_upsert(IntegrityError))
    with pytest.raises(RuntimeError) as raised:
        await api.put(url(workspace.id, new_id()), json=body, headers=workspace.headers())
    assert str(raised.value) == "client record not written: IntegrityError"
    assert raised.value.__suppress_context__
    assert "Zenobiaqx" not in "".join(traceback.format_exception(raised.value))


async def test_migration_0006_matches_the_client_model(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        return [d for d in found if "clients" in repr(d)]

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
