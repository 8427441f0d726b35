"""Prescribing from a favourite or an order set in one step: each favourite (the clinic's
presets or the prescriber's own) becomes one prescription item, filled in from what the
favourite prefills, with what the request changes; an order set becomes one item per
entry. The items are then checked like any other (422 naming ``favorites.N.<field>`` or
``order_set.items.N.<field>`` for what a favourite leaves out or gets wrong).

Clinic favourites and order sets are read as the partner's admin user in the patient's
clinic; the prescriber's own as the prescriber's DoseSpot user.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.catalogue_schemas import CompoundItem, IngredientIn, MedicationItem, SupplyItem
from api.errors import NotFound, Unprocessable
from api.prescription_schemas import (
    FavoriteUse,
    OrderSetUse,
    Prescribed,
    PrescriptionItem,
    PrescriptionsCreate,
)
from api.routes.catalogue import (
    ClinicianAccess,
    favorite_diagnoses,
    favorite_kind,
    find_favorite,
    find_on_pages,
)
from dosespot import DoseSpotClient
from dosespot.models import OrderSetPage, PrescriptionFavorite


def _prescribed(favorite: PrescriptionFavorite, field: str) -> Prescribed:
    kind = favorite_kind(favorite)
    name = favorite.med_display_name or favorite.title
    if kind == "compound":
        return CompoundItem(
            kind="compound",
            description=favorite.med_display_name or favorite.title or "Compound",
            ingredients=[
                IngredientIn(
                    dispensable_drug_id=i.dispensable_drug_id,
                    name=None if i.dispensable_drug_id else i.free_text,
                    quantity=i.quantity or "",
                    dispense_unit_id=i.dispense_unit_id,
                )
                for i in favorite.compound_ingredients
            ],
        )
    if kind == "supply":
        if favorite.supply_id:
            return SupplyItem(kind="supply", supply_id=favorite.supply_id)
        return SupplyItem(kind="supply", name=name)
    if not favorite.dispensable_drug_id:
        raise Unprocessable(field, "the favourite names no medication DoseSpot can prescribe")
    return MedicationItem(kind="medication", dispensable_drug_id=favorite.dispensable_drug_id)


def item_from_favorite(
    favorite: PrescriptionFavorite, changes: dict[str, Any], field: str
) -> PrescriptionItem:
    """The prescription a favourite prefills, with ``changes`` over it (422 on ``field``)."""
    try:
        prescribed = _prescribed(favorite, f"{field}.favorite_id")
    except ValidationError as err:
        raise Unprocessable(f"{field}.favorite_id", _reason(err)) from err
    filled: dict[str, Any] = {
        "item": prescribed.model_dump(mode="json"),
        "diagnosis_codes": [d.code for d in favorite_diagnoses(favorite) if d.code][:2],
        "no_substitutions": bool(favorite.no_substitutions),
        "directions": favorite.directions,
        "dispense_quantity": favorite.quantity,
        "dispense_unit_id": favorite.dispense_unit_type_id,
        "days_supply": favorite.days_supply,
        "refills": favorite.refills or 0,
        "pharmacy_notes": favorite.notes,
    }
    filled.update({k: v for k, v in changes.items() if v is not None})
    missing = [k for k in ("directions", "dispense_quantity", "dispense_unit_id") if not filled[k]]
    if missing:
        raise Unprocessable(
            f"{field}.{missing[0]}", "the favourite does not fill it in: give it in the request"
        )
    try:
        return PrescriptionItem.model_validate(filled)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Unprocessable(f"{field}.{where}" if where else field, _reason(err)) from err


def _reason(err: ValidationError) -> str:
    message = str(err.errors()[0]["msg"])
    return message.removeprefix("Value error, ")


def _favorite_changes(use: FavoriteUse) -> dict[str, Any]:
    return use.model_dump(exclude={"scope", "favorite_id"}, exclude_none=True) | {
        "urgent": use.urgent
    }


async def expand(
    body: PrescriptionsCreate,
    clinic: DoseSpotClient,
    prescriber: ClinicianAccess | None,
    dosespot: DoseSpotClient,
) -> list[tuple[PrescriptionItem, str]]:
    """Every item the request prescribes, each with the field it came from; DoseSpot is
    read only for favourites and order sets (the prescriber's own need ``prescriber``)."""
    items = [(item, f"items.{n}") for n, item in enumerate(body.items)]
    if not body.favorites and body.order_set is None:
        return items
    assert prescriber is not None
    own = prescriber.client(dosespot)

    async def clinic_page(number: int) -> Any:
        return await clinic.clinic_favorites(clinic.credentials.clinic_id, page=number)

    async def own_page(number: int) -> Any:
        return await own.clinician_favorites(prescriber.clinician_id, page=number)

    for n, use in enumerate(body.favorites):
        read = clinic_page if use.scope == "clinic" else own_page
        try:
            favorite = await find_favorite(read, use.favorite_id)
        except NotFound as err:
            raise Unprocessable(
                f"favorites.{n}.favorite_id", f"no such {use.scope} favourite"
            ) from err
        field = f"favorites.{n}"
        items.append((item_from_favorite(favorite, _favorite_changes(use), field), field))
    if body.order_set is not None:
        items += await _order_set_items(body.order_set, clinic, own)
    return items


async def _order_set_items(
    use: OrderSetUse, clinic: DoseSpotClient, own: DoseSpotClient
) -> list[tuple[PrescriptionItem, str]]:
    owner = clinic if use.scope == "clinic" else own

    async def page(number: int) -> OrderSetPage:
        if use.scope == "clinic":
            return await owner.clinic_order_sets(page=number)
        return await owner.clinician_order_sets(page=number)

    try:
        order_set = await find_on_pages(
            page, lambda found: found.order_set_id == use.order_set_id, "no such order set"
        )
    except NotFound as err:
        raise Unprocessable("order_set.order_set_id", f"no such {use.scope} order set") from err
    if not order_set.favorites:
        raise Unprocessable("order_set.order_set_id", "the order set has no entries")
    changes = use.model_dump(include={"effective_date", "pharmacy_id"}, exclude_none=True)
    return [
        (item_from_favorite(entry, changes, f"order_set.items.{n}"), f"order_set.items.{n}")
        for n, entry in enumerate(order_set.favorites)
    ]
