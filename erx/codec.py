"""AES-256-GCM encryption for Temporal payloads and for the credentials we keep.

Payloads are encrypted with the active key; the key id travels with the
ciphertext, so older payloads stay readable after a rotation for as long as
their key is still configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12


class UnknownKeyError(ValueError):
    """Ciphertext names a key id this process does not hold."""


class SecretBox:
    """Seals bytes with the active key; opens anything sealed by a configured key."""

    def __init__(self, keys: Mapping[str, str], active_key_id: str) -> None:
        self._keys = {kid: _decode_key(kid, key) for kid, key in keys.items()}
        self._ciphers = {kid: AESGCM(key) for kid, key in self._keys.items()}
        if active_key_id not in self._ciphers:
            raise UnknownKeyError(f"active key id {active_key_id!r} is not configured")
        self.active_key_id = active_key_id

    def seal(self, data: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.active_key_id].encrypt(nonce, data, None)
        return self.active_key_id, nonce + sealed

    def fingerprint(self, value: str) -> str:
        """A keyed digest of an identifier (an NPI): equal values match, nothing reveals it."""
        return _fingerprint(self._keys[self.active_key_id], value)

    def fingerprints(self, value: str) -> set[str]:
        """The value's fingerprint under every configured key, to match across a rotation."""
        return {_fingerprint(key, value) for key in self._keys.values()}

    def open(self, key_id: str, blob: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(f"ciphertext sealed with unknown key id {key_id!r}")
        return cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], None)


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, str], active_key_id: str) -> None:
        self._box = SecretBox(keys, active_key_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            key_id, blob = self._box.seal(payload.SerializeToString())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
                    data=blob,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
            out.append(Payload.FromString(self._box.open(key_id, payload.data)))
        return out


def _fingerprint(key: bytes, value: str) -> str:
    return hmac.new(key, b"fingerprint:" + value.encode(), hashlib.sha256).hexdigest()


def _decode_key(key_id: str, key: str) -> bytes:
    raw = base64.b64decode(key)
    if len(raw) != 32:
        raise ValueError(f"codec key {key_id!r} must be 32 bytes, base64-encoded")
    return raw
