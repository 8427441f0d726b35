"""One settings class for the API, the worker, the sandbox launcher and the tools.

Every value can be set from the environment with the ``ERX_`` prefix, e.g.
``ERX_DOSESPOT_BASE_URL=https://my.staging.dosespot.com/webapi/v2/``. Pointing the
DoseSpot base URL, SSO URL and credentials at DoseSpot staging is all it takes to
leave the sandbox.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets. Outside development the settings refuse to load with them.
DEV_CODEC_KEY = base64.b64encode(b"erx-development-codec-key-32byte").decode()
DEV_CLINIC_KEY = "SandboxClinicKey0123456789abcdef"
DEV_SUBSCRIPTION_KEY = "sandbox-subscription-key"
DEV_WEBHOOK_SECRET = "SandboxWebhookSecret0123456789ab"  # noqa: S105
DEV_CODEC_TOKEN = "dev-codec-token"  # noqa: S105
_PLACEHOLDERS = {
    DEV_CODEC_KEY,
    DEV_CLINIC_KEY,
    DEV_SUBSCRIPTION_KEY,
    DEV_WEBHOOK_SECRET,
    DEV_CODEC_TOKEN,
}
# Shared secrets that production refuses when shorter than this many characters.
MIN_SECRET_LENGTH = 32
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def strict_codec_key(value: str) -> bytes:
    """The 32 key bytes of a standard base64 codec key; anything else raises ValueError."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not standard base64 (A-Z a-z 0-9 + /, padded with =)") from exc
    if len(raw) != 32:
        raise ValueError(f"decodes to {len(raw)} bytes, not 32")
    return raw


