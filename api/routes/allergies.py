"""Allergies: DoseSpot's allergen search and the patient's allergy list, both ways.

DoseSpot holds the list: reads come from DoseSpot each time, so what a clinician entered in
DoseSpot's own UI shows at once, and a PUT makes DoseSpot's list match the EHR's. Names of
allergens and reactions are PHI in context: they leave only in response bodies.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.dosespot_calls import DoseSpotDep, dosespot_errors, patient_access, workspace_clinic
from api.routes.clients import ClientId
from api.schemas import NoControl, PathId, RequestModel
from dosespot import DoseSpotClient
from dosespot.enums import AllergyStatus, ReactionType
from dosespot.models import Allergen, AllergyCreate, PatientAllergy

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["allergies"])
logger = logging.getLogger("api.allergies")

INT32_MAX = 2**31 - 1
EARLIEST_ONSET = date(1900, 1, 1)
# How DoseSpot lists "no known allergies": an uncoded entry of this name.
NO_KNOWN_ALLERGIES = "no known allergies"

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AllergyText = Annotated[Text200, NoControl]
# DoseSpot's ReactionType and StatusType names; Deleted is not offered: nothing is deleted.
ReactionTypeName = Literal["Allergy", "AdverseReaction"]
AllergyStatusName = Literal["Active", "Inactive"]


class AllergenPublic(BaseModel):
    allergen_id: int
    name: str
    brand_name: str | None
    type: str | None = Field(
        description="AllergenClass, ScreenableIngredient, FoodAndEnvironmentalAllergens or "
        "RoutedDoseFormDrugs"
    )
    category: str | None = Field(
        description="CommonAllergens, UncommonAllergens or OtherBrandDrugs"
    )


class AllergenSearchPublic(BaseModel):
    items: list[AllergenPublic]


class AllergyPublic(BaseModel):
    patient_allergy_id: int
    name: str | None
    allergen_id: int | None = Field(description="Set for a coded allergy, null for free text")
    allergen_type: str | None
    reaction: str | None
    reaction_type: str | None
    status: str | None
    onset_date: date | None


class AllergiesPublic(BaseModel):
    client_id: str
    no_known_allergies: bool = Field(
        description="DoseSpot records 'no known allergies' and no allergy is active"
    )
    items: list[AllergyPublic] = Field(description="Active and inactive allergies")


class AllergyChanges(BaseModel):
    added: int
    updated: int
    inactivated: int


class AllergiesUpdatePublic(AllergiesPublic):
    changes: AllergyChanges


class AllergyIn(RequestModel):
    """One allergy: coded (``allergen_id`` from the allergen search) or ``free_text``."""

    allergen_id: int | None = Field(default=None, gt=0, le=INT32_MAX)
    free_text: AllergyText | None = Field(default=None, description="What it is to, in words")
    reaction: AllergyText | None = Field(default=None, description="e.g. Hives")
    reaction_type: ReactionTypeName
    status: AllergyStatusName
    onset_date: date | None = None

    @field_validator("onset_date")
    @classmethod
    def _past(cls, value: date | None) -> date | None:
        if value is None:
            return None
        if value > datetime.now(UTC).date():
            raise ValueError("must not be in the future")
        if value < EARLIEST_ONSET:
            raise ValueError("must be after 1900")
        return value

    @model_validator(mode="after")
    def _coded_or_free_text(self) -> AllergyIn:
        if (self.allergen_id is None) == (self.free_text is None):
            raise ValueError("give allergen_id (a coded allergen) or free_text, exactly one")
        return self


class AllergiesUpdate(RequestModel):
    """The patient's allergies as the EHR knows them, or ``no_known_allergies: true``."""

    no_known_allergies: StrictBool = False
    allergies: list[AllergyIn] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _one_statement(self) -> AllergiesUpdate:
        if self.no_known_allergies and self.allergies is not None:
            raise ValueError("give allergies or no_known_allergies: true, not both")
        if not self.no_known_allergies and not self.allergies:
            raise ValueError(
                "list the allergies, or send no_known_allergies: true for a patient with none"
            )
        seen: set[str] = set()
        for allergy in self.allergies or []:
            key = _key(allergy.allergen_id, allergy.free_text)
            if key in seen:
                raise ValueError("an allergy is listed twice")
            seen.add(key)
        return self


def _key(allergen_id: int | None, name: str | None) -> str:
    if allergen_id is not None:
        return f"coded:{allergen_id}"
    return "text:" + " ".join((name or "").split()).casefold()


