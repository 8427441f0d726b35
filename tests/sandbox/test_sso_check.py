"""The sandbox's single sign-on check against links made by hand from DoseSpot's published
algorithm, not by the client's builder: the right link signs in, near misses do not."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import CONFIG, create_patient, partner_api

PHRASE = "Zq7fN2mK9pX4bR1tY8wC3vL6hJ5dS0gA"  # 32 letters and digits


def digest(text: str, *, strip: bool = True) -> str:
    encoded = base64.b64encode(hashlib.sha512(text.encode()).digest()).decode()
    return encoded.rstrip("=") if strip else encoded


def link(base_url: str, **overrides: str) -> str:
    key, user = CONFIG.partner_clinic_key, CONFIG.partner_user_id
    params = {
        "SingleSignOnClinicId": str(CONFIG.partner_clinic_id),
        "SingleSignOnUserId": str(user),
        "SingleSignOnPhraseLength": "32",
        "SingleSignOnCode": PHRASE + digest(PHRASE + key),
        "SingleSignOnUserIdVerify": digest(f"{user}{PHRASE[:22]}{key}"),
        **overrides,
    }
    return f"{base_url}/LoginSingleSignOn.aspx?{urlencode(params)}"


def outcome(url: str) -> str:
    response = httpx.get(url)
    assert response.status_code == 200
    return response.headers["X-Sandbox-SSO-Result"]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with sandbox_server() as url:
        yield url


def test_a_link_made_by_the_published_algorithm_signs_in(base_url: str) -> None:
    assert outcome(link(base_url)) == "signed_in"
    with partner_api(base_url) as client:
        patient_id = create_patient(client)
    assert outcome(link(base_url, PatientId=str(patient_id))) == "signed_in"
    assert outcome(link(base_url, RefillsErrors="1")) == "signed_in"


@pytest.mark.parametrize(
    "overrides",
    [
        # The user check over the whole phrase instead of its first 22 characters.
        {"SingleSignOnUserIdVerify": digest(f"{CONFIG.partner_user_id}{PHRASE}")},
        # Padding left on the code.
        {"SingleSignOnCode": PHRASE + digest(PHRASE + CONFIG.partner_clinic_key, strip=False)},
        # Key and phrase swapped.
        {"SingleSignOnCode": PHRASE + digest(CONFIG.partner_clinic_key + PHRASE)},
        {"SingleSignOnPhraseLength": "31"},
        {"SingleSignOnUserId": "2001"},
    ],
)
def test_near_misses_are_incorrect_calculations(base_url: str, overrides: dict[str, str]) -> None:
    assert outcome(link(base_url, **overrides)) == "incorrect_sso_calculations"