class Settings(BaseSettings):
    # A refused value is never echoed back: the error names the setting, not the secret.
    model_config = SettingsConfigDict(
        env_prefix="ERX_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "erx"
    # Worker: workflows kept in memory between tasks (each costs memory, see the README's
    # "Worker memory"); an evicted workflow replays its history on its next task.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # The workflow sandbox re-imports every module a workflow run imports unless it is passed
    # through. By default our workflow package and the pure libraries it uses are passed
    # through: a new workflow run then costs about 0.6 ms instead of 10-30 ms. Strict
    # re-imports every run (the replay tests and ``python -m erx.replay`` always do, so a
    # call the sandbox forbids is still caught on every stored history).
    worker_strict_sandbox: bool = False
    # Members' emails run on a task queue of their own (``<task_queue>-mail``) with this
    # many at once, beside the activity slots below: a burst of invitations never holds up
    # another clinician's DoseSpot calls.
    worker_max_concurrent_emails: int = Field(default=20, ge=1)
    # Activity and workflow tasks one worker process runs at once.
    worker_max_concurrent_activities: int = Field(default=100, ge=1)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=2)

    # Read model
    database_url: str = "sqlite+aiosqlite:///.data/erx.db"
    # PostgreSQL: the role every connection of the API and the worker switches to (SET ROLE),
    # e.g. "erx_app", which the migrations create and which owns nothing. Unset: the login's own.
    database_role: str | None = None
    # Connections each process (the API, the worker) keeps open, and how many more it may
    # open at a peak. No request holds one while it waits on Temporal or DoseSpot, so a few
    # serve hundreds of requests at once; a request waits at most the timeout for one.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=20, ge=0, le=500)
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    # How often the API looks for changed clinician rows while a GET waits for one
    # (``?wait=``, api/watch.py): the most a waiting client hears of a change late.
    read_model_watch_seconds: float = Field(default=0.1, gt=0, le=5)
    # Enrollments one invitation request starts at once (each start is one call to Temporal).
    invitation_concurrency: int = Field(default=32, ge=1, le=256)

    # DoseSpot: the partner's admin clinic and user that create clinics and clinicians.
    dosespot_base_url: str = "http://127.0.0.1:8090/webapi/v2/"
    dosespot_sso_url: str = "http://127.0.0.1:8090/LoginSingleSignOn.aspx"
    dosespot_clinic_id: int = 1000
    dosespot_clinic_key: str = DEV_CLINIC_KEY
    dosespot_user_id: int = 2000
    dosespot_subscription_key: str = DEV_SUBSCRIPTION_KEY
    dosespot_timeout_seconds: float = 20.0
    # Shared secret DoseSpot sends as ``Authorization: Secret <secret>`` on push notifications.
    dosespot_webhook_secret: str = DEV_WEBHOOK_SECRET
    # A push whose event identity arrived less than this long ago is a redelivery and dropped.
    notification_dedupe_window_seconds: float = Field(default=600.0, gt=0)

    # Pricing: integer cents per verified clinician per month.
    price_per_clinician_cents: int = 3900
    currency: str = "USD"

    # Patients at or under this age need height and weight in DoseSpot.
    pediatric_vitals_max_age: int = 18

    # Identity verification
    idme_window_hours: float = 24
    # How long PUT .../enrollment waits for DoseSpot's confirmation before answering "pending".
    enrollment_wait_seconds: float = 60.0
    # Polling DoseSpot when its push notifications do not come (first interval, growing 1.5x).
    confirmation_poll_seconds: float = 30.0
    idp_poll_seconds: float = 30.0
    tfa_poll_seconds: float = 30.0
    poll_max_seconds: float = 900.0
    # How long a polled wait may last before the clinician shows as stalled (admin retries).
    confirmation_deadline_days: float = 30.0
    tfa_deadline_days: float = 30.0
    idp_deadline_days: float = 30.0
    # Patients: how long PUT .../erx/patients and POST .../sync wait before answering 202;
    # after activity, DoseSpot is polled this often for this long (a lost push is caught
    # within one interval).
    patient_wait_seconds: float = 30.0
    patient_reconcile_interval_seconds: float = 600.0
    patient_reconcile_window_hours: float = 48.0
    # Each workspace's RenewalWatch reads its prescribers' renewal queues this often, so a
    # renewal request is found even when its push was lost and nobody lists the renewals.
    renewal_poll_minutes: float = 15.0
    # Long-lived workflows continue-as-new after this many history events at the latest.
    continue_as_new_after_events: int = 1000
    # How long POST /erx/setup waits for DoseSpot before answering 202 "registering".
    setup_wait_seconds: float = 30.0

    # Payload encryption (AES-256-GCM): key id -> base64 key. New payloads use the active key.
    codec_keys: dict[str, str] = Field(default_factory=lambda: {"dev-1": DEV_CODEC_KEY})
    codec_active_key_id: str = "dev-1"
    # Bearer token the Temporal UI sends to the codec endpoint.
    codec_token: str = DEV_CODEC_TOKEN
    codec_cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:8233"])

    # Email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "eRx <erx-noreply@example.com>"

    # API
    api_public_url: str = "http://localhost:8000"

    @field_validator("database_role", mode="before")
    @classmethod
    def _empty_role_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            used = {
                name
                for name in (
                    "dosespot_clinic_key",
                    "dosespot_subscription_key",
                    "dosespot_webhook_secret",
                    "codec_token",
                )
                if getattr(self, name) in _PLACEHOLDERS
            }
            if any(v in _PLACEHOLDERS for v in self.codec_keys.values()):
                used.add("codec_keys")
            problems = self._production_secret_problems()
            if used:
                placeholders = f"placeholder development secrets are not allowed: {sorted(used)}"
                problems.insert(0, placeholders)
            if problems:
                raise ValueError("; ".join(problems))
        if self.codec_active_key_id not in self.codec_keys:
            raise ValueError("codec_active_key_id must name one of codec_keys")
        if self.database_role is not None and not _ROLE_NAME.fullmatch(self.database_role):
            raise ValueError("database_role must be a lower-case PostgreSQL role name")
        return self

    def _production_secret_problems(self) -> list[str]:
        problems = [
            f"{name} must be at least {MIN_SECRET_LENGTH} characters"
            for name in ("codec_token", "dosespot_webhook_secret")
            if len(getattr(self, name).strip()) < MIN_SECRET_LENGTH
        ]
        dev_key = base64.b64decode(DEV_CODEC_KEY)
        for key_id, key in self.codec_keys.items():
            try:
                raw = strict_codec_key(key)
            except ValueError as exc:
                problems.append(f"codec key {key_id!r}: {exc}")
                continue
            if raw == dev_key:
                problems.append(f"codec key {key_id!r} is the development key")
        return problems

    @property
    def mail_task_queue(self) -> str:
        """The task queue members' emails run on."""
        return f"{self.task_queue}-mail"


@lru_cache
def get_settings() -> Settings:
    return Settings()
