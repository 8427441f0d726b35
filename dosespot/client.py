"""The I/O shell of the DoseSpot client: tokens, one retry on 401, and httpx.

Every rule about what DoseSpot sends back lives in :mod:`dosespot.protocol`; this module
only moves bytes and caches tokens. It never waits: a 429 raises DoseSpotRateLimited at
once with the delay DoseSpot asked for, and the caller's retry policy (Temporal's, in the
worker) does the waiting. Logs name the method, the path template and the status, never a
body or query string (both carry personal data).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from dosespot import models, protocol
from dosespot.enums import (
    AllergyStatus,
    DrugStatus,
    PatientSearchStatus,
    PrescriptionStatusClass,
    RefillClinicScope,
    RegistrationStatus,
    TfaType,
)
from dosespot.errors import (
    DoseSpotAuthError,
    DoseSpotNotFound,
    DoseSpotUnavailable,
    DoseSpotUnexpectedResponse,
)
from dosespot.models import (
    AgreementAcceptance,
    Allergen,
    AllergyCreate,
    Clinic,
    ClinicCreate,
    ClinicCredentials,
    Clinician,
    ClinicianCreate,
    DiagnosisPage,
    DiagnosisSearchResult,
    FavoriteCreate,
    FavoritePage,
    LegalAgreement,
    MedicationPage,
    MedicationSearchResult,
    MedicationSelection,
    NotificationCounts,
    OrderSet,
    OrderSetCreate,
    OrderSetPage,
    Patient,
    PatientAllergy,
    PatientCreate,
    PatientInsuranceCreate,
    PatientPharmacy,
    PatientSummary,
    Pharmacy,
    PharmacyPage,
    PharmacyQuery,
    Prescription,
    PrescriptionFavorite,
    RefillApproval,
    RefillDenial,
    RefillRequest,
    RefillRequestDetail,
    SelfReportedMedication,
    Supply,
    SupplyPage,
    TransmissionError,
)
from dosespot.protocol import (
    DoseSpotCredentials,
    Reply,
    Request,
    TokenKey,
    accept_agreement_request,
    add_clinic_favorite_request,
    add_clinician_favorite_request,
    add_clinician_order_set_request,
    add_clinician_to_clinics_request,
    add_no_known_allergies_request,
    add_patient_allergy_request,
    add_patient_insurance_request,
    add_patient_pharmacy_request,
    add_patient_request,
    approve_refill_request,
    check_request,
    clinic_favorites_request,
    clinic_matches,
    clinic_order_sets_request,
    clinician_clinic_ids_request,
    clinician_edit,
    clinician_favorites_request,
    clinician_order_set_request,
    clinician_order_sets_request,
    create_clinic_request,
    create_clinician_request,
    delete_clinician_favorites_request,
    delete_clinician_order_set_request,
    deny_refill_request,
    edit_clinic_favorite_request,
    edit_clinician_favorite_request,
    edit_clinician_order_set_request,
    edit_patient_allergy_request,
    edit_patient_request,
    find_clinician_by_npi_request,
    get_clinic_request,
    get_clinician_request,
    get_patient_request,
    get_pharmacy_request,
    idp_init_request,
    init_tfa_activate_request,
    legal_agreements_request,
    notification_counts_request,
    parse_body,
    parse_clinic_detail,
    parse_clinic_ids,
    parse_clinic_key,
    parse_clinician,
    parse_clinician_lookup,
    parse_identifier,
    parse_item,
    parse_items,
    parse_legal_agreements,
    parse_notification_counts,
    parse_page,
    parse_patient,
    parse_registration_status,
    parse_response,
    parse_response_list,
    parse_token,
    patient_allergies_request,
    patient_pharmacies_request,
    patient_prescriptions_request,
    pending_refills_detailed_request,
    pending_refills_request,
    rate_limited,
    registration_status_request,
    remove_patient_pharmacy_request,
    remove_supervisors_request,
    search_allergens_request,
    search_diagnoses_request,
    search_medications_request,
    search_patients_request,
    search_pharmacies_request,
    search_supplies_request,
    select_medication_request,
    self_reported_medications_request,
    set_supervisor_request,
    token_request,
    transmission_errors_request,
    update_clinician_request,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

MAX_PAGES = 50
"""Pages a list read follows before it gives up (1,000 items at DoseSpot's 20 a page)."""

TOKEN_EXPIRY_MARGIN = 30.0
"""Seconds before ``expires_in`` at which a cached token is replaced."""

Clock = Callable[[], float]
ScanProgress = Callable[[int, int], None]
"""Told ``(scanned, total)`` after each clinic a scan has looked at."""


@dataclass(slots=True)
class _CachedToken:
    access_token: str
    expires_at: float


class TokenCache:
    """Bearer tokens per (clinic, user, on-behalf-of user), shared by every client acting
    for that combination: a proxy's own token and its token for a prescriber are apart."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[TokenKey, _CachedToken] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}

    def get(self, key: TokenKey) -> str | None:
        cached = self._tokens.get(key)
        if cached is None or cached.expires_at <= self._clock():
            return None
        return cached.access_token

    def put(self, key: TokenKey, access_token: str, expires_in: float) -> None:
        lifetime = expires_in - TOKEN_EXPIRY_MARGIN
        if lifetime > 0:
            self._tokens[key] = _CachedToken(access_token, self._clock() + lifetime)

    def discard(self, key: TokenKey, access_token: str) -> None:
        """Forget ``access_token`` unless a concurrent call already replaced it."""
        cached = self._tokens.get(key)
        if cached is not None and cached.access_token == access_token:
            del self._tokens[key]

    def lock(self, key: TokenKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())


class DoseSpotClient:
    """DoseSpot API v2, acting as one (clinic, user).

    Errors are the typed ones of :mod:`dosespot.errors`. Creates are not idempotent on
    DoseSpot's side: look first (:meth:`find_clinician_by_npi`, :meth:`find_clinic`).
    """

    def __init__(
        self,
        base_url: str,
        subscription_key: str,
        credentials: DoseSpotCredentials,
        *,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"Subscription-Key": subscription_key, "Accept": "application/json"},
            follow_redirects=False,
        )
        self._owns_http = True
        self._credentials = credentials
        self._tokens = TokenCache(clock)
        self._clock = clock

    @property
    def credentials(self) -> DoseSpotCredentials:
        return self._credentials

    def as_user(self, credentials: DoseSpotCredentials) -> DoseSpotClient:
        """A client acting as another (clinic, user), sharing connections and tokens."""
        other = copy.copy(self)
        other._credentials = credentials
        other._owns_http = False
        return other

    async def aclose(self) -> None:
        """Close the connection pool; clients made by :meth:`as_user` leave it open."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Operations

    async def check(self) -> None:
        """``GET api/general/check``: DoseSpot is up and our credentials work."""
        request = check_request()
        parse_response(await self._call(request), operation=_operation(request))

    async def create_clinic(self, clinic: ClinicCreate) -> ClinicCredentials:
        """``POST api/clinics``. Not idempotent: call :meth:`find_clinic` first."""
        request = create_clinic_request(clinic)
        return parse_clinic_key(await self._call(request), operation=_operation(request))

    async def get_clinic(self, clinic_id: int) -> Clinic:
        request = get_clinic_request(clinic_id)
        return parse_clinic_detail(
            await self._call(request), clinic_id, operation=_operation(request)
        )

    async def clinician_clinic_ids(self, clinician_id: int) -> list[int]:
        request = clinician_clinic_ids_request(clinician_id)
        return parse_clinic_ids(await self._call(request), operation=_operation(request))

    async def create_clinician(self, clinician: ClinicianCreate) -> int:
        """``POST api/clinicians``. Not idempotent: call :meth:`find_clinician_by_npi` first."""
        request = create_clinician_request(clinician)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def get_clinician(self, clinician_id: int) -> Clinician:
        request = get_clinician_request(clinician_id)
        return parse_clinician(await self._call(request), operation=_operation(request))

    async def find_clinician_by_npi(self, npi: str) -> int | None:
        """The id of the clinician DoseSpot holds under ``npi``, or None."""
        if not npi.strip():
            raise ValueError("npi must not be empty")
        request = find_clinician_by_npi_request(npi)
        return parse_clinician_lookup(await self._call(request), operation=_operation(request))

    async def registration_status(self, clinician_id: int) -> RegistrationStatus:
        """Status at the clinic of this client's credentials; unknown values raise."""
        request = registration_status_request(clinician_id)
        return parse_registration_status(await self._call(request), operation=_operation(request))

    async def add_clinician_to_clinics(self, clinician_id: int, clinic_ids: Iterable[int]) -> None:
        """Link a clinician to clinics; any clinic DoseSpot refuses raises DoseSpotRefused."""
        ids = list(dict.fromkeys(int(clinic_id) for clinic_id in clinic_ids))
        if not ids:
            return
        request = add_clinician_to_clinics_request(clinician_id, ids)
        parse_response_list(await self._call(request), operation=_operation(request))

    async def set_supervisor(self, clinician_id: int, clinic_id: int, supervisor_id: int) -> None:
        """Make ``supervisor_id`` the prescribing agent's supervising prescriber in a clinic."""
        request = set_supervisor_request(clinician_id, clinic_id, supervisor_id)
        parse_response(await self._call(request), operation=_operation(request))

    async def remove_supervisors(self, clinician_id: int, clinic_ids: Iterable[int]) -> None:
        """Clear the clinics' supervising prescriber of a prescribing agent."""
        request = remove_supervisors_request(clinician_id, clinic_ids)
        parse_response(await self._call(request), operation=_operation(request))

    async def update_clinician(self, clinician_id: int, clinician: ClinicianCreate) -> None:
        """``PUT api/clinicians/{clinicianId}``: replaces the record, so send all of it.

        To change a few fields, use :meth:`update_clinician_fields`.
        """
        request = update_clinician_request(clinician_id, clinician)
        parse_response(await self._call(request), operation=_operation(request))

    async def update_clinician_fields(self, clinician_id: int, **changes: Any) -> None:
        """Change only ``changes`` (:class:`ClinicianCreate` field names) of a clinician.

        Reads the record as DoseSpot holds it now and puts it back with ``changes`` applied,
        so whatever was edited in DoseSpot since enrollment (prefix, suffix, PDMP role,
        specialty, DEA numbers...) is kept. DoseSpot offers no version check: an edit
        landing between the read and the write is lost, so keep the two close together.
        """
        current = await self.get_clinician(clinician_id)
        await self.update_clinician(clinician_id, clinician_edit(current, changes))

    async def deactivate_clinician(self, clinician_id: int) -> None:
        """Deactivate a clinician: DoseSpot deletes nothing, it edits with ``Active: false``.

        Only ``Active`` changes. Afterwards the clinician can no longer get tokens or sign
        in by SSO.
        """
        await self.update_clinician_fields(clinician_id, active=False)

    async def legal_agreements(self, clinician_id: int) -> list[LegalAgreement]:
        """The agreements the clinician signs in DoseSpot's UI, each with its accepted state."""
        request = legal_agreements_request(clinician_id)
        return parse_legal_agreements(await self._call(request), operation=_operation(request))

    async def accept_agreement(self, agreement_id: int, name_signed: str) -> None:
        """``POST api/clinicians/acceptAgreement`` for the user of this client's credentials.

        The body names no clinician: DoseSpot records the acceptance for the token's user,
        so call this on ``client.as_user(<the clinician's credentials>)``.
        """
        acceptance = AgreementAcceptance(agreement_id=agreement_id, name_signed=name_signed)
        request = accept_agreement_request(acceptance)
        parse_response(await self._call(request), operation=_operation(request))

    async def idp_init(self, clinician_id: int) -> None:
        """Start identity proofing; the clinician completes it in DoseSpot's UI.

        Each call after a failed attempt starts the next one (three with Experian, then
        ID.me); success is reported by the ``ClinicianIDPCompleteSuccess`` push and by
        :meth:`registration_status`.
        """
        request = idp_init_request(clinician_id)
        parse_response(await self._call(request), operation=_operation(request))

    async def init_tfa_activate(
        self, clinician_id: int, tfa_type: TfaType = TfaType.Mobile
    ) -> None:
        """Start two-factor activation (after identity proofing succeeded).

        The clinician activates Duo and sets a PIN in DoseSpot's UI; success is reported by
        the ``ClinicianTfaActivateSuccess`` push and by :meth:`registration_status`.
        """
        request = init_tfa_activate_request(clinician_id, TfaType.parse(tfa_type))
        parse_response(await self._call(request), operation=_operation(request))

    async def find_clinic(
        self,
        candidate: ClinicCreate,
        clinic_ids: Iterable[int],
        *,
        on_progress: ScanProgress | None = None,
    ) -> Clinic | None:
        """The first of ``clinic_ids`` describing the same location as ``candidate``.

        One GET per clinic, so a partner with many clinics makes this long: ``on_progress``
        is told ``(scanned, total)`` after each clinic (an activity heartbeats from it).
        A clinic that no longer exists is skipped; any other failure propagates, since
        guessing "absent" would create a duplicate clinic.
        """
        ids = list(dict.fromkeys(clinic_ids))
        for scanned, clinic_id in enumerate(ids, start=1):
            try:
                clinic = await self.get_clinic(clinic_id)
            except DoseSpotNotFound:
                clinic = None
            if on_progress is not None:
                on_progress(scanned, len(ids))
            if clinic is not None and clinic_matches(candidate, clinic):
                return clinic
        return None

    # Patients

    async def search_patients(
        self,
        first_name: str,
        last_name: str,
        date_of_birth: date,
        *,
        status: PatientSearchStatus | str | int | None = None,
    ) -> list[PatientSummary]:
        """Patients matching name and date of birth, every page of them.

        DoseSpot can hold several patients for one name and birth date: a caller must not
        guess among them. Look here before :meth:`add_patient`, which makes a twin if retried.
        """
        return await self._all_pages(
            lambda page: search_patients_request(
                first_name, last_name, date_of_birth, status=status, page=page
            ),
            PatientSummary,
        )

    async def add_patient(self, patient: PatientCreate) -> int:
        """``POST api/patients``: the new patient's id. Not idempotent: search first."""
        request = add_patient_request(patient)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def edit_patient(self, patient_id: int, patient: PatientCreate) -> None:
        """``PUT api/patients/{patientId}``: replaces the record, so send all of it.

        There is no DELETE: a patient is retired by an edit with ``active=False``.
        """
        request = edit_patient_request(patient_id, patient)
        parse_response(await self._call(request), operation=_operation(request))

    async def get_patient(self, patient_id: int) -> Patient:
        request = get_patient_request(patient_id)
        return parse_patient(await self._call(request), operation=_operation(request))

    async def add_patient_insurance(
        self, patient_id: int, insurance: PatientInsuranceCreate
    ) -> int:
        """Add the patient's insurance plan as a custom insurance (if the clinic allows it)."""
        request = add_patient_insurance_request(patient_id, insurance)
        return parse_identifier(await self._call(request), operation=_operation(request))

    # Allergies

    async def search_allergens(self, name: str, *, page: int = 1) -> list[Allergen]:
        """Allergen classes and ingredients matching ``name`` (3+ characters), one page."""
        request = search_allergens_request(name, page=page)
        reply = await self._call(request)
        return parse_page(reply, Allergen, operation=_operation(request)).items

    async def patient_allergies(self, patient_id: int) -> list[PatientAllergy]:
        request = patient_allergies_request(patient_id)
        return parse_items(await self._call(request), PatientAllergy, operation=_operation(request))

    async def add_patient_allergy(self, patient_id: int, allergy: AllergyCreate) -> int:
        """Record a coded or a free-text allergy; returns the patient allergy id."""
        request = add_patient_allergy_request(patient_id, allergy)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def add_no_known_allergies(self, patient_id: int) -> int:
        """Record "no known allergies"; returns the patient allergy id of that record."""
        request = add_no_known_allergies_request(patient_id)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def edit_patient_allergy(
        self, patient_id: int, allergy_id: int, allergy: AllergyCreate
    ) -> None:
        """Change an allergy's reaction, reaction type, status or onset (not what it is to)."""
        request = edit_patient_allergy_request(patient_id, allergy_id, allergy)
        parse_response(await self._call(request), operation=_operation(request))

    async def delete_patient_allergy(self, patient_id: int, allergy_id: int) -> None:
        """Mark an allergy ``Deleted``: DoseSpot has no DELETE for allergies.

        The edit needs the allergy's reaction type, so the record is read first; an allergy
        no longer listed is taken as already gone, so a retried delete succeeds.
        """
        for allergy in await self.patient_allergies(patient_id):
            if allergy.patient_allergy_id == int(allergy_id):
                if allergy.status_type is AllergyStatus.Deleted:
                    return
                edit = AllergyCreate.from_allergy(allergy).model_copy(
                    update={"status_type": AllergyStatus.Deleted}
                )
                await self.edit_patient_allergy(patient_id, allergy_id, edit)
                return

    # Pharmacies

    async def search_pharmacies(self, query: PharmacyQuery, page: int = 1) -> PharmacyPage:
        """One page (20 in DoseSpot) of pharmacies matching ``query``, with the page info."""
        request = search_pharmacies_request(query, page=page)
        found = parse_page(await self._call(request), Pharmacy, operation=_operation(request))
        return PharmacyPage(items=found.items, page=found.page)

    async def get_pharmacy(self, pharmacy_id: int) -> Pharmacy:
        """One pharmacy; an unknown id is DoseSpotNotFound (HTTP 404) or DoseSpotRefused."""
        request = get_pharmacy_request(pharmacy_id)
        return parse_item(await self._call(request), Pharmacy, operation=_operation(request))

    async def patient_pharmacies(self, patient_id: int) -> list[PatientPharmacy]:
        """The patient's pharmacies; ``is_default`` marks the primary."""
        request = patient_pharmacies_request(patient_id)
        reply = await self._call(request)
        return parse_items(reply, PatientPharmacy, operation=_operation(request))

    async def add_patient_pharmacy(
        self, patient_id: int, pharmacy_id: int, set_as_primary: bool
    ) -> None:
        """Add a pharmacy to the patient's list; ``set_as_primary`` makes it the default."""
        request = add_patient_pharmacy_request(patient_id, pharmacy_id, set_as_primary)
        parse_response(await self._call(request), operation=_operation(request))

    async def remove_patient_pharmacy(self, patient_id: int, pharmacy_id: int) -> None:
        """Remove a pharmacy from the patient's list; prescriptions already sent stay."""
        request = remove_patient_pharmacy_request(patient_id, pharmacy_id)
        parse_response(await self._call(request), operation=_operation(request))

    # Medications, prescriptions and queues

    async def search_medications(
        self, name: str, *, drug_status: DrugStatus | str | int | None = None, page: int = 1
    ) -> list[MedicationSearchResult]:
        """Dispensable drugs matching ``name`` (3+ characters), one page."""
        request = search_medications_request(name, drug_status=drug_status, page=page)
        reply = await self._call(request)
        return parse_page(reply, MedicationSearchResult, operation=_operation(request)).items

    async def select_medication(
        self,
        *,
        dispensable_drug_id: int | None = None,
        ndc: str | None = None,
        rxcui: int | None = None,
    ) -> MedicationSelection:
        """A drug's detail by one of its ids: dispense unit and schedule (controlled if 2..5)."""
        request = select_medication_request(
            dispensable_drug_id=dispensable_drug_id, ndc=ndc, rxcui=rxcui
        )
        return parse_item(
            await self._call(request), MedicationSelection, operation=_operation(request)
        )

    async def patient_prescriptions(
        self,
        patient_id: int,
        start: date,
        end: date,
        *,
        status_class: PrescriptionStatusClass | str | int | None = None,
    ) -> list[Prescription]:
        """Every prescription written from ``start`` to ``end`` (inclusive, UTC days)."""
        return await self._all_pages(
            lambda page: patient_prescriptions_request(
                patient_id, start, end, status_class=status_class, page=page
            ),
            Prescription,
        )

    async def self_reported_medications(
        self, patient_id: int, *, start: date | None = None, end: date | None = None
    ) -> list[SelfReportedMedication]:
        return await self._all_pages(
            lambda page: self_reported_medications_request(
                patient_id, start=start, end=end, page=page
            ),
            SelfReportedMedication,
        )

    async def pending_refills(
        self, *, patient_id: int | None = None, clinic: RefillClinicScope | str | int | None = None
    ) -> list[RefillRequest]:
        """Renewal requests waiting for this client's user, all pages."""
        return await self._all_pages(
            lambda page: pending_refills_request(patient_id=patient_id, clinic=clinic, page=page),
            RefillRequest,
        )

    async def pending_refills_detailed(
        self, *, patient_id: int | None = None, clinic: RefillClinicScope | str | int | None = None
    ) -> list[RefillRequestDetail]:
        """Renewal requests waiting for this client's user with their prescriptions (the
        drug's name and schedule), all pages."""
        return await self._all_pages(
            lambda page: pending_refills_detailed_request(
                patient_id=patient_id, clinic=clinic, page=page
            ),
            RefillRequestDetail,
        )

    async def approve_refill(self, refill_id: int, approval: RefillApproval) -> None:
        """Approve a renewal request as this client's user (the prescriber it waits for)."""
        request = approve_refill_request(refill_id, approval)
        parse_response(await self._call(request), operation=_operation(request))

    async def deny_refill(self, refill_id: int, denial: RefillDenial) -> None:
        """Deny a renewal request as this client's user, with one of DoseSpot's reasons."""
        request = deny_refill_request(refill_id, denial)
        parse_response(await self._call(request), operation=_operation(request))

    async def transmission_errors(
        self, *, clinic: RefillClinicScope | str | int | None = None
    ) -> list[TransmissionError]:
        """Prescriptions the network refused, with DoseSpot's error text, all pages.

        A prescription's own record carries only its Error status; the words come from here
        (or from the PrescriptionResult push, which may be lost).
        """
        return await self._all_pages(
            lambda page: transmission_errors_request(clinic=clinic, page=page),
            TransmissionError,
        )

    async def notification_counts(self) -> NotificationCounts:
        """This user's queues at this client's clinic (the REST names, not the push's)."""
        request = notification_counts_request()
        return parse_notification_counts(await self._call(request), operation=_operation(request))

    # The prescribing catalogue: diagnoses, supplies, favourites and order sets

    async def search_diagnoses(self, text: str, *, page: int = 1) -> DiagnosisPage:
        """ICD-10 diagnoses whose code or name matches ``text`` (3+ characters), one page."""
        request = search_diagnoses_request(text, page=page)
        found = parse_page(
            await self._call(request), DiagnosisSearchResult, operation=_operation(request)
        )
        return DiagnosisPage(items=found.items, page=found.page)

    async def medication_page(self, name: str, *, page: int = 1) -> MedicationPage:
        """Active dispensable drugs matching ``name`` (3+ characters), with the page info."""
        request = search_medications_request(name, page=page)
        found = parse_page(
            await self._call(request), MedicationSearchResult, operation=_operation(request)
        )
        return MedicationPage(items=found.items, page=found.page)

    async def search_supplies(self, name: str, *, page: int = 1) -> SupplyPage:
        """Supplies matching ``name`` (3+ characters), one page."""
        request = search_supplies_request(name, page=page)
        found = parse_page(await self._call(request), Supply, operation=_operation(request))
        return SupplyPage(items=found.items, page=found.page)

    async def get_supply(self, supply_id: int) -> Supply:
        """One supply of the catalogue."""
        request = protocol.get_supply_request(supply_id)
        return parse_item(await self._call(request), Supply, operation=_operation(request))

    async def clinic_favorites(
        self, clinic_id: int, *, search_name: str | None = None, page: int = 1
    ) -> FavoritePage:
        """The clinic's prescription favourites (its presets), 100 a page."""
        request = clinic_favorites_request(clinic_id, search_name=search_name, page=page)
        found = parse_page(
            await self._call(request), PrescriptionFavorite, operation=_operation(request)
        )
        return FavoritePage(items=found.items, page=found.page)

    async def clinician_favorites(
        self, clinician_id: int, *, search_name: str | None = None, page: int = 1
    ) -> FavoritePage:
        """A clinician's own prescription favourites, 100 a page."""
        request = clinician_favorites_request(clinician_id, search_name=search_name, page=page)
        found = parse_page(
            await self._call(request), PrescriptionFavorite, operation=_operation(request)
        )
        return FavoritePage(items=found.items, page=found.page)

    async def add_clinic_favorite(self, clinic_id: int, favorite: FavoriteCreate) -> int:
        """Add a clinic favourite (coded, supply or compiled compound); its id."""
        request = add_clinic_favorite_request(clinic_id, favorite)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def edit_clinic_favorite(
        self, clinic_id: int, favorite_id: int, favorite: FavoriteCreate
    ) -> None:
        """Replace a clinic favourite; it stays the kind it is."""
        request = edit_clinic_favorite_request(clinic_id, favorite_id, favorite)
        parse_response(await self._call(request), operation=_operation(request))

    async def add_clinician_favorite(self, favorite: FavoriteCreate) -> int:
        """Add a favourite for the user of this client's credentials; its id."""
        request = add_clinician_favorite_request(favorite)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def edit_clinician_favorite(self, favorite_id: int, favorite: FavoriteCreate) -> None:
        """Replace one of this user's favourites; it stays the kind it is."""
        request = edit_clinician_favorite_request(favorite_id, favorite)
        parse_response(await self._call(request), operation=_operation(request))

    async def delete_clinician_favorites(self, favorite_ids: Iterable[int]) -> None:
        """Delete favourites of this user; one DoseSpot refuses refuses the call."""
        request = delete_clinician_favorites_request(favorite_ids)
        parse_response_list(await self._call(request), operation=_operation(request))

    async def clinic_order_sets(self, *, search: str | None = None, page: int = 1) -> OrderSetPage:
        """The order sets of this client's clinic, each with its favourites."""
        request = clinic_order_sets_request(search=search, page=page)
        found = parse_page(await self._call(request), OrderSet, operation=_operation(request))
        return OrderSetPage(items=found.items, page=found.page)

    async def clinician_order_sets(
        self, *, search: str | None = None, page: int = 1
    ) -> OrderSetPage:
        """This user's order sets, each with its favourites."""
        request = clinician_order_sets_request(search=search, page=page)
        found = parse_page(await self._call(request), OrderSet, operation=_operation(request))
        return OrderSetPage(items=found.items, page=found.page)

    async def clinician_order_set(self, order_set_id: int) -> OrderSet:
        request = clinician_order_set_request(order_set_id)
        return parse_body(await self._call(request), OrderSet, operation=_operation(request))

    async def add_clinician_order_set(self, order_set: OrderSetCreate) -> int:
        """Add an order set for this user; its id."""
        request = add_clinician_order_set_request(order_set)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def edit_clinician_order_set(self, order_set_id: int, order_set: OrderSetCreate) -> None:
        """Replace one of this user's order sets (title and every entry)."""
        request = edit_clinician_order_set_request(order_set_id, order_set)
        parse_response(await self._call(request), operation=_operation(request))

    async def delete_clinician_order_set(self, order_set_id: int) -> None:
        request = delete_clinician_order_set_request(order_set_id)
        parse_response(await self._call(request), operation=_operation(request))

    async def _all_pages(self, build: Callable[[int], Request], model: type[M]) -> list[M]:
        """Read pages 1, 2, ... until DoseSpot says there is no next one."""
        items: list[M] = []
        for number in range(1, MAX_PAGES + 1):
            request = build(number)
            page = parse_page(await self._call(request), model, operation=_operation(request))
            items.extend(page.items)
            more = page.page.has_next or page.page.current_page < page.page.total_pages
            if not more or not page.items:
                return items
        # A truncated list would pass for a complete one (a patient search that misses the
        # patient makes a twin), so running out of pages is a failure, not a result.
        raise DoseSpotUnexpectedResponse(f"{_operation(request)}: more than {MAX_PAGES} pages")

    # Transport

    async def _call(self, request: Request) -> Reply:
        """Send an API request with a bearer token, refreshing it once on 401."""
        key = self._credentials.token_key
        bearer = await self._bearer()
        reply = await self._send(request, bearer)
        if reply.status == 401:
            self._tokens.discard(key, bearer)
            bearer = await self._bearer()
            reply = await self._send(request, bearer)
            if reply.status == 401:
                raise DoseSpotAuthError(
                    f"{_operation(request)}: unauthorised with a fresh token",
                    http_status=401,
                    request_id=reply.request_id,
                )
        return reply

    async def _bearer(self) -> str:
        key = self._credentials.token_key
        token = self._tokens.get(key)
        if token is not None:
            return token
        async with self._tokens.lock(key):
            token = self._tokens.get(key)
            if token is not None:
                return token
            issued = parse_token(await self._send(token_request(self._credentials), None))
            self._tokens.put(key, issued.access_token, issued.expires_in)
            return issued.access_token

    async def _send(self, request: Request, bearer: str | None) -> Reply:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        started = self._clock()
        try:
            response = await self._http.request(
                request.method,
                request.path,
                params=request.params,
                json=request.json,
                data=request.form,
                headers=headers,
            )
        except httpx.RequestError as exc:
            logger.warning("DoseSpot %s failed: %s", _operation(request), type(exc).__name__)
            raise DoseSpotUnavailable(
                f"{_operation(request)}: {type(exc).__name__}", retryable=True
            ) from exc
        reply = Reply(response.status_code, response.headers, response.content)
        logger.log(
            logging.INFO if reply.status < 400 else logging.WARNING,
            "DoseSpot %s -> %d in %.0f ms (request id %s)",
            _operation(request),
            reply.status,
            (self._clock() - started) * 1000,
            reply.request_id or "-",
        )
        if reply.status == 429:
            raise rate_limited(reply, operation=_operation(request))
        return reply

    # Prescriptions written, sent and signed through the API (Full plan)

    async def add_prescription(
        self, patient_id: int, prescription: models.PrescriptionCreate
    ) -> int:
        """A pending (``Entered``) prescription of a coded drug, a supply, a free-text
        supply or a compound; its id. Not idempotent: DoseSpot makes a second one if
        retried, so a caller looks for ``non_dosespot_prescription_id`` first."""
        request = protocol.add_prescription_request(patient_id, prescription)
        return parse_identifier(await self._call(request), operation=_operation(request))

    async def add_coded_prescription(
        self, patient_id: int, prescription: models.CodedPrescriptionCreate
    ) -> int:
        return await self.add_prescription(patient_id, prescription)

    async def edit_coded_prescription(
        self, patient_id: int, prescription_id: int, prescription: models.CodedPrescriptionCreate
    ) -> None:
        """Replace a pending prescription's details (DoseSpot marks it ``Edited``)."""
        request = protocol.edit_coded_prescription_request(
            patient_id, prescription_id, prescription
        )
        parse_response(await self._call(request), operation=_operation(request))

    async def get_prescription(self, patient_id: int, prescription_id: int) -> Prescription:
        request = protocol.get_prescription_request(patient_id, prescription_id)
        reply = await self._call(request)
        return parse_item(reply, Prescription, operation=_operation(request), key="Prescription")

    async def delete_prescriptions(
        self, patient_id: int, prescription_ids: Iterable[int]
    ) -> list[models.SendOutcome]:
        """Delete pending prescriptions; each id answers on its own."""
        request = protocol.delete_prescriptions_request(patient_id, prescription_ids)
        return protocol.parse_send_outcomes(
            await self._call(request), operation=_operation(request)
        )

    async def send_prescriptions(
        self, patient_id: int, prescription_ids: Iterable[int]
    ) -> list[models.SendOutcome]:
        """Send pending (or failed) prescriptions as this client's user, who must be their
        prescriber. Each id answers on its own; a refused one carries DoseSpot's words."""
        request = protocol.send_prescriptions_request(patient_id, prescription_ids)
        return protocol.parse_send_outcomes(
            await self._call(request), operation=_operation(request)
        )

    async def set_prescriptions_printed(
        self, patient_id: int, prescription_ids: Iterable[int]
    ) -> None:
        """Record that prescriptions were printed: DoseSpot's status becomes ``Printed``.
        Not idempotent in DoseSpot's record, so a caller reads the status first."""
        request = protocol.set_printed_request(patient_id, prescription_ids)
        parse_response(await self._call(request), operation=_operation(request))

    async def send_epcs_prescriptions(
        self, patient_id: int, prescription_ids: Iterable[int], *, pin: str, otp: str
    ) -> list[models.SendOutcome]:
        """Sign and send controlled-substance prescriptions with the prescriber's PIN and
        one-time code. Neither is kept or logged here: they exist only in the request body."""
        request = protocol.send_epcs_request(patient_id, prescription_ids, pin, otp)
        return protocol.parse_send_outcomes(
            await self._call(request), operation=_operation(request)
        )

    async def allergy_interactions(self, patient_id: int) -> list[models.AllergyInteraction]:
        """DoseSpot's warnings where the patient's allergies meet their medications."""
        request = protocol.allergy_interactions_request(patient_id)
        return parse_items(
            await self._call(request), models.AllergyInteraction, operation=_operation(request)
        )


def _operation(request: Request) -> str:
    return f"{request.method} {request.template}"


__all__ = ["DoseSpotClient", "DoseSpotCredentials", "TokenCache"]
