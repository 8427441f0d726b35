"""Payload codec endpoint for the Temporal UI (and `temporal` CLI --codec-endpoint).

The UI posts ``{"payloads": [...]}`` in protobuf JSON to ``/codec/decode`` and
``/codec/encode`` with ``Authorization: Bearer <ERX_CODEC_TOKEN>``.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.auth import Unauthorized
from api.deps import SettingsDep

router = APIRouter(prefix="/codec", tags=["codec"])


def _check(settings_token: str, authorization: str | None) -> None:
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), settings_token.encode()):
        raise Unauthorized("codec endpoint needs the codec bearer token")


async def _apply(request: Request, body: dict[str, Any], decode: bool) -> dict[str, Any]:
    payloads = json_format.ParseDict(body, Payloads())
    codec = request.app.state.codec
    result = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/decode")
async def decode(
    request: Request,
    settings: SettingsDep,
    body: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict[str, Any]:
    """Decrypt payloads for display."""
    _check(settings.codec_token, authorization)
    return await _apply(request, body, decode=True)


@router.post("/encode")
async def encode(
    request: Request,
    settings: SettingsDep,
    body: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict[str, Any]:
    """Encrypt payloads (used by the UI when it sends signals)."""
    _check(settings.codec_token, authorization)
    return await _apply(request, body, decode=False)