def _no_known(allergy: PatientAllergy) -> bool:
    return allergy.allergen_id is None and _key(None, allergy.display_name) == _key(
        None, NO_KNOWN_ALLERGIES
    )


def _status(allergy: PatientAllergy) -> AllergyStatus:
    return allergy.status_type or AllergyStatus.Active


def _listed(allergies: list[PatientAllergy]) -> list[PatientAllergy]:
    return [a for a in allergies if _status(a) is not AllergyStatus.Deleted]


def allergies_public(client_id: str, allergies: list[PatientAllergy]) -> AllergiesPublic:
    listed = _listed(allergies)
    real = [a for a in listed if not _no_known(a)]
    no_known = any(_no_known(a) and _status(a) is AllergyStatus.Active for a in listed)
    active_first = sorted(real, key=lambda a: _status(a) is not AllergyStatus.Active)
    return AllergiesPublic(
        client_id=client_id,
        no_known_allergies=no_known and not any(_status(a) is AllergyStatus.Active for a in real),
        items=[
            AllergyPublic(
                patient_allergy_id=a.patient_allergy_id,
                name=a.display_name,
                allergen_id=a.allergen_id,
                allergen_type=a.allergen_type.name if a.allergen_type else None,
                reaction=a.reaction or None,
                reaction_type=a.reaction_type.name if a.reaction_type else None,
                status=_status(a).name,
                onset_date=a.onset_date.date() if a.onset_date else None,
            )
            for a in active_first
        ],
    )


def _allergen_public(allergen: Allergen) -> AllergenPublic:
    return AllergenPublic(
        allergen_id=allergen.allergen_id,
        name=allergen.name,
        brand_name=allergen.brand_name or None,
        type=allergen.allergen_type.name if allergen.allergen_type else None,
        category=allergen.allergen_category.name if allergen.allergen_category else None,
    )


AllergenName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=100),
    NoControl,
]


