"""SSO links against values computed by hand, outside Python:

P=Kq7Vn2Lm9Xz4Rt8Bw3Hy6Jc1Pd5Gf0Sa K=3B9F2C7A1D5E8F6A4C2B9D7E5F3A1C8B
echo -n "$P$K" | openssl dgst -sha512 -binary | base64
echo -n "2001${P:0:22}$K" | openssl dgst -sha512 -binary | base64
"""

from __future__ import annotations

import string
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from dosespot import build_sso_url, new_phrase, sso_parameters, verify_sso
from dosespot.sso import sso_code, sso_user_id_verify

PHRASE = "Kq7Vn2Lm9Xz4Rt8Bw3Hy6Jc1Pd5Gf0Sa"
CLINIC_KEY = "3B9F2C7A1D5E8F6A4C2B9D7E5F3A1C8B"
USER_ID = 2001
CLINIC_ID = 1000
CODE_DIGEST = (
    "zaBzZhMAHozE7EgItlDF5zZ+YyuljDCoSTyjk/2FkHSBKNk0Q/vDE1e2F9ntabUFfSzblNEX4yPajk9SN48pLg"
)
USER_ID_VERIFY = (
    "gjfGw1cZmrslMMAg64k4IMPJdw0AwhocJzNBCXWl8Eiaeos4KgXUNJzxecIjcr0eK0aXt7DWG9E+cT7uTTR30w"
)
BASE = "https://my.staging.dosespot.com/LoginSingleSignOn.aspx"


def test_codes_match_hand_computed_values():
    assert sso_code(PHRASE, CLINIC_KEY) == PHRASE + CODE_DIGEST
    assert sso_user_id_verify(PHRASE, CLINIC_KEY, USER_ID) == USER_ID_VERIFY


def test_url_carries_exactly_the_recipe_percent_encoded():
    url = build_sso_url(BASE, CLINIC_ID, CLINIC_KEY, USER_ID, phrase=PHRASE)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BASE
    # The digests hold "+" and "/": a bare "+" would arrive as a space.
    assert "+" not in parts.query and "/" not in parts.query
    assert "%2B" in parts.query and "%2F" in parts.query
    assert parse_qsl(parts.query) == [
        ("SingleSignOnClinicId", "1000"),
        ("SingleSignOnUserId", "2001"),
        ("SingleSignOnPhraseLength", "32"),
        ("SingleSignOnCode", PHRASE + CODE_DIGEST),
        ("SingleSignOnUserIdVerify", USER_ID_VERIFY),
    ]


def test_optional_parameters_are_ids_and_flags_only():
    url = build_sso_url(
        BASE,
        CLINIC_ID,
        CLINIC_KEY,
        USER_ID,
        patient_id=98765,
        refills_errors=True,
        on_behalf_of_user_id=3003,
        encounter_id="enc-42",
        phrase=PHRASE,
    )
    query = parse_qs(urlsplit(url).query)
    assert query["PatientId"] == ["98765"]
    assert query["RefillsErrors"] == ["1"]
    assert query["OnBehalfOfUserId"] == ["3003"]
    assert query["EncounterID"] == ["enc-42"]
    plain = parse_qs(urlsplit(build_sso_url(BASE, CLINIC_ID, CLINIC_KEY, USER_ID)).query)
    assert not {"PatientId", "RefillsErrors", "OnBehalfOfUserId", "EncounterID"} & set(plain)


def test_patient_id_must_be_a_dosespot_id():
    with pytest.raises(ValueError):
        build_sso_url(BASE, CLINIC_ID, CLINIC_KEY, USER_ID, patient_id="Ada Okafor")  # type: ignore[arg-type]


def test_base_url_query_is_kept():
    url = build_sso_url(BASE + "?lang=en", CLINIC_ID, CLINIC_KEY, USER_ID, phrase=PHRASE)
    assert urlsplit(url).query.startswith("lang=en&SingleSignOnClinicId=1000&")


def test_phrases_are_fresh_random_alphanumerics():
    phrases = {new_phrase() for _ in range(50)}
    assert len(phrases) == 50
    allowed = set(string.ascii_letters + string.digits)
    assert all(len(p) == 32 and set(p) <= allowed for p in phrases)
    codes = {sso_parameters(CLINIC_ID, CLINIC_KEY, USER_ID)["SingleSignOnCode"] for _ in range(5)}
    assert len(codes) == 5


@pytest.mark.parametrize("phrase", ["short", PHRASE[:-1] + "!", PHRASE + "x"])
def test_injected_phrase_must_fit_the_recipe(phrase: str):
    with pytest.raises(ValueError):
        sso_parameters(CLINIC_ID, CLINIC_KEY, USER_ID, phrase=phrase)


def test_verify_accepts_its_own_links_after_decoding():
    url = build_sso_url(BASE, CLINIC_ID, CLINIC_KEY, USER_ID, patient_id=5)
    params = dict(parse_qsl(urlsplit(url).query))
    assert verify_sso(params, CLINIC_KEY, USER_ID)


@pytest.mark.parametrize(
    "change",
    [
        {"SingleSignOnCode": PHRASE + CODE_DIGEST[:-1] + "A"},
        {"SingleSignOnCode": PHRASE + CODE_DIGEST + "=="},
        {"SingleSignOnCode": PHRASE + CODE_DIGEST.replace("+", " ")},
        {"SingleSignOnUserIdVerify": USER_ID_VERIFY[:-1] + "x"},
        {"SingleSignOnUserId": "2002"},
        {"SingleSignOnPhraseLength": "31"},
        {"SingleSignOnPhraseLength": "thirty-two"},
        {"SingleSignOnPhraseLength": "200"},
        {"SingleSignOnCode": ""},
        {"SingleSignOnUserIdVerify": ""},
    ],
)
def test_verify_rejects_tampered_parameters(change: dict[str, str]):
    params = sso_parameters(CLINIC_ID, CLINIC_KEY, USER_ID, phrase=PHRASE)
    assert verify_sso(params, CLINIC_KEY, USER_ID)
    assert not verify_sso({**params, **change}, CLINIC_KEY, USER_ID)


def test_verify_rejects_another_clinic_key_or_user():
    params = sso_parameters(CLINIC_ID, CLINIC_KEY, USER_ID, phrase=PHRASE)
    assert not verify_sso(params, CLINIC_KEY[::-1], USER_ID)
    assert not verify_sso(params, CLINIC_KEY, 2002)
