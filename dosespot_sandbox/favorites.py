"""Prescription favourites (a clinic's presets and each clinician's own) and order sets.

A favourite prefills a prescription: a coded medication, a supply (catalogued or free
text) or a compiled compound, with directions, quantity, dispense unit, refills and days
supply. Clinic favourites are added and edited by anyone signed in to the clinic (the
Swagger has no delete for them); clinician favourites and order sets belong to the token's
clinician. Clinic order sets have no write operation in the API: the sandbox control
``POST /_sandbox/clinics/{clinicId}/order-sets`` makes one from clinic favourites.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, Session, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.catalogue import DISPENSE_UNITS, MEDICATIONS, SUPPLIES
from dosespot_sandbox.diagnoses import diagnosis_detail
from dosespot_sandbox.enums import EnumType
from dosespot_sandbox.journey import timestamp
from dosespot_sandbox.patients import enum_param, int_param, page_param, query
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import CLINIC_KIND, Sandbox
from dosespot_sandbox.validation import INTEGER, InvalidRequest, Spec, array, obj, string

router = APIRouter()
control_router = APIRouter(prefix="/_sandbox", tags=["sandbox controls"])

CLINIC_FAVORITE_KIND = "clinic_favorite"
CLINICIAN_FAVORITE_KIND = "clinician_favorite"
CLINIC_ORDER_SET_KIND = "clinic_order_set"
CLINICIAN_ORDER_SET_KIND = "clinician_order_set"

FAVORITE_NOT_FOUND = "Favorite not found."
ORDER_SET_NOT_FOUND = "Order set not found."
NOT_IN_CLINIC = "User is not authorized to access this clinic."
CLINICIAN_NOT_FOUND = "Clinician not found."

FAVORITE_TYPE = EnumType("FavoriteType", ["All", "Medication", "Supply", "CompiledCompound"], 0)
SPECIALTY_TYPE = EnumType(
    "SpecialtyType",
    [
        "AllergyAndImmunology",
        "Dermatology",
        "Dentistry",
        "BehavioralHealth",
        "FamilyMedicine",
        "InternalMedicine",
        "ObstetricsAndGynecology",
        "Orthopedics",
        "Pediatrics",
        "PhysicalMedicine",
        "Psychiatry",
        "Urology",
    ],
    1,
)
SORT_ORDER = EnumType("SortOrder", ["Asc", "Desc"], 0)
# Path segment of the write operations -> the favourite's kind.
KINDS = {"coded": "Medication", "supply": "Supply", "compiledcompound": "CompiledCompound"}

_DIAGNOSIS_IDS = obj({"PrimaryDiagnosisId": INTEGER, "SecondaryDiagnosisId": INTEGER})
_INGREDIENT = obj(
    {
        "DispensableDrugId": INTEGER,
        "FreeText": string(),
        "DispenseUnitId": INTEGER,
        "Quantity": string(required=True),
        "IsFreeTextEPCS": Spec("boolean"),
    }
)
_PRESCRIPTION_MEMBERS = {
    "Refills": Spec("integer", required=True),
    "DaysSupply": INTEGER,
    "DispenseUnitTypeId": Spec("integer", required=True),
    "Quantity": string(required=True),
    "NoSubstitutions": Spec("boolean"),
    "Notes": string(max_length=1000),
    "Directions": string(required=True, max_length=1000),
    "FirstPrescriptionDiagnosis": _DIAGNOSIS_IDS,
    "SecondPrescriptionDiagnosis": _DIAGNOSIS_IDS,
}
_FAVORITE_COMMON = {
    **_PRESCRIPTION_MEMBERS,
    "Title": string(required=True, max_length=500),
    "SpecialtyType": INTEGER,
}
FAVORITE_REQUESTS = {
    "coded": obj({"DispensableDrugId": Spec("integer", required=True), **_FAVORITE_COMMON}),
    "supply": obj({"SupplyId": INTEGER, "FreeText": string(), **_FAVORITE_COMMON}),
    "compiledcompound": obj(
        {
            "CompoundDescription": string(required=True),
            "CompoundIngredients": array(_INGREDIENT, required=True),
            **_FAVORITE_COMMON,
        }
    ),
}
ORDER_SET_REQUEST = obj(
    {
        "Title": string(required=True, max_length=500),
        "Favorites": array(
            obj(
                {
                    "DispensableDrugId": INTEGER,
                    "SupplyId": INTEGER,
                    "FreeText": string(max_length=300),
                    "CompoundDescription": string(max_length=2000),
                    "CompoundIngredients": array(_INGREDIENT),
                    "FavoriteId": INTEGER,
                    **_PRESCRIPTION_MEMBERS,
                }
            )
        ),
    }
)
FAVORITE_ID_LIST_REQUEST = obj({"FavoriteIds": array(INTEGER)})


def _range(errors: dict[str, list[str]], fields: dict[str, Any], name: str, low: int, high: int):
    value = fields.get(name)
    if value is not None and not low <= value <= high:
        errors.setdefault(f"request.{name}", []).append(
            f"The field {name} must be between {low} and {high}."
        )


def _check_ranges(fields: dict[str, Any], prefix: str = "") -> None:
    errors: dict[str, list[str]] = {}
    _range(errors, fields, "Refills", 0, 99)
    _range(errors, fields, "DaysSupply", 0, 365)
    if errors:
        raise InvalidRequest({prefix + k: v for k, v in errors.items()})


def _kind_of(fields: dict[str, Any]) -> str:
    if fields.get("DispensableDrugId") is not None:
        return "coded"
    if fields.get("CompoundDescription") or fields.get("CompoundIngredients"):
        return "compiledcompound"
    return "supply"


def _positive_quantity(text: str) -> bool:
    try:
        return Decimal(text.strip()) > 0
    except InvalidOperation:
        return False


def _refusal(fields: dict[str, Any], kind: str) -> str | None:
    """DoseSpot's business refusal of a favourite or order-set entry, if any."""
    if kind == "coded" and fields["DispensableDrugId"] not in MEDICATIONS:
        return "Medication not found."
    if kind == "supply":
        supply_id, free_text = fields.get("SupplyId"), (fields.get("FreeText") or "").strip()
        if (supply_id is None) == (not free_text):
            return "A supply needs a SupplyId or FreeText (one of them)."
        if supply_id is not None and supply_id not in SUPPLIES:
            return "Supply not found."
    if kind == "compiledcompound":
        if not (fields.get("CompoundDescription") or "").strip():
            return "A compound needs a description."
        ingredients = fields.get("CompoundIngredients") or []
        if not ingredients:
            return "A compound needs at least one ingredient."
        for ingredient in ingredients:
            drug = ingredient.get("DispensableDrugId")
            if drug is None and not (ingredient.get("FreeText") or "").strip():
                return "Each ingredient needs a DispensableDrugId or FreeText."
            if drug is not None and drug not in MEDICATIONS:
                return "Medication not found."
            if not _positive_quantity(ingredient["Quantity"]):
                return "Each ingredient needs a quantity greater than zero."
    if fields["DispenseUnitTypeId"] not in DISPENSE_UNITS:
        return "Dispense unit not found."
    if not _positive_quantity(fields["Quantity"]):
        return "Quantity must be greater than zero."
    if not fields["Directions"].strip():
        return "Directions are required."
    for member in ("FirstPrescriptionDiagnosis", "SecondPrescriptionDiagnosis"):
        for diagnosis_id in (fields.get(member) or {}).values():
            if diagnosis_id is not None and diagnosis_detail(diagnosis_id) is None:
                return "Diagnosis not found."
    return None


