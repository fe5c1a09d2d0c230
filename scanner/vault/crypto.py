"""Key derivation, key wrapping and sealed blobs for the vault (SPEC section 5).

Primitives only (no files): Argon2id turns a passphrase into a wrapping key,
HKDF-SHA256 derives purpose-bound subkeys from the data key, AES-256-GCM wraps
keys and seals file contents. The recovery code is 160 random bits written in
Crockford base32; its high entropy lets HKDF derive its wrapping key directly.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16
RECOVERY_BYTES = 20  # 160 bits -> 32 Crockford characters

# About 0.4-0.5 s on the 2-core build machine; recorded per vault in the key
# file, so raising them later does not lock anyone out.
DEFAULT_ARGON2 = {"time_cost": 3, "memory_cost_kib": 196_608, "parallelism": 1}
# Cheap costs for throwaway vaults: the test suite (tests/conftest.py) and some
# benchmarks set ARGON2_COSTS to these in their own process. Nothing in the
# product does, and no environment variable or option reaches them.
FAST_ARGON2 = {"time_cost": 1, "memory_cost_kib": 1024, "parallelism": 1}
# The costs of every new passphrase wrap (init, passwd).
ARGON2_COSTS: dict[str, int] = DEFAULT_ARGON2
# Refuse key files asking for absurd work (a damaged or hostile key file).
MAX_MEMORY_KIB = 4 * 1024 * 1024
MAX_TIME_COST = 64

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = {c: i for i, c in enumerate(CROCKFORD)}
_CROCKFORD_READ.update({"O": 0, "I": 1, "L": 1})


class DecryptionFailed(ValueError):
    """Authentication failed: wrong key, or the bytes were altered."""


class BadRecoveryCode(ValueError):
    """The text is not a well-formed recovery code."""


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters and salt, as stored in the key file."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int
    salt: bytes

    def __post_init__(self) -> None:
        if not (1 <= self.time_cost <= MAX_TIME_COST):
            raise ValueError(f"Argon2 time_cost {self.time_cost} is out of range")
        if not (8 * self.parallelism <= self.memory_cost_kib <= MAX_MEMORY_KIB):
            raise ValueError(f"Argon2 memory_cost {self.memory_cost_kib} KiB is out of range")
        if not (1 <= self.parallelism <= 16):
            raise ValueError(f"Argon2 parallelism {self.parallelism} is out of range")
        if len(self.salt) < SALT_BYTES:
            raise ValueError("Argon2 salt is too short")

    def public(self) -> dict:
        """The parameters without the salt (for display and for the key file)."""
        data = asdict(self)
        data.pop("salt")
        return data


def new_argon2_params() -> Argon2Params:
    """Fresh salt with the costs of :data:`ARGON2_COSTS` (the default ones, unless a test lowered them)."""
    return Argon2Params(salt=os.urandom(SALT_BYTES), **ARGON2_COSTS)


def passphrase_key(passphrase: str, params: Argon2Params) -> bytes:
    """Argon2id(passphrase) -> 256-bit wrapping key."""
    return hash_secret_raw(
        secret=passphrase.encode("utf-8"),
        salt=params.salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_cost_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )


def subkey(key: bytes, info: str, salt: bytes | None = None) -> bytes:
    """HKDF-SHA256 subkey of ``key`` bound to the purpose ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info.encode()).derive(key)


def new_data_key() -> bytes:
    """A random 256-bit data key."""
    return secrets.token_bytes(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: returns nonce || ciphertext+tag, under a fresh random 96-bit nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`seal`; raises :class:`DecryptionFailed` on any mismatch."""
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionFailed("sealed data is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionFailed("authentication failed") from exc


def new_recovery_code() -> str:
    """160 random bits as eight groups of four Crockford base32 characters."""
    text = _b32encode(secrets.token_bytes(RECOVERY_BYTES))
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def recovery_code_bytes(code: str) -> bytes:
    """Parse a recovery code as typed (any case, spaces or dashes, O/I/L read as 0/1/1)."""
    text = "".join(ch for ch in code.upper() if ch not in " -\t\n")
    if len(text) != RECOVERY_BYTES * 8 // 5 or any(ch not in _CROCKFORD_READ for ch in text):
        raise BadRecoveryCode("not a recovery code")
    return _b32decode(text)


def recovery_key(code: str, salt: bytes) -> bytes:
    """Wrapping key from the recovery code (HKDF: the code carries 160 bits of entropy)."""
    return subkey(recovery_code_bytes(code), "inklock recovery wrap v1", salt=salt)


def _b32encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars = len(data) * 8 // 5
    return "".join(CROCKFORD[(number >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def _b32decode(text: str) -> bytes:
    number = 0
    for ch in text:
        number = (number << 5) | _CROCKFORD_READ[ch]
    return number.to_bytes(len(text) * 5 // 8, "big")
