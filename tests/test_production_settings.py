"""Production refuses secrets an operator could get wrong; development keeps its defaults."""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from api.auth import Unauthorized
from api.routes import codec as codec_routes
from erx.settings import DEV_CODEC_KEY, DEV_CODEC_TOKEN, DEV_WEBHOOK_SECRET, Settings

DEV_KEY_BYTES = base64.b64decode(DEV_CODEC_KEY)
GOOD_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
GOOD_TOKEN = secrets.token_urlsafe(32)
GOOD_WEBHOOK = secrets.token_urlsafe(32)


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "dosespot_clinic_key": secrets.token_urlsafe(24),
        "dosespot_subscription_key": secrets.token_urlsafe(24),
        "dosespot_webhook_secret": GOOD_WEBHOOK,
        "codec_token": GOOD_TOKEN,
        "codec_keys": {"k1": GOOD_KEY},
        "codec_active_key_id": "k1",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _no_erx_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ERX_"):
            monkeypatch.delenv(name)


def test_good_production_settings_load() -> None:
    settings = production()
    assert settings.environment == "production"
    assert settings.codec_keys == {"k1": GOOD_KEY}


def test_development_keeps_its_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "development"
    assert settings.codec_token == DEV_CODEC_TOKEN
    assert settings.codec_keys == {"dev-1": DEV_CODEC_KEY}


@pytest.mark.parametrize("field", ["codec_token", "dosespot_webhook_secret"])
@pytest.mark.parametrize(
    "value",
    ["", " " * 40, "x" * 31, " " + "x" * 30 + " "],
    ids=["empty", "blank", "31-chars", "short-padded"],
)
def test_short_or_empty_secret_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} must be at least 32 characters"):
        production(**{field: value})


@pytest.mark.parametrize("field", ["codec_token", "dosespot_webhook_secret"])
def test_32_character_secret_accepted(field: str) -> None:
    assert getattr(production(**{field: "y" * 32}), field) == "y" * 32


def test_development_webhook_secret_refused() -> None:
    # 32 characters long, but the one in the source code.
    with pytest.raises(ValidationError, match="dosespot_webhook_secret"):
        production(dosespot_webhook_secret=DEV_WEBHOOK_SECRET)


DEV_KEY_SPELLINGS = {
    "as-shipped": DEV_CODEC_KEY,
    "no-padding": DEV_CODEC_KEY.rstrip("="),
    "extra-padding": DEV_CODEC_KEY + "=",
    "trailing-newline": DEV_CODEC_KEY + "\n",
    "leading-space": " " + DEV_CODEC_KEY,
    "inner-whitespace": DEV_CODEC_KEY[:20] + " " + DEV_CODEC_KEY[20:],
    "urlsafe": base64.urlsafe_b64encode(DEV_KEY_BYTES).decode(),
    "urlsafe-no-padding": base64.urlsafe_b64encode(DEV_KEY_BYTES).decode().rstrip("="),
    "junk-inside": DEV_CODEC_KEY[:10] + "!" + DEV_CODEC_KEY[10:],
}


@pytest.mark.parametrize("key", DEV_KEY_SPELLINGS.values(), ids=DEV_KEY_SPELLINGS.keys())
def test_development_codec_key_refused_however_written(key: str) -> None:
    with pytest.raises(ValidationError, match="codec key 'k1'"):
        production(codec_keys={"k1": key})


def test_development_key_refused_as_a_retired_key_too() -> None:
    with pytest.raises(ValidationError, match="codec key 'old' is the development key"):
        production(codec_keys={"k1": GOOD_KEY, "old": DEV_CODEC_KEY})


@pytest.mark.parametrize(
    "key",
    [
        "",
        base64.b64encode(secrets.token_bytes(16)).decode(),
        base64.b64encode(secrets.token_bytes(31)).decode(),
        base64.b64encode(secrets.token_bytes(33)).decode(),
        "not base64 at all, not at all!!",
        GOOD_KEY.rstrip("="),
    ],
    ids=["empty", "16-bytes", "31-bytes", "33-bytes", "garbage", "unpadded"],
)
def test_malformed_codec_key_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="codec key 'k1'"):
        production(codec_keys={"k1": key})


def test_refusal_does_not_echo_the_secret() -> None:
    token = "short-but-secret-" + secrets.token_hex(4)
    with pytest.raises(ValidationError) as caught:
        production(codec_token=token)
    assert token not in str(caught.value)


def test_production_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERX_ENVIRONMENT", "production")
    monkeypatch.setenv("ERX_DOSESPOT_CLINIC_KEY", secrets.token_urlsafe(24))
    monkeypatch.setenv("ERX_DOSESPOT_SUBSCRIPTION_KEY", secrets.token_urlsafe(24))
    monkeypatch.setenv("ERX_DOSESPOT_WEBHOOK_SECRET", GOOD_WEBHOOK)
    monkeypatch.setenv("ERX_CODEC_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("ERX_CODEC_KEYS", f'{{"k1": "{DEV_CODEC_KEY.rstrip("=")}"}}')
    monkeypatch.setenv("ERX_CODEC_ACTIVE_KEY_ID", "k1")
    with pytest.raises(ValidationError, match="codec key 'k1'"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("ERX_CODEC_KEYS", f'{{"k1": "{GOOD_KEY}"}}')
    assert Settings(_env_file=None).codec_keys == {"k1": GOOD_KEY}  # type: ignore[call-arg]


@pytest.mark.parametrize("role", ["erx_app", None])
def test_database_role_accepted(role: str | None) -> None:
    assert Settings(_env_file=None, database_role=role).database_role == role  # type: ignore[call-arg]


def test_empty_database_role_is_none() -> None:
    assert Settings(_env_file=None, database_role="").database_role is None  # type: ignore[call-arg]


@pytest.mark.parametrize("role", ["erx-app", 'erx"; DROP TABLE x; --', "ERX_APP", "1role"])
def test_database_role_must_be_a_plain_name(role: str) -> None:
    with pytest.raises(ValidationError, match="database_role"):
        Settings(_env_file=None, database_role=role)  # type: ignore[call-arg]


def _codec_request(origin: str) -> Request:
    return Request({"type": "http", "headers": [(b"origin", origin.encode())]})


def test_codec_token_bypass_for_the_local_ui_is_development_only() -> None:
    origin = "http://localhost:8233"
    development = Settings(_env_file=None)  # type: ignore[call-arg]
    assert origin in development.codec_cors_origins
    codec_routes._check(development, _codec_request(origin), None)
    with pytest.raises(Unauthorized):
        codec_routes._check(development, _codec_request("http://elsewhere.example"), None)
    prod = production(codec_cors_origins=[origin])
    with pytest.raises(Unauthorized):
        codec_routes._check(prod, _codec_request(origin), None)
    with pytest.raises(Unauthorized):
        codec_routes._check(prod, _codec_request(origin), f"Bearer {DEV_CODEC_TOKEN}")
    codec_routes._check(prod, _codec_request(origin), f"Bearer {GOOD_TOKEN}")