def _diagnosis(ids: dict[str, Any] | None) -> dict[str, Any] | None:
    if not ids:
        return None
    rendered: dict[str, Any] = {}
    for source, target in (
        ("PrimaryDiagnosisId", "PrimaryDiagnosis"),
        ("SecondaryDiagnosisId", "SecondaryDiagnosis"),
    ):
        if ids.get(source) is not None:
            detail = diagnosis_detail(ids[source])
            if detail is not None:
                rendered[target] = detail
    return rendered or None


def _item_names(fields: dict[str, Any], kind: str) -> tuple[str, str, str]:
    """Display name, full name and strength of what a favourite prescribes."""
    if kind == "coded":
        med = MEDICATIONS[fields["DispensableDrugId"]]
        return med["DisplayName"], f"{med['DrugName']} {med['Strength']}", med["Strength"]
    if kind == "supply":
        if fields.get("SupplyId") is not None:
            name = SUPPLIES[fields["SupplyId"]]["Name"]
        else:
            name = fields["FreeText"].strip()
        return name, name, ""
    description = fields["CompoundDescription"].strip()
    return description, description, ""


def render_favorite(doc: dict[str, Any], *, clinic: bool) -> dict[str, Any]:
    """ClinicFavoritePrescriptionResponse or ClinicianFavoritePrescriptionResponse."""
    kind = doc["Kind"]
    display, full, strength = _item_names(doc, kind)
    rendered: dict[str, Any] = {
        "ClinicFavoritePrescriptionId" if clinic else "ClinicianFavoritePrescriptionID": doc["Id"],
        "DispenseUnitTypeId" if clinic else "DispenseUnitTypeID": doc["DispenseUnitTypeId"],
        "MedDisplayName": display,
        "MedFullName": full,
        "MedStrengthString": strength,
        "Directions": doc["Directions"],
        "Quantity": doc["Quantity"],
        "Refills": doc["Refills"],
        "NoSubstitutions": bool(doc.get("NoSubstitutions", False)),
        "Title": doc.get("Title") or display,
        "DateAdded": doc["DateAdded"],
        "IsSupply": kind == "supply",
        "IsCompound": kind == "compiledcompound",
        "SourceClinicId": doc["ClinicId"],
    }
    if not clinic:
        rendered["ClinicianID"] = doc["ClinicianId"]
    for member in ("DaysSupply", "Notes", "SupplyId", "DispensableDrugId"):
        if doc.get(member) is not None:
            rendered[member] = doc[member]
    if kind == "compiledcompound":
        rendered["CompoundId"] = doc["CompoundId"]
        rendered["CompoundIngredients"] = doc["CompoundIngredients"]
    specialty = SPECIALTY_TYPE.parse(doc.get("SpecialtyType"))
    if specialty is not None:
        rendered["SpecialtyType"] = specialty
    for source, target in (
        ("FirstPrescriptionDiagnosis", "FirstDiagnosis"),
        ("SecondPrescriptionDiagnosis", "SecondDiagnosis"),
    ):
        diagnosis = _diagnosis(doc.get(source))
        if diagnosis is not None:
            rendered[target] = diagnosis
    return rendered


