"""Configuration of one sandbox instance."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from erx.settings import DEV_CLINIC_KEY, DEV_SUBSCRIPTION_KEY, DEV_WEBHOOK_SECRET, Settings


class RateLimits(BaseModel):
    """Calls allowed per window, per bucket, as DoseSpot publishes them (per 10 seconds)."""

    window_seconds: float = 10.0
    token: int = 2000
    get: int = 1000
    write: int = 400
    all: int = 2000
    retry_after_seconds: int = 10


class Behaviour(BaseModel):
    """The configuration fields a running sandbox lets a test change (``/_sandbox/behaviour``)."""

    model_config = ConfigDict(extra="forbid")

    minor_max_age: int | None = Field(default=None, ge=0)
    page_size: int | None = Field(default=None, ge=1)
    prescription_sent_delay_seconds: float | None = Field(default=None, ge=0.0)
    pharmacy_verified_delay_seconds: float | None = Field(default=None, ge=0.0)
    pharmacy_fill_delay_seconds: float | None = Field(default=None, ge=0.0)
    refill_request_lifetime_days: float | None = Field(default=None, gt=0.0)


class SandboxConfig(BaseModel):
    # The partner's own clinic and admin user; seeded on every start so that the
    # application's default settings work against a fresh sandbox.
    partner_clinic_id: int = 1000
    partner_clinic_key: str = DEV_CLINIC_KEY
    partner_user_id: int = 2000
    subscription_key: str = DEV_SUBSCRIPTION_KEY

    token_lifetime_seconds: int = 599
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    # None keeps everything in memory; a path makes state survive restarts.
    state_path: Path | None = None

    notification_url: str | None = None
    notification_secret: str = DEV_WEBHOOK_SECRET
    notification_timeout_seconds: float = 20.0

    # Applies to clinicians without a scenario of their own.
    default_confirmation_delay_seconds: float = 2.0
    default_registration_outcome: str = "success"

    # Patients of this age or younger need Weight+WeightMetric and Height+HeightMetric
    # ("18 and under", as DoseSpot's guide says "under 19").
    minor_max_age: int = Field(default=18, ge=0)
    # Rows per page of every paged list (DoseSpot's pharmacy search pages by 20).
    page_size: int = Field(default=20, ge=1)
    # A prescription sent in the embedded UI is Sending, then eRxSent after the first delay
    # (or Error at a failure pharmacy), then PharmacyVerified after the second.
    prescription_sent_delay_seconds: float = Field(default=1.0, ge=0.0)
    pharmacy_verified_delay_seconds: float = Field(default=5.0, ge=0.0)
    # When set, a pharmacy that reports fills (ServiceLevel RxFill) dispenses a verified
    # prescription this long after verifying it: MedicationStatus FullFill, LastFillDate.
    pharmacy_fill_delay_seconds: float | None = Field(default=None, ge=0.0)
    # How long a pharmacy's refill request waits for an answer.
    # Fractions are allowed, so a test can watch a request expire.
    refill_request_lifetime_days: float = Field(default=30.0, gt=0.0)

    def behaviour(self) -> Behaviour:
        return Behaviour.model_validate(self.model_dump(include=set(Behaviour.model_fields)))

    def with_behaviour(self, behaviour: Behaviour) -> SandboxConfig:
        """The fields given changed; ``null`` turns pharmacy fills off, and means nothing for
        the fields that must have a value."""
        given = behaviour.model_dump(exclude_unset=True)
        nullable = {"pharmacy_fill_delay_seconds"}
        return self.model_copy(
            update={k: v for k, v in given.items() if v is not None or k in nullable}
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SandboxConfig:
        """A sandbox whose partner account matches what the application is configured to use."""
        values: dict[str, object] = {
            "partner_clinic_id": settings.dosespot_clinic_id,
            "partner_clinic_key": settings.dosespot_clinic_key,
            "partner_user_id": settings.dosespot_user_id,
            "subscription_key": settings.dosespot_subscription_key,
            "notification_secret": settings.dosespot_webhook_secret,
        }
        values.update(overrides)
        return cls.model_validate(values)