@router.get("/allergens", response_model=AllergenSearchPublic)
async def search_allergens(
    ws: PathId,
    name: Annotated[AllergenName, Query(description="3 or more characters")],
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> AllergenSearchPublic:
    """DoseSpot's allergen search: classes, ingredients, foods and brand drugs by name."""
    principal.require_workspace(ws)
    clinic = await workspace_clinic(session, settings, ws)
    await session.commit()
    with dosespot_errors("allergen search", ws):
        found = await clinic.client(dosespot, settings).search_allergens(name, page=page)
    return AllergenSearchPublic(items=[_allergen_public(a) for a in found])


@router.get("/patients/{client_id}/allergies", response_model=AllergiesPublic)
async def patient_allergies(
    ws: PathId,
    client_id: ClientId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> AllergiesPublic:
    """The patient's allergies as DoseSpot holds them now (entries made in DoseSpot's UI
    included); deleted ones are left out."""
    principal.require_workspace(ws)
    patient = await patient_access(session, settings, ws, client_id)
    await session.commit()
    with dosespot_errors("patient allergies", ws):
        allergies = await patient.clinic.client(dosespot, settings).patient_allergies(
            patient.patient_id
        )
    return allergies_public(client_id, allergies)


# One reconciliation at a time per patient in this process: two concurrent PUTs would both
# see an allergy missing and add it twice (DoseSpot has no idempotency keys).
_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def _lock(ws: str, client_id: str) -> asyncio.Lock:
    lock = _locks.get((ws, client_id))
    if lock is None:
        lock = asyncio.Lock()
        _locks[(ws, client_id)] = lock
    return lock


@router.put("/patients/{client_id}/allergies", response_model=AllergiesUpdatePublic)
async def replace_allergies(
    ws: PathId,
    client_id: ClientId,
    body: AllergiesUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> AllergiesUpdatePublic:
    """Make DoseSpot's allergy list match: ``{"allergies": [...]}`` or
    ``{"no_known_allergies": true}``.

    Allergies missing from DoseSpot are added (a coded one matched by ``allergen_id``, a
    free-text one by its name, case-insensitively); one already there is left as it is,
    unless the request states a different reaction, reaction type, status or onset date,
    which is then edited (a reaction or onset the request leaves out is kept as DoseSpot
    has it). An active allergy no longer listed, and "no known allergies", are marked
    Inactive rather than deleted: an allergy list is a clinical record, and an inactive
    entry keeps in it that the patient was once recorded as allergic, where DoseSpot's
    ``Deleted`` is for entries made in error. "No known allergies" first marks every
    active allergy Inactive. A retried PUT finds everything in place and changes nothing,
    so one DoseSpot failed partway through is completed by retrying. 409 while the patient
    is not registered with DoseSpot.
    """
    principal.require_workspace(ws)
    patient = await patient_access(session, settings, ws, client_id)
    await session.commit()
    doses = patient.clinic.client(dosespot, settings)
    async with _lock(ws, client_id):
        with dosespot_errors("replace allergies", ws):
            changes = await _reconcile(doses, patient.patient_id, body)
            allergies = await doses.patient_allergies(patient.patient_id)
    logger.info(
        "allergies of DoseSpot patient %d in workspace %s: %d added, %d updated, %d inactivated",
        patient.patient_id,
        ws,
        changes.added,
        changes.updated,
        changes.inactivated,
    )
    return AllergiesUpdatePublic(
        **allergies_public(client_id, allergies).model_dump(), changes=changes
    )


async def _reconcile(
    doses: DoseSpotClient, patient_id: int, body: AllergiesUpdate
) -> AllergyChanges:
    current = _listed(await doses.patient_allergies(patient_id))
    wanted = body.allergies or []
    # Every entry of a listed allergy stays, duplicates entered in DoseSpot's UI included.
    kept = {a.patient_allergy_id for a in current for w in wanted if _matches(a, w)}
    stale = [
        a
        for a in current
        if a.patient_allergy_id not in kept
        and _status(a) is AllergyStatus.Active
        and not (body.no_known_allergies and _no_known(a))
    ]
    edits: list[tuple[int, AllergyCreate]] = []
    missing: list[AllergyIn] = []
    for allergy in wanted:
        match = _match(current, allergy)
        if match is None:
            missing.append(allergy)
        elif (edit := _edit(match, allergy)) is not None:
            edits.append((match.patient_allergy_id, edit))
    changes = AllergyChanges(added=0, updated=len(edits), inactivated=len(stale))

    # Inactivate first: DoseSpot refuses "no known allergies" while an allergy is active.
    for entry in stale:
        inactive = AllergyCreate.from_allergy(entry).model_copy(
            update={"status_type": AllergyStatus.Inactive}
        )
        await doses.edit_patient_allergy(patient_id, entry.patient_allergy_id, inactive)
    for allergy_id, edit in edits:
        await doses.edit_patient_allergy(patient_id, allergy_id, edit)
    for allergy in missing:
        await doses.add_patient_allergy(patient_id, _new(allergy))
        changes.added += 1
    if body.no_known_allergies and not any(
        _no_known(a) and _status(a) is AllergyStatus.Active for a in current
    ):
        await doses.add_no_known_allergies(patient_id)
        changes.added += 1
    return changes


def _new(allergy: AllergyIn) -> AllergyCreate:
    return AllergyCreate(
        allergen_id=allergy.allergen_id,
        free_text_display_name=allergy.free_text,
        reaction=allergy.reaction,
        reaction_type=ReactionType[allergy.reaction_type],
        status_type=AllergyStatus[allergy.status],
        onset_date=allergy.onset_date,
    )


def _match(current: list[PatientAllergy], wanted: AllergyIn) -> PatientAllergy | None:
    """DoseSpot's entry for ``wanted``: the same allergen, or for free text the same name
    (an allergen coded in DoseSpot's UI under that name counts); an active one first."""
    candidates = [a for a in current if _matches(a, wanted)]
    candidates.sort(
        key=lambda a: (_status(a) is not AllergyStatus.Active, a.allergen_id is not None)
    )
    return candidates[0] if candidates else None


def _matches(allergy: PatientAllergy, wanted: AllergyIn) -> bool:
    if _no_known(allergy):
        return False
    if wanted.allergen_id is not None:
        return allergy.allergen_id == wanted.allergen_id
    return _key(None, allergy.display_name) == _key(None, wanted.free_text)


def _edit(existing: PatientAllergy, wanted: AllergyIn) -> AllergyCreate | None:
    """The edit that makes ``existing`` say what ``wanted`` states, or None if it does."""
    edit = AllergyCreate.from_allergy(existing)
    update: dict[str, object] = {}
    if wanted.reaction is not None and wanted.reaction != (existing.reaction or "").strip():
        update["reaction"] = wanted.reaction
    if ReactionType[wanted.reaction_type] is not edit.reaction_type:
        update["reaction_type"] = ReactionType[wanted.reaction_type]
    if AllergyStatus[wanted.status] is not edit.status_type:
        update["status_type"] = AllergyStatus[wanted.status]
    if wanted.onset_date is not None and wanted.onset_date != edit.onset_date:
        update["onset_date"] = wanted.onset_date
    return edit.model_copy(update=update) if update else None