def _matches(doc: dict[str, Any], favorite_type: str | None, search: str | None) -> bool:
    if favorite_type not in (None, "All") and KINDS[doc["Kind"]] != favorite_type:
        return False
    if search is None:
        return True
    display, full, _ = _item_names(doc, doc["Kind"])
    haystack = f"{doc.get('Title') or ''} {display} {full}".lower()
    return all(word in haystack for word in search.lower().split())


def _list_favorites(
    request: Request, sandbox: Sandbox, kind: str, owner: str, owner_id: int, *, clinic: bool
) -> JSONResponse:
    params = query(request)
    page = page_param(params)
    page_size = int_param("pageSize", params.get("pagesize"), minimum=1) or 20
    if page_size > 100:
        raise InvalidRequest({"pageSize": ["The field pageSize must be between 1 and 100."]})
    favorite_type = enum_param(FAVORITE_TYPE, "favoriteType", params.get("favoritetype"))
    search = params.get("searchname")
    if search is not None and len(search) < 2:
        raise InvalidRequest({"searchName": ["The field searchName must be 2 characters or more."]})
    found = sorted(
        (
            doc
            for doc in sandbox.store.all(kind)
            if doc[owner] == owner_id and _matches(doc, favorite_type, search)
        ),
        key=lambda doc: doc["Id"],
    )
    return envelope.paged([render_favorite(d, clinic=clinic) for d in found], page, page_size)


def _new_favorite(
    sandbox: Sandbox, fields: dict[str, Any], kind: str, session: Session
) -> dict[str, Any]:
    doc = {**fields, "Kind": kind, "ClinicId": session.clinic_id, "DateAdded": timestamp()}
    if kind == "compiledcompound":
        doc["CompoundId"] = sandbox.store.next_id()
    return doc


