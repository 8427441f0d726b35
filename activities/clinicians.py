"""Clinician registration, verification and two-factor in DoseSpot; the clinician read model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.service import RPCError

from activities.dosespot_access import DoseSpotActivities
from activities.errors import dosespot_errors_as_application_errors
from db.audit import append_audit
from db.inbox import SIGNAL_TIMEOUT, claim, deliver_claimed, kept_for_clinician
from db.models import ClinicianEnrollment
from db.upsert import upsert
from dosespot import (
    ClinicianCreate,
    ClinicianRoleType,
    DeaNumber,
    MedicalLicenseNumber,
    NaDeaNumber,
    PhoneType,
)
from dosespot.notifications import CLINICIAN_EVENTS
from erx.us import dosespot_phone
from workflows.failures import NpiInUse
from workflows.models import (
    DOSESPOT_EVENT_SIGNAL,
    AgreementsResult,
    ClinicianRef,
    ClinicianSnapshot,
    DeactivateClinicianInput,
    DoseSpotEvent,
    EnrollmentForm,
    EpcsAuditInput,
    RegisterClinicianInput,
    RegistrationStatusResult,
)

EPRESCRIBING_AGREEMENT = "eprescribing"
NPI_IN_USE = "this NPI is already enrolled for another member; one clinician enrolls once"


class ClinicianActivities(DoseSpotActivities):
    @activity.defn(name="register_clinician")
    async def register_clinician(self, input: RegisterClinicianInput) -> int:
        """The clinician's DoseSpot id: found by NPI if an earlier attempt made it, else created."""
        form = input.form
        default = form.default_location
        client = await self._in_clinic(default.dosespot_clinic_id)
        with dosespot_errors_as_application_errors():
            clinician_id = await client.find_clinician_by_npi(form.npi)
            if clinician_id is None:
                clinician_id = await client.create_clinician(clinician_body(form))
            else:
                await self._refuse_if_linked_elsewhere(input, clinician_id)
                activity.logger.info("clinician already in DoseSpot; linking it")
            others = [loc.dosespot_clinic_id for loc in form.locations if not loc.is_default]
            if others:
                await client.add_clinician_to_clinics(clinician_id, others)
        with self._npi_in_use_on_conflict():
            async with self._sessionmaker() as session:
                await upsert(
                    session,
                    ClinicianEnrollment,
                    {
                        "workspace_id": input.workspace_id,
                        "member_id": input.member_id,
                        "state": "awaiting_confirmation",
                        "dosespot_clinician_id": clinician_id,
                        "npi_fingerprint": self._secrets.fingerprint(form.npi),
                        "dea_registrant": form.dea_registrant,
                        "tfa_active": False,
                        "epcs_enabled": False,
                        "idp_failed_attempts": 0,
                    },
                )
                await session.commit()
        await self._hand_over_kept_events(clinician_id)
        return clinician_id

    async def _hand_over_kept_events(self, clinician_id: int) -> None:
        """Give this enrollment the pushes about its clinician that came before its id was
        recorded above.

        DoseSpot can confirm a new clinician before this activity has written the id that
        routes its pushes; such a push was kept with no owner. Recorded first and read here
        after, a push is either routed by the notification route or found here, never lost
        to both. A push is a hint the workflow checks with DoseSpot, so one handed over
        twice costs one look. The hand-over is best effort: the workflow's polling covers
        one that does not get through.
        """
        workflow_id = activity.info().workflow_id
        if workflow_id is None:
            return
        handle = activity.client().get_workflow_handle(workflow_id)
        async with self._sessionmaker() as session:
            for key, occurrence, event_type in await kept_for_clinician(
                session, clinician_id, CLINICIAN_EVENTS
            ):
                received_at = await claim(session, key, occurrence)
                if received_at is None:
                    continue
                event = DoseSpotEvent(
                    event_type=event_type,
                    clinician_id=clinician_id,
                    data={"ClinicianId": clinician_id},
                    received_at=received_at.isoformat(),
                )
                signal = handle.signal(DOSESPOT_EVENT_SIGNAL, event, rpc_timeout=SIGNAL_TIMEOUT)
                try:
                    await deliver_claimed(session, key, occurrence, workflow_id, signal)
                except RPCError as err:
                    activity.logger.warning(
                        "kept %s not handed over (%s)", event_type, err.status.name
                    )
                    continue
                activity.logger.info("kept %s handed over", event_type)

    async def _refuse_if_linked_elsewhere(
        self, input: RegisterClinicianInput, clinician_id: int
    ) -> None:
        async with self._sessionmaker() as session:
            other = await session.scalar(
                select(ClinicianEnrollment.member_id).where(
                    ClinicianEnrollment.dosespot_clinician_id == clinician_id,
                    (ClinicianEnrollment.workspace_id != input.workspace_id)
                    | (ClinicianEnrollment.member_id != input.member_id),
                )
            )
        if other is not None:
            raise NpiInUse(NPI_IN_USE)

    @staticmethod
    @contextmanager
    def _npi_in_use_on_conflict() -> Iterator[None]:
        # Two enrollments racing for one NPI: the unique DoseSpot id lets only one through.
        try:
            yield
        except IntegrityError:
            raise NpiInUse(NPI_IN_USE) from None

    @activity.defn(name="clinician_registration_status")
    async def registration_status(self, ref: ClinicianRef) -> RegistrationStatusResult:
        client = await self._in_clinic(ref.clinic_id)
        with dosespot_errors_as_application_errors():
            status = await client.registration_status(ref.clinician_id)
        return RegistrationStatusResult(status=status.name)

    @activity.defn(name="start_identity_proofing")
    async def start_identity_proofing(self, ref: ClinicianRef) -> None:
        client = await self._in_clinic(ref.clinic_id)
        with dosespot_errors_as_application_errors():
            await client.idp_init(ref.clinician_id)

    @activity.defn(name="clinician_agreements")
    async def agreements(self, ref: ClinicianRef) -> AgreementsResult:
        client = await self._in_clinic(ref.clinic_id)
        with dosespot_errors_as_application_errors():
            agreements = await client.legal_agreements(ref.clinician_id)
        accepted = any(
            EPRESCRIBING_AGREEMENT in agreement_name(a).lower().replace("-", "")
            and agreement_accepted(a)
            for a in agreements
        )
        return AgreementsResult(eprescribing_accepted=accepted)

    @activity.defn(name="start_two_factor")
    async def start_two_factor(self, ref: ClinicianRef) -> None:
        client = await self._in_clinic(ref.clinic_id)
        with dosespot_errors_as_application_errors():
            await client.init_tfa_activate(ref.clinician_id)

    @activity.defn(name="deactivate_dosespot_clinician")
    async def deactivate(self, input: DeactivateClinicianInput) -> None:
        """Set ``Active: false`` on DoseSpot's current record; ``input.form`` is not used.

        The enrollment form is stale once anyone edits the clinician in DoseSpot, so the
        record is read back and only ``Active`` changes.
        """
        client = await self._in_clinic(input.ref.clinic_id)
        with dosespot_errors_as_application_errors():
            await client.deactivate_clinician(input.ref.clinician_id)

    @activity.defn(name="record_clinician")
    async def record(self, snapshot: ClinicianSnapshot) -> None:
        """Bring the clinician read model up to the workflow's state."""
        values: dict[str, object] = {
            "workspace_id": snapshot.workspace_id,
            "member_id": snapshot.member_id,
            "state": snapshot.state,
            "dea_registrant": snapshot.dea_registrant,
            "tfa_active": snapshot.tfa_active,
            "epcs_enabled": snapshot.epcs_enabled,
            "idp_failed_attempts": snapshot.idp_failed_attempts,
            "idp_path": snapshot.idp_path,
            "idp_deadline": snapshot.idp_deadline,
        }
        if snapshot.dosespot_clinician_id is not None:
            values["dosespot_clinician_id"] = snapshot.dosespot_clinician_id
        stamp = {
            "invited": "invited_at",
            "confirmed": "confirmed_at",
            "verified": "verified_at",
            "deactivated": "deactivated_at",
        }.get(snapshot.state)
        if stamp:
            values[stamp] = snapshot.at
        if snapshot.status is None:
            # A run that publishes only its state: the GETs ask the workflow instead.
            values["status_json"] = None
            async with self._sessionmaker() as session:
                await upsert(session, ClinicianEnrollment, values)
                await session.commit()
            return
        values["status_json"] = snapshot.status.model_dump_json()
        values["revision"] = snapshot.status.revision
        # A retried or overtaken write of an older revision changes nothing.
        async with self._sessionmaker() as session:
            await upsert(
                session,
                ClinicianEnrollment,
                values,
                where=lambda new: ClinicianEnrollment.revision < new.revision,
            )
            await session.commit()

    @activity.defn(name="append_epcs_audit")
    async def append_epcs_audit(self, entry: EpcsAuditInput) -> None:
        async with self._sessionmaker() as session:
            await append_audit(session, entry)
            await session.commit()


