"""What every DoseSpot-facing activity class holds, and how it acts inside a clinic."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ClinicRegistration
from dosespot import DoseSpotClient, DoseSpotCredentials
from erx.codec import SecretBox
from workflows.failures import ClinicNotRegistered


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

    def _as_admin_in(self, clinic_id: int, key: str, user_id: int | None = None) -> DoseSpotClient:
        """The partner's admin user (or ``user_id``) acting in one clinic, with its key."""
        return self._dosespot.as_user(
            DoseSpotCredentials(
                clinic_id=clinic_id, clinic_key=key, user_id=user_id or self._admin_user_id
            )
        )

    async def _in_clinic(self, clinic_id: int, user_id: int | None = None) -> DoseSpotClient:
        """The partner admin (or the clinician ``user_id``) acting in one of our clinics."""
        async with self._sessionmaker() as session:
            registration = await session.scalar(
                select(ClinicRegistration).where(ClinicRegistration.dosespot_clinic_id == clinic_id)
            )
        key = clinic_key(registration, self._secrets) if registration else None
        if key is None:
            raise ClinicNotRegistered("the clinic is not registered with DoseSpot")
        return self._as_admin_in(clinic_id, key, user_id)