async def _favorite_fields(request: Request, kind: str) -> dict[str, Any]:
    fields = await read_body(request, FAVORITE_REQUESTS[kind])
    _check_ranges(fields)
    return fields


def _clinic_in_session(sandbox: Sandbox, session: Session, clinic_id: int) -> str | None:
    if sandbox.store.get(CLINIC_KIND, clinic_id) is None or clinic_id != session.clinic_id:
        return NOT_IN_CLINIC
    return None


# Clinic favourites


@router.get("/api/clinics/{clinicId}/prescriptionFavorites")
async def clinic_favorites(
    clinicId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    refusal = _clinic_in_session(sandbox, session, clinicId)
    if refusal:
        return envelope.error(refusal)
    return _list_favorites(
        request, sandbox, CLINIC_FAVORITE_KIND, "ClinicId", clinicId, clinic=True
    )


@router.post("/api/clinics/{clinicId}/prescriptionFavorites/{kind}")
async def add_clinic_favorite(
    clinicId: int, kind: str, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    if kind not in KINDS:
        return _no_resource(request)
    fields = await _favorite_fields(request, kind)
    refusal = _clinic_in_session(sandbox, session, clinicId) or _refusal(fields, kind)
    if refusal:
        return envelope.error(refusal, Id=0)
    doc = _new_favorite(sandbox, fields, kind, session)
    doc["Id"] = sandbox.store.next_id()
    sandbox.store.put(CLINIC_FAVORITE_KIND, doc["Id"], doc)
    return envelope.ok(Id=doc["Id"])


@router.put("/api/clinics/{clinicId}/prescriptionFavorites/{kind}/{favoriteId}")
async def edit_clinic_favorite(
    clinicId: int,
    kind: str,
    favoriteId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    if kind not in KINDS:
        return _no_resource(request)
    fields = await _favorite_fields(request, kind)
    refusal = _clinic_in_session(sandbox, session, clinicId)
    if refusal:
        return envelope.error(refusal)
    current = sandbox.store.get(CLINIC_FAVORITE_KIND, favoriteId)
    if current is None or current["ClinicId"] != clinicId or current["Kind"] != kind:
        return envelope.error(FAVORITE_NOT_FOUND)
    refusal = _refusal(fields, kind)
    if refusal:
        return envelope.error(refusal)
    doc = _new_favorite(sandbox, fields, kind, session)
    doc.update(Id=favoriteId, DateAdded=current["DateAdded"])
    doc.setdefault("CompoundId", current.get("CompoundId"))
    sandbox.store.put(CLINIC_FAVORITE_KIND, favoriteId, doc)
    return envelope.ok()


# Clinician favourites


@router.get("/api/clinicians/{clinicianId}/prescriptionFavorites")
async def clinician_favorites(
    clinicianId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    clinician = sandbox.store.get(CLINICIAN_KIND, clinicianId)
    if clinician is None or session.clinic_id not in clinician.get("ClinicIds", []):
        return envelope.error(CLINICIAN_NOT_FOUND)
    return _list_favorites(
        request, sandbox, CLINICIAN_FAVORITE_KIND, "ClinicianId", clinicianId, clinic=False
    )


@router.post("/api/clinicians/prescriptionFavorites/{kind}")
async def add_clinician_favorite(
    kind: str, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    if kind not in KINDS:
        return _no_resource(request)
    fields = await _favorite_fields(request, kind)
    fields.pop("SpecialtyType", None)
    refusal = _refusal(fields, kind)
    if refusal:
        return envelope.error(refusal, Id=0)
    doc = _new_favorite(sandbox, fields, kind, session)
    doc.update(Id=sandbox.store.next_id(), ClinicianId=session.user_id)
    sandbox.store.put(CLINICIAN_FAVORITE_KIND, doc["Id"], doc)
    return envelope.ok(Id=doc["Id"])


@router.put("/api/clinicians/prescriptionFavorites/{kind}/{favoriteId}")
async def edit_clinician_favorite(
    kind: str, favoriteId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    if kind not in KINDS:
        return _no_resource(request)
    fields = await _favorite_fields(request, kind)
    fields.pop("SpecialtyType", None)
    current = sandbox.store.get(CLINICIAN_FAVORITE_KIND, favoriteId)
    if current is None or current["ClinicianId"] != session.user_id or current["Kind"] != kind:
        return envelope.error(FAVORITE_NOT_FOUND)
    refusal = _refusal(fields, kind)
    if refusal:
        return envelope.error(refusal)
    doc = _new_favorite(sandbox, fields, kind, session)
    doc.update(Id=favoriteId, ClinicianId=session.user_id, DateAdded=current["DateAdded"])
    doc.setdefault("CompoundId", current.get("CompoundId"))
    sandbox.store.put(CLINICIAN_FAVORITE_KIND, favoriteId, doc)
    return envelope.ok()


@router.delete("/api/clinicians/prescriptionFavorites")
async def delete_clinician_favorites(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, FAVORITE_ID_LIST_REQUEST)
    answers = []
    for favorite_id in fields.get("FavoriteIds", []):
        current = sandbox.store.get(CLINICIAN_FAVORITE_KIND, favorite_id)
        if current is None or current["ClinicianId"] != session.user_id:
            answers.append(
                {"Id": favorite_id, "Result": envelope.result(FAVORITE_NOT_FOUND, envelope.ERROR)}
            )
            continue
        sandbox.store.delete(CLINICIAN_FAVORITE_KIND, favorite_id)
        answers.append({"Id": favorite_id, "Result": envelope.result()})
    return JSONResponse(answers)


# Order sets


def _order_set_params(request: Request) -> tuple[int, int, bool, str | None]:
    params = query(request)
    page = page_param(params)
    page_size = int_param("pageSize", params.get("pagesize"), minimum=1) or 20
    descending = enum_param(SORT_ORDER, "sortOrder", params.get("sortorder")) == "Desc"
    search = (params.get("searchstring") or "").strip() or None
    return page, page_size, descending, search


def _listed_order_sets(
    request: Request, sandbox: Sandbox, kind: str, owner: str, owner_id: int, *, clinic: bool
) -> JSONResponse:
    page, page_size, descending, search = _order_set_params(request)
    words = search.lower().split() if search else []
    found = sorted(
        (
            doc
            for doc in sandbox.store.all(kind)
            if doc[owner] == owner_id and all(w in doc["Title"].lower() for w in words)
        ),
        key=lambda doc: doc["Title"].lower(),
        reverse=descending,
    )
    return envelope.paged([_render_order_set(d, clinic=clinic) for d in found], page, page_size)


def _render_order_set(doc: dict[str, Any], *, clinic: bool) -> dict[str, Any]:
    return {
        "OrderSetId": doc["Id"],
        "Title": doc["Title"],
        "Favorites": [render_favorite(entry, clinic=clinic) for entry in doc["Favorites"]],
    }


@router.get("/api/clinic/ordersets")
async def clinic_order_sets(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    return _listed_order_sets(
        request, sandbox, CLINIC_ORDER_SET_KIND, "ClinicId", session.clinic_id, clinic=True
    )


@router.get("/api/clinicians/ordersets")
async def clinician_order_sets(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    return _listed_order_sets(
        request, sandbox, CLINICIAN_ORDER_SET_KIND, "ClinicianId", session.user_id, clinic=False
    )


def _own_order_set(sandbox: Sandbox, session: Session, order_set_id: int) -> dict[str, Any] | None:
    doc = sandbox.store.get(CLINICIAN_ORDER_SET_KIND, order_set_id)
    if doc is None or doc["ClinicianId"] != session.user_id:
        return None
    return doc


@router.get("/api/clinicians/ordersets/{orderSetId}/details")
async def clinician_order_set(
    orderSetId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    doc = _own_order_set(sandbox, session, orderSetId)
    if doc is None:
        return envelope.error(ORDER_SET_NOT_FOUND)
    return envelope.ok(**_render_order_set(doc, clinic=False))


async def _order_set_entries(
    request: Request, sandbox: Sandbox, session: Session
) -> tuple[dict[str, Any], str | None]:
    fields = await read_body(request, ORDER_SET_REQUEST)
    if len(fields["Title"].strip()) < 3:
        raise InvalidRequest(
            {"request.Title": ["The field Title must be a string with a minimum length of 3."]}
        )
    entries = []
    for index, entry in enumerate(fields.get("Favorites", [])):
        _check_ranges(entry, prefix=f"Favorites[{index}].")
        kind = _kind_of(entry)
        refusal = _refusal(entry, kind)
        favorite_id = entry.get("FavoriteId")
        if refusal is None and favorite_id is not None:
            favorite = sandbox.store.get(CLINICIAN_FAVORITE_KIND, favorite_id)
            if favorite is None or favorite["ClinicianId"] != session.user_id:
                refusal = FAVORITE_NOT_FOUND
        if refusal:
            return fields, refusal
        entry_id = favorite_id or sandbox.store.next_id()
        doc = _new_favorite(sandbox, entry, kind, session)
        doc.update(Id=entry_id, ClinicianId=session.user_id)
        entries.append(doc)
    fields["Favorites"] = entries
    return fields, None


@router.post("/api/clinicians/ordersets")
async def add_clinician_order_set(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields, refusal = await _order_set_entries(request, sandbox, session)
    if refusal:
        return envelope.error(refusal, Id=0)
    order_set_id = sandbox.store.next_id()
    doc = {
        "Id": order_set_id,
        "ClinicianId": session.user_id,
        "ClinicId": session.clinic_id,
        "Title": fields["Title"].strip(),
        "Favorites": fields["Favorites"],
    }
    sandbox.store.put(CLINICIAN_ORDER_SET_KIND, order_set_id, doc)
    return envelope.ok(Id=order_set_id)


@router.put("/api/clinicians/ordersets/{orderSetId}")
async def edit_clinician_order_set(
    orderSetId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields, refusal = await _order_set_entries(request, sandbox, session)
    current = _own_order_set(sandbox, session, orderSetId)
    if current is None:
        return envelope.error(ORDER_SET_NOT_FOUND)
    if refusal:
        return envelope.error(refusal)
    current.update(Title=fields["Title"].strip(), Favorites=fields["Favorites"])
    sandbox.store.put(CLINICIAN_ORDER_SET_KIND, orderSetId, current)
    return envelope.ok()


@router.delete("/api/clinicians/ordersets/{orderSetId}")
async def delete_clinician_order_set(
    orderSetId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    if _own_order_set(sandbox, session, orderSetId) is None:
        return envelope.error(ORDER_SET_NOT_FOUND)
    sandbox.store.delete(CLINICIAN_ORDER_SET_KIND, orderSetId)
    return envelope.ok()


def _no_resource(request: Request) -> JSONResponse:
    """Only coded, supply and compiledcompound exist: anything else is an unknown path."""
    raise HTTPException(404)


# Controls: a clinic order set, which the API cannot make


class ClinicOrderSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=500)
    favorite_ids: list[int] = Field(description="Clinic favourites the order set prescribes")


@control_router.post("/clinics/{clinic_id}/order-sets")
async def make_clinic_order_set(
    clinic_id: int, body: ClinicOrderSetIn, sandbox: SandboxDep
) -> JSONResponse:
    """Make a clinic order set from clinic favourites, as an admin does in DoseSpot's UI."""
    if sandbox.store.get(CLINIC_KIND, clinic_id) is None:
        return JSONResponse({"detail": "no such clinic"}, status_code=404)
    entries = []
    for favorite_id in body.favorite_ids:
        favorite = sandbox.store.get(CLINIC_FAVORITE_KIND, favorite_id)
        if favorite is None or favorite["ClinicId"] != clinic_id:
            return JSONResponse({"detail": f"no clinic favourite {favorite_id}"}, status_code=404)
        entries.append(favorite)
    order_set_id = sandbox.store.next_id()
    doc = {"Id": order_set_id, "ClinicId": clinic_id, "Title": body.title, "Favorites": entries}
    sandbox.store.put(CLINIC_ORDER_SET_KIND, order_set_id, doc)
    return JSONResponse({"OrderSetId": order_set_id})


__all__ = ["control_router", "router"]