def agreement_name(agreement: object) -> str:
    for attr in ("agreement_type", "name", "title", "description"):
        value = getattr(agreement, attr, None)
        if value:
            return str(getattr(value, "name", value))
    return ""


def agreement_accepted(agreement: object) -> bool:
    return bool(getattr(agreement, "accepted", False))


def clinician_body(form: EnrollmentForm) -> ClinicianCreate:
    return ClinicianCreate(
        first_name=form.first_name,
        last_name=form.last_name,
        date_of_birth=form.date_of_birth,
        email=form.email,
        address1=form.address.street_address,
        address2=form.address.suburb,
        city=form.address.city,
        state=form.address.state,
        zip_code=form.address.zip_code,
        primary_phone=dosespot_phone(form.phone),
        primary_phone_type=PhoneType.Work,
        primary_fax=dosespot_phone(form.fax),
        npi_number=form.npi,
        roles=[ClinicianRoleType.PrescribingClinician],
        epcs_requested=form.dea_registrant,
        dea_numbers=[
            DeaNumber(dea_number=loc.dea_number, state=loc.state, clinic_id=loc.dosespot_clinic_id)
            for loc in form.locations
            if loc.dea_number
        ]
        or None,
        nadea_numbers=[
            NaDeaNumber(
                nadea_number=loc.nadea_number, state=loc.state, clinic_id=loc.dosespot_clinic_id
            )
            for loc in form.locations
            if loc.nadea_number
        ]
        or None,
        medical_license_numbers=[
            MedicalLicenseNumber(
                license_number=loc.license_number,
                state=loc.state,
                clinic_id=loc.dosespot_clinic_id,
            )
            for loc in form.locations
            if loc.license_number
        ]
        or None,
    )
