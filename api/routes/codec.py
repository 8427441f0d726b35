"""Payload codec endpoint for the Temporal UI (and `temporal` CLI --codec-endpoint).

The UI posts ``{"payloads": [...]}`` in protobuf JSON to ``/codec/decode`` and
``/codec/encode`` with ``Authorization: Bearer <ERX_CODEC_TOKEN>``. In development only,
the local Temporal UI (an origin in ``ERX_CODEC_CORS_ORIGINS``) may call it without the
token, because the dev server's UI has no sign-in to take a token from.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Body, Header, Request
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from api.auth import Unauthorized
from api.deps import SettingsDep
from api.errors import Unprocessable
from erx.codec import EncryptionCodec, UnknownKeyError
from erx.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])


def _check(settings: Settings, request: Request, authorization: str | None) -> None:
    if authorization is None and settings.environment == "development":
        if request.headers.get("origin") in settings.codec_cors_origins:
            return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), settings.codec_token.encode()):
        raise Unauthorized("codec endpoint needs the codec bearer token")


def _parse(body: dict[str, Any]) -> Payloads:
    try:
        return json_format.ParseDict(body, Payloads())
    except json_format.ParseError as exc:
        raise Unprocessable("payloads", f"not Temporal payloads in protobuf JSON ({exc})") from None


async def _decode_one(codec: EncryptionCodec, index: int, payload: Payload) -> Payload:
    field = f"payloads.{index}"
    try:
        [decoded] = await codec.decode([payload])
    except UnknownKeyError:
        raise Unprocessable(
            field, "sealed with a key id this service does not hold (rotated out?)"
        ) from None
    except UnicodeDecodeError:
        raise Unprocessable(field, "the key id in its metadata is not UTF-8") from None
    except (InvalidTag, ValueError):
        raise Unprocessable(
            field, "cannot be decrypted: altered, truncated or sealed with another key"
        ) from None
    except DecodeError:
        raise Unprocessable(field, "decrypts to something that is not a payload") from None
    return decoded


async def _apply(request: Request, body: dict[str, Any], decode: bool) -> dict[str, Any]:
    payloads = list(_parse(body).payloads)
    codec: EncryptionCodec = request.app.state.codec
    if decode:
        result = [await _decode_one(codec, i, p) for i, p in enumerate(payloads)]
    else:
        result = await codec.encode(payloads)
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/decode")
async def decode(
    request: Request,
    settings: SettingsDep,
    body: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict[str, Any]:
    """Decrypt payloads for display."""
    _check(settings, request, authorization)
    return await _apply(request, body, decode=True)


@router.post("/encode")
async def encode(
    request: Request,
    settings: SettingsDep,
    body: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict[str, Any]:
    """Encrypt payloads (used by the UI when it sends signals)."""
    _check(settings, request, authorization)
    return await _apply(request, body, decode=False)
