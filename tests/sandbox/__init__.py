"""Shared pieces for tests that talk to the DoseSpot sandbox over HTTP."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from dosespot_sandbox import SandboxConfig
from tests.contract.swagger import validate_request

CONFIG = SandboxConfig()
SUBSCRIPTION = {"Subscription-Key": CONFIG.subscription_key}

_npis = itertools.count(1000000001)
# One shared client: building an httpx client per call costs tens of milliseconds.
_http = httpx.Client(timeout=10)


def token_form(clinic_id: int, clinic_key: str, user_id: int) -> dict[str, str]:
    return {
        "grant_type": "password",
        "client_id": str(clinic_id),
        "client_secret": clinic_key,
        "username": str(user_id),
        "password": clinic_key,
        "scope": "api",
    }


def get_token(base_url: str, clinic_id: int, clinic_key: str, user_id: int) -> str:
    response = _http.post(
        f"{base_url}/webapi/v2/connect/token",
        data=token_form(clinic_id, clinic_key, user_id),
        headers=SUBSCRIPTION,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def api(base_url: str, token: str, **kwargs: Any) -> httpx.Client:
    """A client for ``/webapi/v2/`` acting with ``token``."""
    return httpx.Client(
        base_url=f"{base_url}/webapi/v2/",
        headers={**SUBSCRIPTION, "Authorization": f"Bearer {token}"},
        **kwargs,
    )


def partner_api(base_url: str, **kwargs: Any) -> httpx.Client:
    token = get_token(base_url, CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, 2000)
    return api(base_url, token, **kwargs)


def post_valid(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    """POST a body that must fit DoseSpot's published request schema."""
    validate_request("POST", "/" + path, body)
    return client.post(path, json=body)


def clinic_body(**overrides: Any) -> dict[str, Any]:
    return {
        "ClinicName": "Harbor Family Practice",
        "Address1": "10 Harbor St",
        "City": "Boston",
        "State": "MA",
        "ZipCode": "02110",
        "PrimaryPhone": "6175551234",
        "PrimaryPhoneType": "Work",
        "PrimaryFax": "6175551235",
        **overrides,
    }


def clinician_body(**overrides: Any) -> dict[str, Any]:
    return {
        "FirstName": "Dana",
        "LastName": "Reyes",
        "DateOfBirth": "1980-04-02T00:00:00",
        "Email": "dana.reyes@example.com",
        "Address1": "10 Harbor St",
        "City": "Boston",
        "State": "MA",
        "ZipCode": "02110",
        "PrimaryPhone": "6175551234",
        "PrimaryPhoneType": "Work",
        "PrimaryFax": "6175551235",
        "NPINumber": str(next(_npis)),
        "DEANumber": "AR1234563",
        "ClinicianRoleType": ["PrescribingClinician"],
        **overrides,
    }


def control(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = _http.request(method, f"{base_url}/_sandbox/{path}", **kwargs)
    assert response.is_success, response.text
    return response.json()


def create_clinic(client: httpx.Client, **overrides: Any) -> tuple[int, str]:
    body = post_valid(client, "api/clinics", clinic_body(**overrides)).json()
    assert body["Result"]["ResultCode"] == "OK", body
    return body["ClinicId"], body["ClinicKey"]


def create_clinician(client: httpx.Client, **overrides: Any) -> int:
    body = post_valid(client, "api/clinicians", clinician_body(**overrides)).json()
    assert body["Result"]["ResultCode"] == "OK", body
    clinician_id: int = body["Id"]
    return clinician_id


def registration_status(client: httpx.Client, clinician_id: int) -> str:
    status: str = client.get(f"api/clinicians/{clinician_id}/registrationStatus").json()["Item"]
    return status


def wait_for_status(client: httpx.Client, clinician_id: int, status: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if registration_status(client, clinician_id) == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"clinician {clinician_id} never reached {status}")


class Receiver:
    """A tiny push-notification endpoint that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.received.append((self.headers.get("Authorization"), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dosespot/events"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [body for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def born_years_ago(years: int) -> str:
    """A date of birth that makes the patient exactly ``years`` old today (UTC)."""
    today = datetime.now(UTC).date()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = date(today.year - years, 2, 28)
    return f"{born.isoformat()}T00:00:00"


def patient_body(**overrides: Any) -> dict[str, Any]:
    """An adult patient that DoseSpot accepts."""
    return {
        "FirstName": "Ada",
        "LastName": "Okafor",
        "DateOfBirth": "1980-04-02T00:00:00",
        "Gender": "Female",
        "Address1": "12 Elm St",
        "City": "Boston",
        "State": "MA",
        "ZipCode": "02110",
        "PrimaryPhone": "6175551234",
        "PrimaryPhoneType": "Cell",
        "Active": True,
        **overrides,
    }


def create_patient(client: httpx.Client, **overrides: Any) -> int:
    body = post_valid(client, "api/patients", patient_body(**overrides)).json()
    assert body["Result"]["ResultCode"] == "OK", body
    patient_id: int = body["Id"]
    return patient_id
