"""Prescriptions through the API: drafts, their review, the send request, the dose calculator.

Every bound is checked here, before anything reaches DoseSpot (422 naming the field and the
reason): DoseSpot's own ranges (refills 0-99, days supply 1-365, directions 1,000 and
pharmacy notes 210 characters) and ours (at most two ICD-10 diagnosis codes, an effective
date not in the past). The prescriber's PIN and one-time code are secrets: never echoed in
an error, a repr or a log.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.catalogue_schemas import (
    CompoundItem,
    DoseSpotId,
    Item,
    ItemKind,
    MedicationItem,
    Scope,
    SupplyItem,
)
from api.schemas import RequestModel, ResourceId, UtcDateTime

# ICD-10-CM: a letter, a digit, a digit or letter, then optionally a dot and 1-4 more.
ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
MAX_QUANTITY = Decimal("99999")
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class Sig(RequestModel):
    """Structured directions: "Take 1 tablet by mouth twice daily for 10 days"."""

    action: Words = Field(description="Take, Apply, Inhale, Inject, ...")
    dose_quantity: Decimal = Field(gt=0, le=1000, description="How much per dose, e.g. 1")
    dose_form: Words = Field(description="tablet, capsule, mL, puff, ...")
    route: Words = Field(description="by mouth, topically, ...")
    frequency: Words = Field(description="twice daily, every 8 hours, ...")
    duration: Words | None = Field(default=None, description="for 10 days")

    def render(self) -> str:
        dose = f"{self.dose_quantity.normalize():f}"
        parts = [self.action, dose, self.dose_form, self.route, self.frequency, self.duration]
        return " ".join(p for p in parts if p)


Prescribed = MedicationItem | SupplyItem | CompoundItem


class PrescriptionItem(RequestModel):
    """One prescription to draft: a coded medication by ``dispensable_drug_id``, or any
    kind of item by ``item`` (a medication, a supply of DoseSpot's catalogue, a custom
    supply written out, or a custom compound compiled from its ingredients)."""

    dispensable_drug_id: int | None = Field(
        default=None, gt=0, description="DoseSpot's dispensable drug id (a coded medication)"
    )
    item: Item | None = Field(
        default=None,
        description="What is prescribed, instead of dispensable_drug_id: a medication, a "
        "supply (supply_id, or name for a custom supply) or a compound",
    )
    diagnosis_codes: list[str] = Field(
        default_factory=list, description="Up to 2 ICD-10 codes, e.g. J02.9"
    )
    no_substitutions: StrictBool = False
    urgent: StrictBool = False
    sig: Sig | None = Field(default=None, description="Renders the directions")
    directions: str | None = Field(
        default=None, description="Free-text patient directions (instead of sig)"
    )
    dispense_quantity: Decimal = Field(description="How much the pharmacy dispenses")
    dispense_unit_id: int = Field(gt=0, description="DoseSpot's dispense unit id")
    days_supply: int | None = Field(default=None)
    refills: int = Field(default=0)
    effective_date: date | None = Field(default=None, description="Default today; not past")
    pharmacy_id: int | None = Field(default=None, gt=0, description="Default: the patient's")
    pharmacy_notes: str | None = Field(default=None)

    @field_validator("diagnosis_codes")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        if len(codes) > 2:
            raise ValueError("at most 2 diagnosis codes")
        cleaned = [c.strip().upper() for c in codes]
        for code in cleaned:
            if not ICD10.match(code):
                raise ValueError("each diagnosis code is an ICD-10 code, e.g. J02.9")
        return cleaned

    @field_validator("directions")
    @classmethod
    def _directions(cls, text: str | None) -> str | None:
        if text is None:
            return None
        text = text.strip()
        if not text:
            raise ValueError("must not be blank")
        if len(text) > 1000:
            raise ValueError("at most 1,000 characters")
        return text

    @field_validator("pharmacy_notes")
    @classmethod
    def _notes(cls, text: str | None) -> str | None:
        if text is not None and len(text) > 210:
            raise ValueError("at most 210 characters")
        return text.strip() or None if text is not None else None

    @field_validator("dispense_quantity")
    @classmethod
    def _quantity(cls, quantity: Decimal) -> Decimal:
        if not 0 < quantity <= MAX_QUANTITY:
            raise ValueError("must be more than 0 and at most 99,999")
        return quantity

    @field_validator("refills")
    @classmethod
    def _refills(cls, refills: int) -> int:
        if not 0 <= refills <= 99:
            raise ValueError("must be from 0 to 99 (DoseSpot's range)")
        return refills

    @field_validator("days_supply")
    @classmethod
    def _days(cls, days: int | None) -> int | None:
        if days is not None and not 1 <= days <= 365:
            raise ValueError("must be from 1 to 365")
        return days

    @model_validator(mode="after")
    def _one_item(self) -> PrescriptionItem:
        if (self.dispensable_drug_id is None) == (self.item is None):
            raise ValueError("name what is prescribed: dispensable_drug_id or item, not both")
        return self

    def prescribed(self) -> Prescribed:
        if self.item is not None:
            return self.item
        assert self.dispensable_drug_id is not None
        return MedicationItem(kind="medication", dispensable_drug_id=self.dispensable_drug_id)

    def patient_directions(self) -> str | None:
        if self.directions:
            return self.directions
        return self.sig.render() if self.sig else None


class FavoriteUse(RequestModel):
    """A favourite (the clinic's presets, or the prescriber's own) prescribed as it is,
    with what this prescription changes."""

    scope: Scope = Field(description="clinic: the clinic's presets; clinician: the prescriber's")
    favorite_id: DoseSpotId
    directions: str | None = Field(default=None, description="Instead of the favourite's")
    refills: int | None = Field(default=None, description="Instead of the favourite's")
    days_supply: int | None = Field(default=None, description="Instead of the favourite's")
    diagnosis_codes: list[str] | None = Field(
        default=None, description="Instead of the favourite's diagnoses (up to 2 ICD-10)"
    )
    effective_date: date | None = None
    urgent: StrictBool = False
    pharmacy_id: int | None = Field(default=None, gt=0, description="Default: the patient's")
    pharmacy_notes: str | None = Field(default=None, description="Instead of the favourite's")


class OrderSetUse(RequestModel):
    """Every entry of an order set (the clinic's, or the prescriber's own)."""

    scope: Scope
    order_set_id: DoseSpotId
    effective_date: date | None = None
    pharmacy_id: int | None = Field(default=None, gt=0, description="Default: the patient's")


class PrescriptionsCreate(RequestModel):
    """Prescriptions written out (``items``), from favourites, or from an order set, in
    any mix; with ``send``, saved and sent in the same request (one step)."""

    prescriber_member_id: ResourceId | None = Field(
        default=None,
        description="The prescriber; a member key may leave it out to name itself",
    )
    items: list[PrescriptionItem] = Field(default_factory=list, max_length=20)
    favorites: list[FavoriteUse] = Field(default_factory=list, max_length=20)
    order_set: OrderSetUse | None = None
    send: StrictBool = Field(
        default=False,
        description="Send at once as the prescriber (only the prescriber may). A controlled "
        "substance is saved as pending instead: it is signed with the PIN and one-time code "
        "through POST .../{rx_id}/send",
    )

    @model_validator(mode="after")
    def _something(self) -> PrescriptionsCreate:
        if not (self.items or self.favorites or self.order_set):
            raise ValueError("give items, favorites or an order_set")
        return self


def _digits(secret: SecretStr | None, count: int) -> SecretStr | None:
    if secret is None:
        return None
    value = secret.get_secret_value()
    if not re.fullmatch(f"[0-9]{{{count}}}", value):
        raise ValueError(f"must be {count} digits")
    return secret


class SendIn(RequestModel):
    """The prescriber's approval. For a controlled substance, the PIN and the one-time code
    from their two-factor device: passed straight to DoseSpot, never kept."""

    pin: SecretStr | None = Field(default=None, description="4 digits (controlled substances)")
    otp: SecretStr | None = Field(default=None, description="6 digits (controlled substances)")

    @field_validator("pin")
    @classmethod
    def _pin(cls, pin: SecretStr | None) -> SecretStr | None:
        return _digits(pin, 4)

    @field_validator("otp")
    @classmethod
    def _otp(cls, otp: SecretStr | None) -> SecretStr | None:
        return _digits(otp, 6)


class DoseCalculationIn(RequestModel):
    dose_per_kg: Decimal = Field(gt=0, le=10000, description="e.g. 15 (mg/kg)")
    unit: Words = Field(default="mg")
    max_dose: Decimal | None = Field(default=None, gt=0, description="Never more than this")


class DoseCalculationPublic(BaseModel):
    dose: Decimal
    unit: str
    capped: bool = Field(description="The maximum dose applied")
    weight_kg: Decimal = Field(description="The weight the dose was computed from")
    weight_as_recorded: str = Field(description="As registered, e.g. '29.5 kg' or '65 lb'")
    weight_recorded_at: UtcDateTime | None


class PrescriptionPublic(BaseModel):
    rx_id: str
    client_id: str
    prescriber_member_id: str
    state: str = Field(
        description="draft | saving | pending | sending | transmitting | sent | error | "
        "signature_required | cancelling | cancelled | printed | blocked"
    )
    allowed_actions: list[str]
    kind: ItemKind
    medication: str = Field(description="What is prescribed, as DoseSpot names it")
    dispensable_drug_id: int | None = Field(description="A coded medication's")
    item: Item = Field(description="What is prescribed, as it was drafted")
    controlled_schedule: int | None = Field(description="DEA schedule 2-5, if controlled")
    diagnosis_codes: list[str]
    directions: str
    dispense_quantity: str
    dispense_unit_id: int
    days_supply: int | None
    refills: int
    effective_date: date
    no_substitutions: bool
    urgent: bool
    pharmacy_id: int | None
    pharmacy_notes: str | None
    dosespot_prescription_id: int | None
    dosespot_status: str | None = Field(description="DoseSpot's status: eRxSent, Error, ...")
    status_details: str | None = Field(description="DoseSpot's details (an Error's reason)")
    message: str | None
    blocked_reason: str | None
    updated_at: UtcDateTime | None = None


class PrescriptionReview(PrescriptionPublic):
    allergy_interactions: list[str] = Field(
        default_factory=list, description="DoseSpot's drug-allergy warnings for the patient"
    )


class PrescriptionsPublic(BaseModel):
    items: list[PrescriptionPublic]
