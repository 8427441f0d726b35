"""What can be prescribed, in our shape: DoseSpot's medications, supplies, favourites and
order sets as one kind of item (display name, strength, dose form, route, controlled-
substance schedule and the ids DoseSpot prescribes by), diagnoses, and the bodies that
create and edit favourites and order sets."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from api.routes.pharmacies import PageInfo
from api.schemas import NoControl, RequestModel, ResourceId, text

MIN_SEARCH = 3
INT32_MAX = 2**31 - 1

Tab = Literal["medications", "supplies", "clinic_favorites", "clinician_favorites", "order_sets"]
Scope = Literal["clinic", "clinician"]
ItemKind = Literal["medication", "supply", "compound"]

SearchName = Annotated[str, text(100, min_length=MIN_SEARCH), NoControl]
DoseSpotId = Annotated[int, Field(gt=0, le=INT32_MAX)]

_QUANTITY = re.compile(r"[0-9]{1,9}(\.[0-9]{1,5})?")


def _quantity(value: str) -> str:
    try:
        positive = _QUANTITY.fullmatch(value) is not None and Decimal(value) > 0
    except InvalidOperation:
        positive = False
    if not positive:
        raise ValueError("must be a number greater than zero, e.g. 30 or 2.5")
    return value


Quantity = Annotated[str, text(15), AfterValidator(_quantity)]


# Searches


class CatalogueSearch(BaseModel):
    """A search of one tab of what can be prescribed."""

    model_config = ConfigDict(extra="forbid")

    name: SearchName | None = Field(
        default=None,
        description="3 or more characters; required for medications and supplies, narrows the "
        "other tabs",
    )
    tab: Tab = Field(
        default="medications",
        description="medications, supplies (DoseSpot's catalogues), clinic_favorites (the "
        "clinic's presets), clinician_favorites, order_sets (the clinic's and the clinician's)",
    )
    clinician_member_id: ResourceId | None = Field(
        default=None,
        description="Whose favourites and order sets: a member key's own by default; a "
        "service key names the clinician",
    )
    page: int = Field(default=1, ge=1, le=1000)


class DiagnosisPublic(BaseModel):
    diagnosis_id: int = Field(description="DoseSpot's DiagnosisId, which a prescription names")
    code: str | None = Field(description="ICD-10 code, e.g. J02.9")
    name: str | None


class DiagnosisSearchPublic(BaseModel):
    items: list[DiagnosisPublic]
    page: PageInfo


class PrescribableIds(BaseModel):
    """The ids DoseSpot prescribes the item by, as DoseSpot names them."""

    dispensable_drug_id: int | None = None
    routed_dose_form_drug_id: int | None = None
    ndc: str | None = None
    rxcui: int | None = None
    supply_id: int | None = None
    upc: str | None = None
    compound_id: int | None = None


class IngredientPublic(BaseModel):
    dispensable_drug_id: int | None
    free_text: str | None
    quantity: str | None
    dispense_unit_id: int | None


class PrescriptionDefaults(BaseModel):
    """What a favourite (or an order-set entry) fills in on a new prescription."""

    favorite_id: int | None = Field(description="DoseSpot's id of the favourite")
    scope: Scope
    title: str | None
    directions: str | None
    quantity: str | None
    dispense_unit_id: int | None = Field(description="DoseSpot's dispense unit type id")
    refills: int | None
    days_supply: int | None
    no_substitutions: bool | None
    notes: str | None
    diagnoses: list[DiagnosisPublic] = Field(description="Primary first")
    ingredients: list[IngredientPublic] = Field(description="A compound's ingredients")


class PrescribablePublic(BaseModel):
    """One thing that can be prescribed: a coded medication, a supply or a compound."""

    kind: ItemKind
    display_name: str | None
    strength: str | None
    dose_form: str | None
    route: str | None
    schedule: int | None = Field(
        description="Federal controlled-substance schedule (2 to 5 are controlled; 0 is not)"
    )
    controlled: bool | None = Field(description="Schedule II to V: EPCS rules apply")
    otc: bool | None
    obsolete: bool | None
    ids: PrescribableIds
    favorite: PrescriptionDefaults | None = Field(
        default=None, description="Set on the favourites and order-set tabs"
    )


class OrderSetPublic(BaseModel):
    order_set_id: int
    scope: Scope
    title: str | None
    items: list[PrescribablePublic]


class CatalogueSearchPublic(BaseModel):
    tab: Tab
    clinician_member_id: str | None = Field(
        description="Whose favourites or order sets these are (the clinician tabs)"
    )
    items: list[PrescribablePublic] = Field(description="Every tab but order_sets")
    order_sets: list[OrderSetPublic] = Field(description="The order_sets tab")
    page: PageInfo


# Favourites and order sets


class MedicationItem(RequestModel):
    kind: Literal["medication"]
    dispensable_drug_id: DoseSpotId


class SupplyItem(RequestModel):
    """A supply from DoseSpot's catalogue (``supply_id``) or written out (``name``)."""

    kind: Literal["supply"]
    supply_id: DoseSpotId | None = None
    name: Annotated[str, text(300, min_length=3), NoControl] | None = Field(
        default=None, description="A custom supply, as free text"
    )

    @model_validator(mode="after")
    def _one(self) -> SupplyItem:
        if (self.supply_id is None) == (self.name is None):
            raise ValueError("name the supply by supply_id or by name (a custom supply), not both")
        return self


