"""What every DoseSpot-facing activity class holds, and how it acts inside a clinic."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ClinicRegistration
from dosespot import DoseSpotClient, DoseSpotCredentials
from erx.codec import SecretBox


def clinic_key(registration: ClinicRegistration, secrets: SecretBox) -> str | None:
    """The clinic's DoseSpot ClinicKey, opened from its sealed copy; None if we have none."""
    if registration.clinic_key_key_id is None or registration.clinic_key_ciphertext is None:
        return None
    return secrets.open(registration.clinic_key_key_id, registration.clinic_key_ciphertext).decode()


class DoseSpotActivities:
    """The partner's DoseSpot client, the read model and the key that seals ClinicKeys."""

    def __init__(
        self,
        dosespot: DoseSpotClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        admin_user_id: int,
    ) -> None:
        self._dosespot = dosespot
        self._sessionmaker = sessionmaker
        self._secrets = secrets
        self._admin_user_id = admin_user_id

    def _as_admin_in(self, clinic_id: int, key: str) -> DoseSpotClient:
        """The partner's admin user acting in one clinic, with that clinic's key."""
        return self._dosespot.as_user(
            DoseSpotCredentials(clinic_id=clinic_id, clinic_key=key, user_id=self._admin_user_id)
        )
