"""The drug, supply, dispense-unit and allergen catalogues."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, SessionDep
from dosespot_sandbox.catalogue import ALLERGENS, DISPENSE_UNITS, MEDICATIONS, SUPPLIES
from dosespot_sandbox.enums import DRUG_STATUS
from dosespot_sandbox.patients import enum_param, int_param, page_param, query
from dosespot_sandbox.validation import InvalidRequest

router = APIRouter()

MIN_SEARCH = 3
TOO_SHORT = f"The search text must be at least {MIN_SEARCH} characters."

SEARCH_FIELDS = (
    "DispensableDrugId",
    "RoutedDoseFormDrugId",
    "NDC",
    "RXCUI",
    "NameWithRouteDoseForm",
    "Strength",
    "IsObsolete",
)
SELECT_FIELDS = (
    "DispensableDrugId",
    "NDC",
    "RXCUI",
    "DisplayName",
    "DrugName",
    "Route",
    "DoseForm",
    "Strength",
    "DispenseUnitId",
    "Brand",
    "GenericDrugName",
    "OTC",
    "IsObsolete",
    "DrugClassification",
    "Schedule",
    "StateSchedule",
)


def _words_in(text: str, haystack: str) -> bool:
    return all(word in haystack.lower() for word in text.lower().split())


def _status_allows(status: str | None, obsolete: bool) -> bool:
    if status in (None, "Active"):
        return not obsolete
    return status == "All" or obsolete


def search_medications(text: str, status: str | None = None) -> list[dict[str, Any]]:
    return [
        med
        for med in MEDICATIONS.values()
        if _status_allows(status, med["IsObsolete"])
        and (
            _words_in(text, med["DisplayName"])
            or _words_in(text, med["DrugName"])
            or _words_in(text, med["GenericDrugName"])
        )
    ]


@router.get("/api/medications/search")
async def medication_search(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    status = enum_param(DRUG_STATUS, "drugStatus", params.get("drugstatus"))
    name = (params.get("name") or "").strip()
    if len(name) < 2:
        # The Swagger's pattern (^.{2,}$); DoseSpot's own rule (3+) is a business refusal.
        raise InvalidRequest({"name": ["The name field is required (2 characters or more)."]})
    if len(name) < MIN_SEARCH:
        return envelope.error(TOO_SHORT)
    found = [{k: med[k] for k in SEARCH_FIELDS} for med in search_medications(name, status)]
    return envelope.paged(found, page, sandbox.config.page_size)


@router.get("/api/medications/select")
async def medication_select(request: Request, session: SessionDep) -> JSONResponse:
    params = query(request)
    drug_id = int_param("dispensableDrugId", params.get("dispensabledrugid"))
    rxcui = int_param("rXCUI", params.get("rxcui"))
    ndc = (params.get("ndc") or "").strip()
    if drug_id is None and rxcui is None and not ndc:
        return envelope.error("A DispensableDrugId, NDC or RxCUI is required.")
    for med in MEDICATIONS.values():
        if (
            (drug_id is None or med["DispensableDrugId"] == drug_id)
            and (rxcui is None or med["RXCUI"] == rxcui)
            and (not ndc or med["NDC"] == ndc)
        ):
            return envelope.ok(Item={k: med[k] for k in SELECT_FIELDS})
    return envelope.error("Medication not found.")


@router.get("/api/medications/searchByRxCUI")
async def medication_search_by_rxcui(request: Request, session: SessionDep) -> JSONResponse:
    rxcui = int_param("rxCUI", query(request).get("rxcui"))
    if rxcui is None:
        return envelope.error("An RxCUI is required.")
    found = [
        {k: med[k] for k in SELECT_FIELDS} for med in MEDICATIONS.values() if med["RXCUI"] == rxcui
    ]
    return envelope.ok(Items=found)


@router.get("/api/supplies/search")
async def supply_search(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    status = enum_param(DRUG_STATUS, "supplyStatus", params.get("supplystatus"))
    name = (params.get("name") or "").strip()
    ndc = (params.get("ndc") or "").strip()
    upc = (params.get("upc") or "").strip()
    given = [bool(name), bool(ndc), bool(upc)]
    if given.count(True) != 1:
        return envelope.error("Search by exactly one of name, NDC or UPC.")
    if name and len(name) < MIN_SEARCH:
        return envelope.error(TOO_SHORT)
    found = [
        dict(supply)
        for supply in SUPPLIES.values()
        if _status_allows(status, supply["IsObsolete"])
        and (
            (name and _words_in(name, supply["Name"]))
            or (ndc and supply["NDC"] == ndc)
            or (upc and supply["UPC"] == upc)
        )
    ]
    return envelope.paged(found, page, sandbox.config.page_size)


@router.get("/api/supplies/{supplyId}")
async def get_supply(supplyId: int, session: SessionDep) -> JSONResponse:
    supply = SUPPLIES.get(supplyId)
    if supply is None:
        return envelope.error("Supply not found.")
    return envelope.ok(Item=dict(supply))


@router.get("/api/dispenseUnits")
async def dispense_units(session: SessionDep) -> JSONResponse:
    return envelope.ok(Items=[dict(unit) for unit in DISPENSE_UNITS.values()])


@router.get("/api/dispenseUnits/{dispenseUnitId}")
async def dispense_unit(dispenseUnitId: int, session: SessionDep) -> JSONResponse:
    unit = DISPENSE_UNITS.get(dispenseUnitId)
    if unit is None:
        return envelope.error("Dispense unit not found.")
    return envelope.ok(Item=dict(unit))


def search_allergens(text: str) -> list[dict[str, Any]]:
    return [
        dict(allergen)
        for allergen in ALLERGENS.values()
        if _words_in(text, allergen["Name"]) or _words_in(text, allergen.get("BrandName", ""))
    ]


@router.get("/api/allergens/search")
async def allergen_search(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    name = (params.get("name") or "").strip()
    if not name:
        raise InvalidRequest({"name": ["The name field is required."]})
    if len(name) < MIN_SEARCH:
        return envelope.error(TOO_SHORT)
    return envelope.paged(search_allergens(name), page, sandbox.config.page_size)


@router.get("/api/allergens/{allergenId}")
async def get_allergen(allergenId: int, session: SessionDep) -> JSONResponse:
    allergen = ALLERGENS.get(allergenId)
    if allergen is None:
        return envelope.error("Allergen not found.")
    return envelope.ok(Item=dict(allergen))
