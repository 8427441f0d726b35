"""Clinic registration in DoseSpot, recorded in the read model."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.dosespot_access import DoseSpotActivities, clinic_key
from activities.errors import dosespot_errors_as_application_errors
from db.clinics import clinic_record
from db.models import ClinicRegistration, Location
from dosespot import ClinicCreate, PhoneType
from erx.us import dosespot_phone
from workflows.failures import LocationNotFound
from workflows.models import (
    KEY_INVALID,
    KEY_MISSING,
    KEY_SUPPLIED,
    Address,
    ClinicRecord,
    ClinicStatus,
    EnsureClinicInput,
)

# Set before the DoseSpot create call: finding it on entry means an earlier attempt's
# outcome is unknown (timeout, crash), so we look in DoseSpot before creating again.
CREATING = "creating"


class ClinicActivities(DoseSpotActivities):
    @activity.defn(name="ensure_clinic")
    async def ensure_clinic(self, input: EnsureClinicInput) -> ClinicRecord:
        """Make sure the location has exactly one DoseSpot clinic; create it if it has none."""
        async with self._sessionmaker() as session:
            location = await session.get(Location, (input.workspace_id, input.location_id))
            if location is None:
                raise LocationNotFound("the practice location does not exist")
            registration = await session.get(
                ClinicRegistration, (input.workspace_id, input.location_id)
            )
            if registration is not None and registration.dosespot_clinic_id is not None:
                if registration.status == KEY_SUPPLIED:
                    await self._verify_supplied_key(registration)
                    await session.commit()
                return clinic_record(registration)
            uncertain = registration is not None and registration.status == CREATING
            registration = await self._mark_creating(session, location, registration)

        candidate = _clinic_create(location)
        with dosespot_errors_as_application_errors():
            found = None
            if uncertain:
                found = await self._find_existing(candidate, input.workspace_id)
            if found is not None:
                activity.logger.info("found the clinic an earlier attempt created")
                return await self._save(input, found, clinic_key=None)
            credentials = await self._dosespot.create_clinic(candidate)
        return await self._save(input, credentials.clinic_id, clinic_key=credentials.clinic_key)

    async def _verify_supplied_key(self, registration: ClinicRegistration) -> None:
        key = clinic_key(registration, self._secrets)
        assert registration.dosespot_clinic_id is not None and key is not None
        clinic = self._as_admin_in(registration.dosespot_clinic_id, key)
        try:
            with dosespot_errors_as_application_errors():
                await clinic.check()
        except ApplicationError as err:
            if err.type != "DoseSpotAuthError":
                raise
            registration.clinic_key_ciphertext = None
            registration.clinic_key_key_id = None
            registration.status = ClinicStatus.blocked.value
            registration.blocked_reason = KEY_INVALID
            return
        registration.status = ClinicStatus.registered.value
        registration.blocked_reason = None

    async def _mark_creating(
        self,
        session: AsyncSession,
        location: Location,
        registration: ClinicRegistration | None,
    ) -> ClinicRegistration:
        if registration is None:
            registration = ClinicRegistration(
                workspace_id=location.workspace_id, location_id=location.id
            )
            session.add(registration)
        registration.status = CREATING
        registration.clinic_name = location.name
        registration.address_json = _address(location).model_dump_json()
        registration.blocked_reason = None
        await session.commit()
        return registration

    async def _find_existing(self, candidate: ClinicCreate, workspace_id: str) -> int | None:
        ids = await self._dosespot.clinician_clinic_ids(self._admin_user_id)
        async with self._sessionmaker() as session:
            claimed = set(
                (
                    await session.scalars(
                        select(ClinicRegistration.dosespot_clinic_id).where(
                            ClinicRegistration.dosespot_clinic_id.in_(ids),
                            ClinicRegistration.workspace_id != workspace_id,
                        )
                    )
                ).all()
            )
        clinic = await self._dosespot.find_clinic(
            candidate, [i for i in ids if i not in claimed], on_progress=_heartbeat_scan
        )
        return clinic.clinic_id if clinic is not None else None

    async def _save(
        self, input: EnsureClinicInput, clinic_id: int, clinic_key: str | None
    ) -> ClinicRecord:
        async with self._sessionmaker() as session:
            registration = await session.get(
                ClinicRegistration, (input.workspace_id, input.location_id)
            )
            assert registration is not None
            registration.dosespot_clinic_id = clinic_id
            if clinic_key is not None:
                key_id, blob = self._secrets.seal(clinic_key.encode())
                registration.clinic_key_key_id = key_id
                registration.clinic_key_ciphertext = blob
                registration.status = ClinicStatus.registered.value
                registration.blocked_reason = None
            else:
                registration.status = ClinicStatus.blocked.value
                registration.blocked_reason = KEY_MISSING
            await session.commit()
            return clinic_record(registration)


def _heartbeat_scan(scanned: int, total: int) -> None:
    # One GET per partner clinic: without heartbeats a long scan looks like a dead worker.
    activity.heartbeat({"scanned": scanned, "total": total})


def _address(location: Location) -> Address:
    return Address(
        street_address=location.address1,
        suburb=location.address2,
        city=location.city,
        state=location.state,
        zip_code=location.zip_code,
        country=location.country,
    )


def _clinic_create(location: Location) -> ClinicCreate:
    return ClinicCreate(
        clinic_name=location.name,
        address1=location.address1,
        address2=location.address2,
        city=location.city,
        state=location.state,
        zip_code=location.zip_code,
        primary_phone=dosespot_phone(location.phone),
        primary_phone_type=PhoneType.Work,
        primary_fax=dosespot_phone(location.fax) if location.fax else None,
    )
