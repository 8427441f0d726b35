"""The live state of one sandbox: store, controls and background machinery."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from typing import Any

from fastapi import Request

from dosespot_sandbox.config import SandboxConfig
from dosespot_sandbox.faults import Faults
from dosespot_sandbox.journey import Journeys
from dosespot_sandbox.notifications import NotificationSettings, Notifier
from dosespot_sandbox.ratelimit import RateLimiter
from dosespot_sandbox.records import MedicationRecords
from dosespot_sandbox.registration import CLINICIAN_KIND, Registrations
from dosespot_sandbox.state import FIRST_GENERATED_ID, Store

logger = logging.getLogger("dosespot_sandbox")

CLINIC_KIND = "clinic"
TOKEN_KIND = "token"  # noqa: S105 (a document kind, not a secret)
REQUEST_LOG_LIMIT = 10_000


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        # /_sandbox/behaviour changes self.config; a reset goes back to this.
        self.configured = config
        first_id = max(FIRST_GENERATED_ID, config.partner_clinic_id + 1, config.partner_user_id + 1)
        self.store = Store(config.state_path, first_id=first_id)
        self.faults = Faults()
        self.limiter = RateLimiter(config.rate_limits)
        self.notifier = Notifier(
            self.default_notification_settings(), config.notification_timeout_seconds
        )
        self._requests: list[dict[str, Any]] = []
        self._requests_lock = threading.Lock()
        self.seed_partner()
        self.registrations = Registrations(self)
        self.journeys = Journeys(self)
        self.records = MedicationRecords(self)

    def advance(self) -> None:
        """Apply every timed step that is due: confirmations, proofing, two-factor,
        prescription statuses."""
        self.registrations.advance()
        self.journeys.advance()
        self.records.advance()

    async def run_clock(self, interval_seconds: float = 0.05) -> None:
        while True:
            try:
                self.advance()
            except Exception:
                # One broken document must not stop every other clinician's clock.
                logger.exception("advancing timed steps failed")
            await asyncio.sleep(interval_seconds)

    def default_notification_settings(self) -> NotificationSettings:
        return NotificationSettings(
            url=self.config.notification_url, secret=self.config.notification_secret
        )

    @staticmethod
    def new_clinic_key() -> str:
        return secrets.token_hex(16)

    def seed_partner(self) -> None:
        """Create or refresh the partner clinic and its admin user from the configuration."""
        config = self.config
        clinic = self.store.get(CLINIC_KIND, config.partner_clinic_id) or {
            "ClinicId": config.partner_clinic_id,
            "ClinicName": "Sandbox Partner Clinic",
            "Address1": "1 Partner Way",
            "City": "Boston",
            "State": "MA",
            "ZipCode": "02110",
            "PrimaryPhone": "6175550100",
            "PrimaryPhoneType": "Work",
            "Active": True,
        }
        clinic["ClinicKey"] = config.partner_clinic_key
        self.store.put(CLINIC_KIND, config.partner_clinic_id, clinic)
        user = self.store.get(CLINICIAN_KIND, config.partner_user_id) or {
            "ClinicianId": config.partner_user_id,
            "FirstName": "Partner",
            "LastName": "Admin",
            "DateOfBirth": "1970-01-01T00:00:00",
            "Address1": "1 Partner Way",
            "City": "Boston",
            "State": "MA",
            "ZipCode": "02110",
            "PrimaryPhone": "6175550100",
            "PrimaryPhoneType": "Work",
            "PrimaryFax": "6175550101",
            "ClinicianRoleType": ["ClinicianAdmin"],
            "Active": True,
            "Confirmed": True,
            "RegistrationStatus": "RegistrationSuccess",
            "ConfirmAt": None,
            "ClinicIds": [],
        }
        if config.partner_clinic_id not in user["ClinicIds"]:
            user["ClinicIds"].insert(0, config.partner_clinic_id)
        self.store.put(CLINICIAN_KIND, config.partner_user_id, user)

    def is_partner_doc(self, kind: str, doc: dict[str, Any]) -> bool:
        if kind == CLINIC_KIND:
            return doc.get("ClinicId") == self.config.partner_clinic_id
        if kind == CLINICIAN_KIND:
            return doc.get("ClinicianId") == self.config.partner_user_id
        if kind == TOKEN_KIND:
            return doc.get("ClinicId") == self.config.partner_clinic_id
        return False

    def reset(self) -> None:
        """Forget everything but the partner account (and its tokens); ids are never reused."""
        self.config = self.configured
        self.store.delete_where(self.is_partner_doc)
        partner = self.store.get(CLINICIAN_KIND, self.config.partner_user_id)
        if partner is not None:
            partner["ClinicIds"] = [self.config.partner_clinic_id]
            for journey_field in ("Agreements", "Idp", "Tfa", "TfaActivated"):
                partner.pop(journey_field, None)
            partner.update(Active=True, Confirmed=True, RegistrationStatus="RegistrationSuccess")
            self.store.put(CLINICIAN_KIND, self.config.partner_user_id, partner)
        self.seed_partner()
        self.registrations.rebuild()
        self.journeys.rebuild()
        self.records.rebuild()
        self.faults.clear()
        self.limiter.configure(self.config.rate_limits)
        self.notifier.configure(self.default_notification_settings())
        self.notifier.clear_plan()
        self.notifier.clear_log()
        self.clear_requests()

    def record_request(self, method: str, path: str, status: int, duration: float) -> None:
        entry = {
            "method": method,
            "path": path,
            "status": status,
            "at": time.time(),
            "duration_seconds": round(duration, 4),
        }
        with self._requests_lock:
            self._requests.append(entry)
            del self._requests[:-REQUEST_LOG_LIMIT]

    def requests(self) -> list[dict[str, Any]]:
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()


async def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox
