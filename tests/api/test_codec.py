"""The codec endpoint decrypts what workers encrypt, for the Temporal UI, with the token only."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from erx.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec
from erx.settings import DEV_CODEC_KEY, Settings


async def test_decode_round_trip_and_rotation(api: httpx.AsyncClient, settings: Settings) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"location_id":"loc-1"}')
    [sealed] = await EncryptionCodec(settings.codec_keys, settings.codec_active_key_id).encode(
        [plain]
    )
    assert sealed.metadata["encoding"] == ENCODING
    assert b"loc-1" not in sealed.data
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    headers = {"Authorization": f"Bearer {settings.codec_token}"}
    resp = await api.post("/codec/decode", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    [decoded] = resp.json()["payloads"]
    assert base64.b64decode(decoded["data"]) == plain.data

    encoded = await api.post("/codec/encode", json=resp.json(), headers=headers)
    [again] = encoded.json()["payloads"]
    assert base64.b64decode(again["metadata"]["encoding"]) == ENCODING

    # After a rotation the old key still opens old payloads; new ones use the new key.
    rotated = EncryptionCodec(
        {"old": DEV_CODEC_KEY, "new": base64.b64encode(b"n" * 32).decode()}, "new"
    )
    old_sealed = await EncryptionCodec({"old": DEV_CODEC_KEY}, "old").encode([plain])
    assert (await rotated.decode(old_sealed))[0].data == plain.data
    assert (await rotated.encode([plain]))[0].metadata[KEY_ID_METADATA] == b"new"


async def test_codec_needs_the_token(api: httpx.AsyncClient) -> None:
    resp = await api.post("/codec/decode", json={"payloads": []})
    assert resp.status_code == 401
    resp = await api.post(
        "/codec/decode", json={"payloads": []}, headers={"Authorization": "Bearer wrong"}
    )
    assert resp.status_code == 401


def _wire(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def _sealed(settings: Settings) -> Payload:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"location_id":"loc-1"}')
    codec = EncryptionCodec(settings.codec_keys, settings.codec_active_key_id)
    [sealed] = await codec.encode([plain])
    return sealed


@pytest.mark.parametrize("path", ["/codec/decode", "/codec/encode"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"payloads": "x"}, id="payloads-not-a-list"),
        pytest.param({"payloads": [{"data": "not base64!"}]}, id="data-not-base64"),
        pytest.param({"payloads": [{"metadata": {"encoding": 5}}]}, id="metadata-not-bytes"),
        pytest.param({"payloads": [{"colour": "blue"}]}, id="unknown-field"),
        pytest.param({"items": []}, id="not-payloads"),
        pytest.param([], id="array"),
        pytest.param("payloads", id="string"),
    ],
)
async def test_malformed_codec_body_is_422(
    api: httpx.AsyncClient, settings: Settings, path: str, body: Any
) -> None:
    headers = {"Authorization": f"Bearer {settings.codec_token}"}
    resp = await api.post(path, json=body, headers=headers)
    assert resp.status_code == 422, resp.text
    answer = resp.json()
    assert answer["error"] == "invalid_input" and answer["errors"][0]["reason"], answer


@pytest.mark.parametrize("path", ["/codec/decode", "/codec/encode"])
async def test_codec_body_that_is_not_json_is_422(
    api: httpx.AsyncClient, settings: Settings, path: str
) -> None:
    headers = {
        "Authorization": f"Bearer {settings.codec_token}",
        "Content-Type": "application/json",
    }
    resp = await api.post(path, content=b'{"payloads": [', headers=headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "body"


def _tampered(sealed: Payload) -> Payload:
    data = bytearray(sealed.data)
    data[-1] ^= 1
    return Payload(metadata=dict(sealed.metadata), data=bytes(data))


def _rekeyed(sealed: Payload, key_id: bytes) -> Payload:
    return Payload(metadata={**sealed.metadata, KEY_ID_METADATA: key_id}, data=sealed.data)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(_tampered, "cannot be decrypted", id="tampered"),
        pytest.param(
            lambda p: Payload(metadata=dict(p.metadata), data=p.data[:5]),
            "cannot be decrypted",
            id="truncated",
        ),
        pytest.param(
            lambda p: Payload(metadata=dict(p.metadata), data=b""),
            "cannot be decrypted",
            id="empty",
        ),
        pytest.param(lambda p: _rekeyed(p, b"retired-2019"), "key id", id="unknown-key-id"),
        pytest.param(lambda p: _rekeyed(p, b"\xff\xfe"), "key id", id="key-id-not-utf8"),
        pytest.param(
            lambda p: Payload(metadata={"encoding": ENCODING}, data=p.data),
            "key id",
            id="no-key-id",
        ),
    ],
)
async def test_undecryptable_payload_is_422_naming_it(
    api: httpx.AsyncClient,
    settings: Settings,
    damage: Callable[[Payload], Payload],
    reason: str,
) -> None:
    sealed = await _sealed(settings)
    body = {"payloads": [_wire(sealed), _wire(damage(sealed))]}
    headers = {"Authorization": f"Bearer {settings.codec_token}"}
    resp = await api.post("/codec/decode", json=body, headers=headers)
    assert resp.status_code == 422, resp.text
    [error] = resp.json()["errors"]
    assert error["field"] == "payloads.1" and reason in error["reason"], error
