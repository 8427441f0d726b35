"""The OpenAPI document as the API answers: its error bodies, and each route's error statuses.

FastAPI documents a 422 with its own ``HTTPValidationError``, and no other error. Our
errors all have one shape (:class:`api.errors.ErrorPublic`; bad input is
:class:`api.errors.InvalidInputPublic`, with ``errors[]``), and each route gives the
statuses listed for it in :data:`ROUTE_ERRORS`: a route without an entry fails the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from api.errors import ErrorPublic, InvalidInputPublic
from api.routes import (
    allergies,
    billing,
    catalogue,
    clients,
    clinicians,
    codec,
    directory,
    erx,
    erx_notifications,
    health,
    notifications,
    patients,
    pharmacies,
    prescriptions,
    proxies,
    renewals,
)

DESCRIPTIONS = {
    401: "No API key, or one that is unknown or revoked",
    403: "The key's role, or the person it names, may not do this",
    404: "No such resource in this workspace (another workspace's do not exist for this key)",
    409: "The resource's state refuses the action; `state` and `allowed_actions` say why",
    422: "Bad input: `errors` names each field at fault and the reason; nothing changed",
    502: "DoseSpot refused or garbled a call the API had validated",
    503: "DoseSpot, Temporal or the database is not answering; try again shortly",
}

# Every workspace route: a workspace key (401), the workspace in the path (404), its
# path ids and body (422).
WORKSPACE = (401, 404, 422)
# Routes that ask DoseSpot while the request waits (api.dosespot_calls.dosespot_errors).
DOSESPOT = (502, 503)

ROUTE_ERRORS: dict[Callable[..., Any], tuple[int, ...]] = {
    health.healthz: (),
    health.readyz: (503,),
    directory.put_location: (*WORKSPACE, 403),
    directory.put_member: (*WORKSPACE, 403),
    directory.list_members: WORKSPACE,
    clients.put_client: (*WORKSPACE, 403, 503),
    clients.read_client: WORKSPACE,
    erx.setup: (*WORKSPACE, 403, 409),
    erx.supply_clinic_key: (*WORKSPACE, 403, 409),
    erx.get_progress: WORKSPACE,
    clinicians.preview_invitations: (*WORKSPACE, 403),
    clinicians.invite: (*WORKSPACE, 403, 409),
    clinicians.list_clinicians: WORKSPACE,
    clinicians.get_clinician: (*WORKSPACE, 403),
    clinicians.enrollment_draft: (*WORKSPACE, 403),
    clinicians.submit_enrollment: (*WORKSPACE, 403, 409),
    clinicians.start_verification: (*WORKSPACE, 403, 409),
    clinicians.start_two_factor: (*WORKSPACE, 403, 409),
    clinicians.approve_epcs: (*WORKSPACE, 403, 409),
    clinicians.retry: (*WORKSPACE, 403, 409),
    clinicians.deactivate: (*WORKSPACE, 403, 409),
    billing.get_billing: WORKSPACE,
    erx_notifications.notifications: WORKSPACE,
    patients.register_patient: (*WORKSPACE, 409),
    patients.get_patient: WORKSPACE,
    patients.retry_patient: (*WORKSPACE, 403, 409),
    patients.sync_patient: (*WORKSPACE, 409),
    patients.medications: (*WORKSPACE, 403),
    patients.prescribing_session: (*WORKSPACE, 403, 409),
    pharmacies.search_pharmacies: (*WORKSPACE, 409, *DOSESPOT),
    pharmacies.patient_pharmacies: (*WORKSPACE, 409, *DOSESPOT),
    pharmacies.set_default_pharmacy: (*WORKSPACE, 409, *DOSESPOT),
    pharmacies.send_insurance: (*WORKSPACE, 409, *DOSESPOT),
    allergies.search_allergens: (*WORKSPACE, 409, *DOSESPOT),
    allergies.patient_allergies: (*WORKSPACE, 409, *DOSESPOT),
    allergies.replace_allergies: (*WORKSPACE, 409, *DOSESPOT),
    catalogue.search_diagnoses: (*WORKSPACE, 409, *DOSESPOT),
    catalogue.search_prescribables: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.add_clinic_favorite: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.edit_clinic_favorite: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.add_clinician_favorite: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.edit_clinician_favorite: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.delete_clinician_favorite: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.add_clinician_order_set: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.edit_clinician_order_set: (*WORKSPACE, 403, 409, *DOSESPOT),
    catalogue.delete_clinician_order_set: (*WORKSPACE, 403, 409, *DOSESPOT),
    renewals.list_renewals: WORKSPACE,
    renewals.get_renewal: WORKSPACE,
    renewals.approve_renewal: (*WORKSPACE, 403, 409),
    renewals.deny_renewal: (*WORKSPACE, 403, 409),
    renewals.retry_renewal: (*WORKSPACE, 403, 409),
    prescriptions.draft_prescriptions: (*WORKSPACE, 409, *DOSESPOT),
    prescriptions.list_prescriptions: WORKSPACE,
    prescriptions.dose_calculation: WORKSPACE,
    prescriptions.review_prescription: (*WORKSPACE, 409, *DOSESPOT),
    prescriptions.edit_prescription: (*WORKSPACE, 409, *DOSESPOT),
    prescriptions.cancel_prescription: (*WORKSPACE, 409),
    prescriptions.save_prescription: (*WORKSPACE, 409),
    # Only the prescriber sends (403), and a controlled substance only with EPCS access
    # (403, audited); a prescription DoseSpot already took, or refused, answers 409.
    prescriptions.send_prescription: (*WORKSPACE, 403, 409),
    prescriptions.retry_prescription: (*WORKSPACE, 409),
    # Only who may send it prints it (403); a controlled substance, a cancelled prescription
    # or one DoseSpot sent is not printed (409); a draft still being saved answers 503.
    prescriptions.print_prescription: (*WORKSPACE, 403, 409, *DOSESPOT),
    # Registering needs a service or admin key (403), verified supervisors and a clinic
    # (409), and asks DoseSpot while the request waits.
    proxies.register_proxy: (*WORKSPACE, 403, 409, *DOSESPOT),
    proxies.get_proxy: WORKSPACE,
    proxies.remove_proxy: (*WORKSPACE, 403, *DOSESPOT),
    proxies.list_proxies: WORKSPACE,
    # Only the proxy's own key or the service key (403); not registered yet, a supervisor
    # no longer verified or an unregistered patient (409).
    proxies.proxy_prescribing_session: (*WORKSPACE, 403, 409),
    # The DoseSpot shared secret (401); a body that is no notification (422); an event the
    # workflow service did not take is kept and answered 503, so DoseSpot sends it again.
    notifications.receive_notification: (401, 422, 503),
    # The codec token (401); a body that is not payloads, or cannot be decrypted (422).
    codec.decode: (401, 422),
    codec.encode: (401, 422),
}


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document_errors(schema: dict[str, Any], routes: list[APIRoute]) -> dict[str, Any]:
    """Replace FastAPI's validation error with ours and add each route's error statuses."""
    _, definitions = models_json_schema(
        [(ErrorPublic, "serialization"), (InvalidInputPublic, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.update(definitions.get("$defs", {}))
    for route in routes:
        statuses = ROUTE_ERRORS.get(route.endpoint)
        if statuses is None:
            raise LookupError(f"{route.path}: its error statuses are not in ROUTE_ERRORS")
        operations = schema["paths"][route.path_format]
        for method in route.methods or ():
            responses = operations[method.lower()]["responses"]
            responses.pop("422", None)
            for status in statuses:
                model = InvalidInputPublic if status == 422 else ErrorPublic
                responses[str(status)] = {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": _ref(model)}},
                }
    return schema


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every route of the app, into the routers it includes (which FastAPI may keep whole)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def install_openapi(app: FastAPI) -> None:
    """Serve the OpenAPI document with our error bodies and statuses (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            routes = [r for r in _api_routes(app.routes) if r.include_in_schema]
            app.openapi_schema = document_errors(schema, routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
