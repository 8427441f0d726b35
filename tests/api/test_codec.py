"""The codec endpoint decrypts what workers encrypt, for the Temporal UI, with the token only."""

from __future__ import annotations

import base64

import httpx
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
