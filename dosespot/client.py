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
from types import TracebackType
from typing import Any, Self

import httpx

from dosespot.enums import RegistrationStatus, TfaType
from dosespot.errors import (
    DoseSpotAuthError,
    DoseSpotNotFound,
    DoseSpotUnavailable,
)
from dosespot.models import (
    AgreementAcceptance,
    Clinic,
    ClinicCreate,
    ClinicCredentials,
    Clinician,
    ClinicianCreate,
    LegalAgreement,
)
from dosespot.protocol import (
    DoseSpotCredentials,
    Reply,
    Request,
    accept_agreement_request,
    add_clinician_to_clinics_request,
    check_request,
    clinic_matches,
    clinician_clinic_ids_request,
    clinician_edit,
    create_clinic_request,
    create_clinician_request,
    find_clinician_by_npi_request,
    get_clinic_request,
    get_clinician_request,
    idp_init_request,
    init_tfa_activate_request,
    legal_agreements_request,
    parse_clinic_detail,
    parse_clinic_ids,
    parse_clinic_key,
    parse_clinician,
    parse_clinician_lookup,
    parse_identifier,
    parse_legal_agreements,
    parse_registration_status,
    parse_response,
    parse_response_list,
    parse_token,
    rate_limited,
    registration_status_request,
    token_request,
    update_clinician_request,
)

logger = logging.getLogger(__name__)

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
    """Bearer tokens per (clinic, user), shared by every client acting for that pair."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[int, int], _CachedToken] = {}
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}

    def get(self, key: tuple[int, int]) -> str | None:
        cached = self._tokens.get(key)
        if cached is None or cached.expires_at <= self._clock():
            return None
        return cached.access_token

    def put(self, key: tuple[int, int], access_token: str, expires_in: float) -> None:
        lifetime = expires_in - TOKEN_EXPIRY_MARGIN
        if lifetime > 0:
            self._tokens[key] = _CachedToken(access_token, self._clock() + lifetime)

    def discard(self, key: tuple[int, int], access_token: str) -> None:
        """Forget ``access_token`` unless a concurrent call already replaced it."""
        cached = self._tokens.get(key)
        if cached is not None and cached.access_token == access_token:
            del self._tokens[key]

    def lock(self, key: tuple[int, int]) -> asyncio.Lock:
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


def _operation(request: Request) -> str:
    return f"{request.method} {request.template}"


__all__ = ["DoseSpotClient", "DoseSpotCredentials", "TokenCache"]
