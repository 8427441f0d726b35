"""What stands in front of every ``/webapi/v2/`` call: subscription key, rate limits,
injected faults and the request log. Request bodies and query strings are never logged."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.runtime import Sandbox

API_PREFIX = "/webapi/v2/"
SUBSCRIPTION_HEADERS = ("subscription-key", "ocp-apim-subscription-key")

logger = logging.getLogger("dosespot_sandbox.requests")


async def gateway(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if not request.url.path.startswith(API_PREFIX):
        return await call_next(request)
    sandbox: Sandbox = request.app.state.sandbox
    method = request.method
    path = request.url.path[len(API_PREFIX) :]
    started = time.monotonic()
    response = await _handle(sandbox, request, method, path, call_next)
    sandbox.record_request(method, path, response.status_code, time.monotonic() - started)
    logger.info("%s /webapi/v2/%s -> %s", method, path, response.status_code)
    return response


async def _handle(
    sandbox: Sandbox,
    request: Request,
    method: str,
    path: str,
    call_next: Callable[[Request], Awaitable[Response]],
) -> Response:
    presented = next(
        (request.headers[h] for h in SUBSCRIPTION_HEADERS if h in request.headers), None
    )
    if presented is None:
        return envelope.gateway_error(
            401,
            "Access denied due to missing subscription key. Make sure to include "
            "subscription key when making requests to an API.",
        )
    if not secrets.compare_digest(presented, sandbox.config.subscription_key):
        return envelope.gateway_error(
            401,
            "Access denied due to invalid subscription key. Make sure to provide a valid "
            "key for an active subscription.",
        )

    retry_after = str(sandbox.limiter.limits.retry_after_seconds)
    if not sandbox.limiter.admit(method, path):
        return _rate_limited(retry_after)

    fault = sandbox.faults.pick(method, path)
    if fault is None:
        return await call_next(request)
    if fault.kind == "error_5xx":
        return envelope.gateway_error(fault.status_code, "An error has occurred.")
    if fault.kind == "error_4xx":
        return _client_error(fault.status_code, fault.description)
    if fault.kind == "result_error":
        # A business refusal, as DoseSpot answers one: HTTP 200, nothing done.
        return envelope.error(fault.description or "An error has occurred.")
    if fault.kind == "rate_limit":
        return _rate_limited(retry_after)
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_seconds)
        return await call_next(request)
    # timeout_after_commit: the handler has committed before the answer is held back.
    response = await call_next(request)
    await asyncio.sleep(fault.delay_seconds)
    return response


_CLIENT_ERROR_MESSAGES = {
    400: "The request is invalid.",
    403: "Authorization has been denied for this request.",
    404: "No HTTP resource was found that matches the request URI.",
}


def _client_error(status_code: int, description: str | None) -> Response:
    """An injected 4xx in ASP.NET's ``{Message}`` shape (401 as the API's own refusal)."""
    if status_code == 401:
        return envelope.unauthorized()
    message = description or _CLIENT_ERROR_MESSAGES.get(status_code, "The request failed.")
    return JSONResponse({"Message": message}, status_code=status_code)


def _rate_limited(retry_after: str) -> Response:
    return envelope.gateway_error(
        429,
        f"Rate limit is exceeded. Try again in {retry_after} seconds.",
        headers={"Retry-After": retry_after},
    )
