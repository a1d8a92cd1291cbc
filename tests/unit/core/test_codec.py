"""Payload encryption: round trips, key rotation, tampering, and what passes through."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from core.codec import EncryptionCodec, KeyError_, new_key_line, parse_keys

pytestmark = pytest.mark.unit
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"input": "the secret"}')


async def test_a_payload_round_trips_and_its_ciphertext_hides_the_data() -> None:
    codec = EncryptionCodec(parse_keys(new_key_line("k1")))
    [sealed] = await codec.encode([PLAIN])
    assert b"secret" not in sealed.SerializeToString()
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert await codec.decode([sealed]) == [PLAIN]


async def test_old_keys_still_decrypt_after_a_rotation() -> None:
    old, new = new_key_line("k1"), new_key_line("k2")
    [sealed] = await EncryptionCodec(parse_keys(old)).encode([PLAIN])
    rotated = EncryptionCodec(parse_keys(f"{new},{old}"))
    assert await rotated.decode([sealed]) == [PLAIN]
    [resealed] = await rotated.encode([PLAIN])
    assert resealed.metadata["encryption-key-id"] == b"k2"
    with pytest.raises(KeyError_, match=r"key 'k1'.*ACC_PAYLOAD_KEYS"):
        await EncryptionCodec(parse_keys(new)).decode([sealed])


async def test_a_tampered_payload_is_refused_and_plain_payloads_pass_through() -> None:
    codec = EncryptionCodec(parse_keys(new_key_line("k1")))
    [sealed] = await codec.encode([PLAIN])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await codec.decode([sealed])
    assert await codec.decode([PLAIN]) == [PLAIN]  # histories written before encryption


@pytest.mark.parametrize(
    ("text", "message"),
    [("k1", "expected <id>:<base64"), ("k1:" + "QUJD", "is 3 bytes; AES-256 needs 32")],
)
def test_malformed_keys_are_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(KeyError_, match=message):
        parse_keys(text)
