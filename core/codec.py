"""Payloads encrypted before they reach Temporal: run specs, agent inputs and outputs, the
run state. Temporal's history then holds ciphertext; only processes with the key (the API,
the workers, `acc replay`, and the Temporal Web UI through the API's codec endpoint) read it.

AES-256-GCM, one random 96-bit nonce per payload, the payload's own metadata
authenticated with it. Every encrypted payload names its key (`encryption-key-id`), so
keys rotate: the first key encrypts, every listed key decrypts. A payload without our
encoding passes through untouched (histories written before encryption was on).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from core.errors import AccError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class KeyError_(AccError):
    """A payload names a key this process does not have, or the keys are malformed."""

    status_code = 500
    type = "encryption_key"


def parse_keys(text: str) -> dict[str, bytes]:
    """Keys from `id:base64,id:base64` (the first encrypts); each must be 32 bytes."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.replace("\n", ",").split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise KeyError_(f"encryption key {item[:12]!r}...: expected <id>:<base64 of 32 bytes>")
        key = base64.b64decode(encoded)
        if len(key) != 32:
            raise KeyError_(f"encryption key {key_id!r} is {len(key)} bytes; AES-256 needs 32")
        keys[key_id] = key
    return keys


def new_key_line(key_id: str) -> str:
    """A fresh key in the `id:base64` form `parse_keys` reads."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise KeyError_("no encryption key given")
        self._current = next(iter(keys))
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(
            nonce, payload.SerializeToString(), self._current.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on, or by another codec
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise KeyError_(
                f"a payload is encrypted with key {key_id!r}, which this process does not "
                "have: add it to ACC_PAYLOAD_KEYS (old keys stay listed after a rotation)"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