class IngredientIn(RequestModel):
    """A coded ingredient (``dispensable_drug_id``) or a written one (``name``)."""

    dispensable_drug_id: DoseSpotId | None = None
    name: Annotated[str, text(200), NoControl] | None = None
    quantity: Quantity
    dispense_unit_id: DoseSpotId | None = None

    @model_validator(mode="after")
    def _one(self) -> IngredientIn:
        if (self.dispensable_drug_id is None) == (self.name is None):
            raise ValueError("an ingredient is a dispensable_drug_id or a name, not both")
        return self


class CompoundItem(RequestModel):
    """A custom compound, compiled from its ingredients."""

    kind: Literal["compound"]
    description: Annotated[str, text(2000, min_length=3), NoControl]
    ingredients: list[IngredientIn] = Field(min_length=1, max_length=25)


Item = Annotated[MedicationItem | SupplyItem | CompoundItem, Field(discriminator="kind")]


class PrescriptionTemplateIn(RequestModel):
    item: Item
    directions: Annotated[str, text(1000), NoControl]
    quantity: Quantity
    dispense_unit_id: DoseSpotId = Field(description="DoseSpot's dispense unit type id")
    refills: int = Field(default=0, ge=0, le=99)
    days_supply: int | None = Field(default=None, ge=1, le=365)
    no_substitutions: StrictBool = False
    notes: Annotated[str, text(1000), NoControl] | None = None
    primary_diagnosis_id: DoseSpotId | None = Field(
        default=None, description="From GET .../erx/diagnoses"
    )
    secondary_diagnosis_id: DoseSpotId | None = Field(
        default=None, description="Only with a primary_diagnosis_id"
    )


class FavoriteIn(PrescriptionTemplateIn):
    """A favourite: a title and what it prefills."""

    title: Annotated[str, text(500), NoControl]


class OrderSetItemIn(PrescriptionTemplateIn):
    favorite_id: DoseSpotId | None = Field(
        default=None, description="The clinician's favourite this entry comes from"
    )


class OrderSetIn(RequestModel):
    title: Annotated[str, text(500, min_length=3), NoControl]
    items: list[OrderSetItemIn] = Field(min_length=1, max_length=50)


class FavoriteSaved(BaseModel):
    favorite_id: int
    scope: Scope
    clinician_member_id: str | None
    kind: ItemKind


class OrderSetSaved(BaseModel):
    order_set_id: int
    scope: Scope
    clinician_member_id: str
    items: int = Field(description="Entries in the order set")
