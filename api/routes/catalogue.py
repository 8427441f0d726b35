"""What can be prescribed: DoseSpot's medications and supplies, the clinic's presets, each
clinician's favourites and order sets, and ICD-10 diagnoses; favourites and order sets are
created, edited and deleted here too. They live in DoseSpot, not in our database.

Clinic-level calls act as the partner's admin user in the workspace's clinic; a
clinician's favourites and order sets are read and written as that clinician's DoseSpot
user. Every request is validated before anything is sent to DoseSpot. Logs carry ids and
counts, never what was searched for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.dosespot_access import clinic_key
from api.auth import Principal, Role
from api.catalogue_schemas import (
    CatalogueSearch,
    CatalogueSearchPublic,
    CompoundItem,
    DiagnosisPublic,
    DiagnosisSearchPublic,
    FavoriteIn,
    FavoriteSaved,
    IngredientPublic,
    ItemKind,
    MedicationItem,
    OrderSetIn,
    OrderSetPublic,
    OrderSetSaved,
    PrescribableIds,
    PrescribablePublic,
    PrescriptionDefaults,
    PrescriptionTemplateIn,
    Scope,
    SearchName,
    SupplyItem,
)
from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.dosespot_calls import ClinicAccess, DoseSpotDep, dosespot_errors, workspace_clinic
from api.errors import Conflict, NotFound, Unprocessable
from api.routes.pharmacies import PageInfo
from api.schemas import PathId
from db.models import ClinicianEnrollment, ClinicRegistration
from dosespot import DoseSpotClient, DoseSpotCredentials
from dosespot.errors import DoseSpotNotFound, DoseSpotRefused
from dosespot.models import (
    CompoundIngredientCreate,
    Diagnosis,
    FavoriteCreate,
    FavoritePage,
    MedicationSelection,
    OrderSet,
    OrderSetCreate,
    OrderSetEntry,
    PageResult,
    PrescriptionDiagnosisIds,
    PrescriptionFavorite,
)
from erx.codec import SecretBox
from erx.settings import Settings
from workflows.models import ClinicianStatus, ClinicStatus

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["prescribing catalogue"])
logger = logging.getLogger("api.catalogue")

# Drug details read at once per answer (one DoseSpot call each).
DETAIL_CONCURRENCY = 4
# Pages of favourites looked through for one favourite (100 a page).
MAX_FAVORITE_PAGES = 20
DoseSpotPathId = Annotated[int, Path(gt=0, le=2**31 - 1, description="DoseSpot's id")]


@dataclass(frozen=True, slots=True)
class ClinicianAccess:
    """A clinician's DoseSpot user in the workspace's clinic."""

    clinic: ClinicAccess
    member_id: str
    clinician_id: int

    def client(self, dosespot: DoseSpotClient) -> DoseSpotClient:
        return dosespot.as_user(
            DoseSpotCredentials(
                clinic_id=self.clinic.clinic_id,
                clinic_key=self.clinic.key,
                user_id=self.clinician_id,
            )
        )


async def clinician_access(
    session: AsyncSession, settings: Settings, ws: str, member_id: str
) -> ClinicianAccess:
    """The member's DoseSpot user in their default location's clinic (409 until DoseSpot
    has registered them)."""
    clinic = await workspace_clinic(session, settings, ws)
    enrollment = await session.get(ClinicianEnrollment, (ws, member_id))
    if (
        enrollment is None
        or enrollment.dosespot_clinician_id is None
        or enrollment.state == "deactivated"
    ):
        raise Conflict(
            "the clinician has no active DoseSpot account",
            state=enrollment.state if enrollment else "not_invited",
            allowed_actions=[],
        )
    home = await _default_clinic(session, settings, ws, enrollment)
    return ClinicianAccess(home or clinic, member_id, enrollment.dosespot_clinician_id)


async def _default_clinic(
    session: AsyncSession, settings: Settings, ws: str, enrollment: ClinicianEnrollment
) -> ClinicAccess | None:
    """The registered clinic of the clinician's default location, as their enrollment last
    reported it; None when the read model does not say."""
    if enrollment.status_json is None:
        return None
    clinic_id = ClinicianStatus.model_validate_json(enrollment.status_json).dosespot_clinic_id
    if clinic_id is None:
        return None
    registration = await session.scalar(
        select(ClinicRegistration).where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.dosespot_clinic_id == clinic_id,
            ClinicRegistration.status == ClinicStatus.registered.value,
        )
    )
    if registration is None:
        return None
    key = clinic_key(registration, SecretBox(settings.codec_keys, settings.codec_active_key_id))
    return None if key is None else ClinicAccess(ws, clinic_id, key)


def _whose(principal: Principal, named: str | None) -> str:
    """The clinician a request is about: the one named, or a person's own key's member."""
    if named is None:
        if principal.member_id is None:
            raise Unprocessable(
                "clinician_member_id", "a service key names the clinician (clinician_member_id)"
            )
        return principal.member_id
    principal.require_self_or(named, Role.service, Role.admin)
    return named


# Our shape


def _page(page: PageResult) -> PageInfo:
    return PageInfo(
        page=page.current_page,
        page_size=page.page_size,
        total_pages=page.total_pages,
        total_count=page.total_count,
        has_next=page.has_next,
        has_previous=page.has_previous,
    )


def _diagnosis(diagnosis: Diagnosis | None) -> DiagnosisPublic | None:
    if diagnosis is None or diagnosis.diagnosis_id is None:
        return None
    return DiagnosisPublic(
        diagnosis_id=diagnosis.diagnosis_id,
        code=diagnosis.diagnosis_code,
        name=diagnosis.diagnosis_description,
    )


def favorite_diagnoses(favorite: PrescriptionFavorite) -> list[DiagnosisPublic]:
    found: list[DiagnosisPublic] = []
    for pair in (favorite.first_diagnosis, favorite.second_diagnosis):
        if pair is None:
            continue
        for diagnosis in (pair.primary_diagnosis, pair.secondary_diagnosis):
            public = _diagnosis(diagnosis)
            if public is not None and public not in found:
                found.append(public)
    return found


def favorite_kind(favorite: PrescriptionFavorite) -> ItemKind:
    if favorite.is_compound or favorite.compound_ingredients:
        return "compound"
    if favorite.is_supply or (favorite.supply_id and not favorite.dispensable_drug_id):
        return "supply"
    return "medication"


def _with_details(
    item: PrescribablePublic, selected: MedicationSelection | None
) -> PrescribablePublic:
    if selected is None:
        return item
    return item.model_copy(
        update={
            "display_name": selected.display_name or item.display_name,
            "strength": selected.strength or item.strength,
            "dose_form": selected.dose_form,
            "route": selected.route,
            "schedule": selected.schedule,
            "controlled": selected.controlled,
            "otc": selected.otc,
            "obsolete": selected.is_obsolete,
            "ids": item.ids.model_copy(
                update={
                    "ndc": item.ids.ndc or selected.ndc,
                    "rxcui": item.ids.rxcui or selected.rxcui,
                }
            ),
        }
    )


def _favorite_item(favorite: PrescriptionFavorite, scope: Scope) -> PrescribablePublic:
    kind = favorite_kind(favorite)
    return PrescribablePublic(
        kind=kind,
        display_name=favorite.med_display_name or favorite.title,
        strength=favorite.med_strength_string,
        dose_form=None,
        route=None,
        schedule=None,
        controlled=None,
        otc=None,
        obsolete=None,
        ids=PrescribableIds(
            dispensable_drug_id=favorite.dispensable_drug_id if kind == "medication" else None,
            supply_id=favorite.supply_id,
            compound_id=favorite.compound_id,
        ),
        favorite=PrescriptionDefaults(
            favorite_id=favorite.favorite_id,
            scope=scope,
            title=favorite.title,
            directions=favorite.directions,
            quantity=favorite.quantity,
            dispense_unit_id=favorite.dispense_unit_type_id,
            refills=favorite.refills,
            days_supply=favorite.days_supply,
            no_substitutions=favorite.no_substitutions,
            notes=favorite.notes,
            diagnoses=favorite_diagnoses(favorite),
            ingredients=[
                IngredientPublic(
                    dispensable_drug_id=i.dispensable_drug_id,
                    free_text=i.free_text,
                    quantity=i.quantity,
                    dispense_unit_id=i.dispense_unit_id,
                )
                for i in favorite.compound_ingredients
            ],
        ),
    )


async def _detailed(
    doses: DoseSpotClient, items: list[PrescribablePublic]
) -> list[PrescribablePublic]:
    """Each coded medication with its dose form, route and schedule (DoseSpot's select).

    A drug DoseSpot no longer describes keeps what the list said of it rather than failing
    the whole answer.
    """
    drug_ids = list(
        dict.fromkeys(
            i.ids.dispensable_drug_id
            for i in items
            if i.kind == "medication" and i.ids.dispensable_drug_id
        )
    )
    limit = asyncio.Semaphore(DETAIL_CONCURRENCY)

    async def select(drug_id: int) -> tuple[int, MedicationSelection | None]:
        async with limit:
            try:
                return drug_id, await doses.select_medication(dispensable_drug_id=drug_id)
            except (DoseSpotRefused, DoseSpotNotFound):
                return drug_id, None

    selected = dict(await asyncio.gather(*(select(d) for d in drug_ids)))
    return [
        _with_details(i, selected.get(i.ids.dispensable_drug_id or 0))
        if i.kind == "medication"
        else i
        for i in items
    ]


# Searches


@router.get("/diagnoses", response_model=DiagnosisSearchPublic)
async def search_diagnoses(
    ws: PathId,
    name: Annotated[SearchName, Query(description="An ICD-10 code or words of its name")],
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> DiagnosisSearchPublic:
    """DoseSpot's ICD-10 diagnosis search by code or name (3+ characters)."""
    principal.require_workspace(ws)
    clinic = await workspace_clinic(session, settings, ws)
    await session.commit()
    with dosespot_errors("diagnosis search", ws):
        found = await clinic.client(dosespot, settings).search_diagnoses(name, page=page)
    return DiagnosisSearchPublic(
        items=[
            DiagnosisPublic(
                diagnosis_id=d.diagnosis_id, code=d.diagnosis_code, name=d.diagnosis_name
            )
            for d in found.items
            if d.diagnosis_id is not None
        ],
        page=_page(found.page),
    )


@router.get("/medications", response_model=CatalogueSearchPublic)
async def search_prescribables(
    ws: PathId,
    filters: Annotated[CatalogueSearch, Query()],
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> CatalogueSearchPublic:
    """What can be prescribed, one tab at a time: medications, supplies, the clinic's
    presets, the clinician's favourites, or order sets (the clinic's and the clinician's)."""
    principal.require_workspace(ws)
    if filters.tab in ("medications", "supplies") and filters.name is None:
        raise Unprocessable("name", f"the {filters.tab} tab searches by name (3+ characters)")
    member_id: str | None = None
    clinician: ClinicianAccess | None = None
    # A member key's order sets include its own; other keys name the clinician to.
    own_order_sets = filters.tab == "order_sets" and (
        filters.clinician_member_id is not None or principal.role == Role.member
    )
    if filters.tab == "clinician_favorites" or own_order_sets:
        member_id = _whose(principal, filters.clinician_member_id)
        clinician = await clinician_access(session, settings, ws, member_id)
    elif filters.clinician_member_id is not None:
        raise Unprocessable(
            "clinician_member_id", f"the {filters.tab} tab is the clinic's, not a clinician's"
        )
    clinic = clinician.clinic if clinician else await workspace_clinic(session, settings, ws)
    await session.commit()
    doses = clinic.client(dosespot, settings)
    with dosespot_errors(f"{filters.tab} search", ws):
        answer = await _TABS[filters.tab](doses, clinician, dosespot, filters)
    logger.info(
        "catalogue tab %s in workspace %s: %d items, %d order sets",
        filters.tab,
        ws,
        len(answer.items),
        len(answer.order_sets),
    )
    return answer.model_copy(update={"clinician_member_id": member_id})


TabReader = Callable[
    [DoseSpotClient, ClinicianAccess | None, DoseSpotClient, CatalogueSearch],
    Awaitable[CatalogueSearchPublic],
]


async def _medications(
    doses: DoseSpotClient,
    _clinician: ClinicianAccess | None,
    _dosespot: DoseSpotClient,
    filters: CatalogueSearch,
) -> CatalogueSearchPublic:
    assert filters.name is not None
    found = await doses.medication_page(filters.name, page=filters.page)
    items = [
        PrescribablePublic(
            kind="medication",
            display_name=drug.name_with_route_dose_form,
            strength=drug.strength,
            dose_form=None,
            route=None,
            schedule=None,
            controlled=None,
            otc=None,
            obsolete=drug.is_obsolete,
            ids=PrescribableIds(
                dispensable_drug_id=drug.dispensable_drug_id,
                routed_dose_form_drug_id=drug.routed_dose_form_drug_id,
                ndc=drug.ndc,
                rxcui=drug.rxcui,
            ),
        )
        for drug in found.items
    ]
    return _answer(filters, await _detailed(doses, items), found.page)


async def _supplies(
    doses: DoseSpotClient,
    _clinician: ClinicianAccess | None,
    _dosespot: DoseSpotClient,
    filters: CatalogueSearch,
) -> CatalogueSearchPublic:
    assert filters.name is not None
    found = await doses.search_supplies(filters.name, page=filters.page)
    items = [
        PrescribablePublic(
            kind="supply",
            display_name=supply.name,
            strength=None,
            dose_form=None,
            route=None,
            schedule=None,
            controlled=False,
            otc=None,
            obsolete=supply.is_obsolete,
            ids=PrescribableIds(supply_id=supply.supply_id, ndc=supply.ndc, upc=supply.upc),
        )
        for supply in found.items
    ]
    return _answer(filters, items, found.page)


async def _clinic_favorites(
    doses: DoseSpotClient,
    _clinician: ClinicianAccess | None,
    _dosespot: DoseSpotClient,
    filters: CatalogueSearch,
) -> CatalogueSearchPublic:
    found = await doses.clinic_favorites(
        doses.credentials.clinic_id, search_name=filters.name, page=filters.page
    )
    items = [_favorite_item(f, "clinic") for f in found.items]
    return _answer(filters, await _detailed(doses, items), found.page)


async def _clinician_favorites(
    doses: DoseSpotClient,
    clinician: ClinicianAccess | None,
    dosespot: DoseSpotClient,
    filters: CatalogueSearch,
) -> CatalogueSearchPublic:
    assert clinician is not None
    found = await clinician.client(dosespot).clinician_favorites(
        clinician.clinician_id, search_name=filters.name, page=filters.page
    )
    items = [_favorite_item(f, "clinician") for f in found.items]
    return _answer(filters, await _detailed(doses, items), found.page)


async def _order_sets(
    doses: DoseSpotClient,
    clinician: ClinicianAccess | None,
    dosespot: DoseSpotClient,
    filters: CatalogueSearch,
) -> CatalogueSearchPublic:
    clinic_sets = await doses.clinic_order_sets(search=filters.name, page=filters.page)
    pages = [clinic_sets.page]
    scoped: list[tuple[Scope, OrderSet]] = [("clinic", s) for s in clinic_sets.items]
    if clinician is not None:
        own = await clinician.client(dosespot).clinician_order_sets(
            search=filters.name, page=filters.page
        )
        pages.append(own.page)
        scoped += [("clinician", s) for s in own.items]
    entries = [_favorite_item(f, scope) for scope, order_set in scoped for f in order_set.favorites]
    detailed = iter(await _detailed(doses, entries))
    order_sets = [
        OrderSetPublic(
            order_set_id=order_set.order_set_id,
            scope=scope,
            title=order_set.title,
            items=[next(detailed) for _ in order_set.favorites],
        )
        for scope, order_set in scoped
    ]
    page = PageInfo(
        page=filters.page,
        page_size=max((p.page_size or 0) for p in pages) or None,
        total_pages=max(p.total_pages for p in pages),
        total_count=sum(p.total_count or 0 for p in pages),
        has_next=any(p.has_next for p in pages),
        has_previous=filters.page > 1,
    )
    return CatalogueSearchPublic(
        tab=filters.tab, clinician_member_id=None, items=[], order_sets=order_sets, page=page
    )


def _answer(
    filters: CatalogueSearch, items: list[PrescribablePublic], page: PageResult
) -> CatalogueSearchPublic:
    return CatalogueSearchPublic(
        tab=filters.tab, clinician_member_id=None, items=items, order_sets=[], page=_page(page)
    )


_TABS: dict[str, TabReader] = {
    "medications": _medications,
    "supplies": _supplies,
    "clinic_favorites": _clinic_favorites,
    "clinician_favorites": _clinician_favorites,
    "order_sets": _order_sets,
}


# Favourites and order sets


def _item_kind(template: PrescriptionTemplateIn) -> ItemKind:
    return template.item.kind


def _template_fields(template: PrescriptionTemplateIn) -> dict[str, object]:
    """The DoseSpot fields of what a favourite or order-set entry prefills."""
    if template.secondary_diagnosis_id is not None and template.primary_diagnosis_id is None:
        raise Unprocessable("secondary_diagnosis_id", "only with a primary_diagnosis_id")
    item = template.item
    fields: dict[str, object] = {
        "directions": template.directions,
        "quantity": template.quantity,
        "dispense_unit_type_id": template.dispense_unit_id,
        "refills": template.refills,
        "days_supply": template.days_supply,
        "no_substitutions": template.no_substitutions,
        "notes": template.notes,
    }
    if template.primary_diagnosis_id is not None:
        fields["first_prescription_diagnosis"] = PrescriptionDiagnosisIds(
            primary_diagnosis_id=template.primary_diagnosis_id,
            secondary_diagnosis_id=template.secondary_diagnosis_id,
        )
    if isinstance(item, MedicationItem):
        fields["dispensable_drug_id"] = item.dispensable_drug_id
    elif isinstance(item, SupplyItem):
        fields["supply_id"] = item.supply_id
        fields["free_text"] = item.name
    elif isinstance(item, CompoundItem):
        fields["compound_description"] = item.description
        fields["compound_ingredients"] = [
            CompoundIngredientCreate(
                dispensable_drug_id=i.dispensable_drug_id,
                free_text=i.name,
                quantity=i.quantity,
                dispense_unit_id=i.dispense_unit_id,
            )
            for i in item.ingredients
        ]
    return fields


def _favorite(body: FavoriteIn) -> FavoriteCreate:
    return FavoriteCreate.model_validate({**_template_fields(body), "title": body.title})


def _order_set(body: OrderSetIn) -> OrderSetCreate:
    entries = []
    for index, item in enumerate(body.items):
        try:
            fields = _template_fields(item)
        except Unprocessable as exc:
            raise Unprocessable(f"items.{index}.secondary_diagnosis_id", str(exc)) from exc
        entries.append(OrderSetEntry.model_validate({**fields, "favorite_id": item.favorite_id}))
    return OrderSetCreate(title=body.title, favorites=entries)


def _refused_input(exc: DoseSpotRefused) -> Unprocessable:
    """DoseSpot's refusal of what a favourite names (an unknown drug, supply, dispense unit
    or diagnosis): the caller's input, so 422 with DoseSpot's words."""
    return Unprocessable("item", exc.description or "DoseSpot refused the favourite")


class _Page(Protocol[T_co]):
    @property
    def items(self) -> Sequence[T_co]: ...
    @property
    def page(self) -> PageResult: ...


async def find_on_pages(
    read: Callable[[int], Awaitable[_Page[T]]], wanted: Callable[[T], bool], missing: str
) -> T:
    """The first item ``wanted`` on DoseSpot's pages (at most ``MAX_FAVORITE_PAGES``), else
    404 with ``missing``: DoseSpot reads favourites and order sets only page by page."""
    for number in range(1, MAX_FAVORITE_PAGES + 1):
        found = await read(number)
        for item in found.items:
            if wanted(item):
                return item
        if not found.page.has_next or not found.items:
            break
    raise NotFound(missing)


async def find_favorite(
    read: Callable[[int], Awaitable[FavoritePage]], favorite_id: int
) -> PrescriptionFavorite:
    return await find_on_pages(
        read, lambda favorite: favorite.favorite_id == favorite_id, "no such favourite"
    )


def _same_kind(current: PrescriptionFavorite, body: FavoriteIn) -> None:
    if favorite_kind(current) != _item_kind(body):
        raise Unprocessable(
            "item.kind", f"a favourite keeps its kind: this one is a {favorite_kind(current)}"
        )


def _saved(
    favorite_id: int, scope: Scope, member_id: str | None, body: FavoriteIn
) -> FavoriteSaved:
    return FavoriteSaved(
        favorite_id=favorite_id, scope=scope, clinician_member_id=member_id, kind=_item_kind(body)
    )


async def _clinic_for_presets(
    principal: Principal, session: AsyncSession, settings: Settings, ws: str
) -> ClinicAccess:
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    clinic = await workspace_clinic(session, settings, ws)
    await session.commit()
    return clinic


async def _clinician_for(
    principal: Principal, session: AsyncSession, settings: Settings, ws: str, member_id: str
) -> ClinicianAccess:
    principal.require_workspace(ws)
    principal.require_self_or(member_id, Role.service, Role.admin)
    clinician = await clinician_access(session, settings, ws, member_id)
    await session.commit()
    return clinician


@router.post("/favorites/clinic", response_model=FavoriteSaved, status_code=201)
async def add_clinic_favorite(
    ws: PathId,
    body: FavoriteIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> FavoriteSaved:
    """Add a clinic preset (service or admin key): a medication, supply or compound."""
    favorite = _favorite(body)
    clinic = await _clinic_for_presets(principal, session, settings, ws)
    with dosespot_errors("add clinic favourite", ws):
        try:
            favorite_id = await clinic.client(dosespot, settings).add_clinic_favorite(
                clinic.clinic_id, favorite
            )
        except DoseSpotRefused as exc:
            raise _refused_input(exc) from exc
    logger.info("clinic favourite %d added in workspace %s", favorite_id, ws)
    return _saved(favorite_id, "clinic", None, body)


@router.put("/favorites/clinic/{favorite_id}", response_model=FavoriteSaved)
async def edit_clinic_favorite(
    ws: PathId,
    favorite_id: DoseSpotPathId,
    body: FavoriteIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> FavoriteSaved:
    """Replace a clinic preset (service or admin key); it keeps its kind."""
    favorite = _favorite(body)
    clinic = await _clinic_for_presets(principal, session, settings, ws)
    doses = clinic.client(dosespot, settings)
    with dosespot_errors("edit clinic favourite", ws):
        current = await find_favorite(
            lambda page: doses.clinic_favorites(clinic.clinic_id, page=page), favorite_id
        )
        _same_kind(current, body)
        try:
            await doses.edit_clinic_favorite(clinic.clinic_id, favorite_id, favorite)
        except DoseSpotRefused as exc:
            raise _refused_input(exc) from exc
    logger.info("clinic favourite %d edited in workspace %s", favorite_id, ws)
    return _saved(favorite_id, "clinic", None, body)


@router.post("/favorites/clinicians/{member_id}", response_model=FavoriteSaved, status_code=201)
async def add_clinician_favorite(
    ws: PathId,
    member_id: PathId,
    body: FavoriteIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> FavoriteSaved:
    """Add one of the clinician's own favourites (their key, or a service or admin key)."""
    favorite = _favorite(body)
    clinician = await _clinician_for(principal, session, settings, ws, member_id)
    with dosespot_errors("add clinician favourite", ws):
        try:
            favorite_id = await clinician.client(dosespot).add_clinician_favorite(favorite)
        except DoseSpotRefused as exc:
            raise _refused_input(exc) from exc
    logger.info(
        "favourite %d added for DoseSpot clinician %d in workspace %s",
        favorite_id,
        clinician.clinician_id,
        ws,
    )
    return _saved(favorite_id, "clinician", member_id, body)


@router.put("/favorites/clinicians/{member_id}/{favorite_id}", response_model=FavoriteSaved)
async def edit_clinician_favorite(
    ws: PathId,
    member_id: PathId,
    favorite_id: DoseSpotPathId,
    body: FavoriteIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> FavoriteSaved:
    """Replace one of the clinician's favourites; it keeps its kind."""
    favorite = _favorite(body)
    clinician = await _clinician_for(principal, session, settings, ws, member_id)
    doses = clinician.client(dosespot)
    with dosespot_errors("edit clinician favourite", ws):
        current = await find_favorite(
            lambda page: doses.clinician_favorites(clinician.clinician_id, page=page),
            favorite_id,
        )
        _same_kind(current, body)
        try:
            await doses.edit_clinician_favorite(favorite_id, favorite)
        except DoseSpotRefused as exc:
            raise _refused_input(exc) from exc
    logger.info(
        "favourite %d edited for DoseSpot clinician %d in workspace %s",
        favorite_id,
        clinician.clinician_id,
        ws,
    )
    return _saved(favorite_id, "clinician", member_id, body)


@router.delete(
    "/favorites/clinicians/{member_id}/{favorite_id}", status_code=204, response_class=Response
)
async def delete_clinician_favorite(
    ws: PathId,
    member_id: PathId,
    favorite_id: DoseSpotPathId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> Response:
    """Delete one of the clinician's favourites (404 if they have no such favourite)."""
    clinician = await _clinician_for(principal, session, settings, ws, member_id)
    doses = clinician.client(dosespot)
    with dosespot_errors("delete clinician favourite", ws):
        await find_favorite(
            lambda page: doses.clinician_favorites(clinician.clinician_id, page=page),
            favorite_id,
        )
        await doses.delete_clinician_favorites([favorite_id])
    logger.info(
        "favourite %d deleted for DoseSpot clinician %d in workspace %s",
        favorite_id,
        clinician.clinician_id,
        ws,
    )
    return Response(status_code=204)


async def _own_order_set(doses: DoseSpotClient, order_set_id: int) -> OrderSet:
    try:
        return await doses.clinician_order_set(order_set_id)
    except (DoseSpotRefused, DoseSpotNotFound) as exc:
        raise NotFound("no such order set") from exc


def _order_set_saved(order_set_id: int, member_id: str, body: OrderSetIn) -> OrderSetSaved:
    return OrderSetSaved(
        order_set_id=order_set_id,
        scope="clinician",
        clinician_member_id=member_id,
        items=len(body.items),
    )


@router.post("/order-sets/clinicians/{member_id}", response_model=OrderSetSaved, status_code=201)
async def add_clinician_order_set(
    ws: PathId,
    member_id: PathId,
    body: OrderSetIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> OrderSetSaved:
    """Add one of the clinician's order sets: a title and the prescriptions it holds."""
    order_set = _order_set(body)
    clinician = await _clinician_for(principal, session, settings, ws, member_id)
    with dosespot_errors("add order set", ws):
        try:
            order_set_id = await clinician.client(dosespot).add_clinician_order_set(order_set)
        except DoseSpotRefused as exc:
            raise Unprocessable("items", exc.description or "DoseSpot refused") from exc
    logger.info(
        "order set %d added for DoseSpot clinician %d in workspace %s",
        order_set_id,
        clinician.clinician_id,
        ws,
    )
    return _order_set_saved(order_set_id, member_id, body)


@router.put("/order-sets/clinicians/{member_id}/{order_set_id}", response_model=OrderSetSaved)
async def edit_clinician_order_set(
    ws: PathId,
    member_id: PathId,
    order_set_id: DoseSpotPathId,
    body: OrderSetIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> OrderSetSaved:
    """Replace one of the clinician's order sets: its title and every entry."""
    order_set = _order_set(body)
    clinician = await _clinician_for(principal, session, settings, ws, member_id)
    doses = clinician.client(dosespot)
    with dosespot_errors("edit order set", ws):
        await _own_order_set(doses, order_set_id)
        try:
            await doses.edit_clinician_order_set(order_set_id, order_set)
        except DoseSpotRefused as exc:
            raise Unprocessable("items", exc.description or "DoseSpot refused") from exc
    logger.info(
        "order set %d edited for DoseSpot clinician %d in workspace %s",
        order_set_id,
        clinician.clinician_id,
        ws,
    )
    return _order_set_saved(order_set_id, member_id, body)


@router.delete(
    "/order-sets/clinicians/{member_id}/{order_set_id}", status_code=204, response_class=Response
)
async def delete_clinician_order_set(
    ws: PathId,
    member_id: PathId,
    order_set_id: DoseSpotPathId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> Response:
    """Delete one of the clinician's order sets (404 if they have no such order set)."""
    clinician = await _clinician_for(principal, session, settings, ws, member_id)
    doses = clinician.client(dosespot)
    with dosespot_errors("delete order set", ws):
        await _own_order_set(doses, order_set_id)
        await doses.delete_clinician_order_set(order_set_id)
    logger.info(
        "order set %d deleted for DoseSpot clinician %d in workspace %s",
        order_set_id,
        clinician.clinician_id,
        ws,
    )
    return Response(status_code=204)
