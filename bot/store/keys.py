"""The store's two keys, both from the environment and never written to the database: SO8T_AUDIT_KEY keys
the audit chain (HMAC-SHA256), SO8T_DATA_KEY encrypts the originals reviewers may need (Fernet)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bot.errors import StoreError

AUDIT_KEY_ENV = "SO8T_AUDIT_KEY"
DATA_KEY_ENV = "SO8T_DATA_KEY"
MIN_AUDIT_KEY_CHARS = 16


def audit_key_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    """SO8T_AUDIT_KEY as bytes, None when unset; StoreError (one line) when too short to be a key."""
    value = (os.environ if env is None else env).get(AUDIT_KEY_ENV, "").strip()
    if not value:
        return None
    if len(value) < MIN_AUDIT_KEY_CHARS:
        raise StoreError(
            f"{AUDIT_KEY_ENV} is too short ({len(value)} characters; use at least {MIN_AUDIT_KEY_CHARS}, "
            'e.g. python -c "import secrets; print(secrets.token_hex(32))")'
        )
    return value.encode("utf-8")


class DataCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with SO8T_DATA_KEY."""

    def __init__(self, key: str) -> None:
        try:
            from cryptography.fernet import Fernet
        except ImportError:  # pragma: no cover - a pinned dependency
            raise StoreError(f"{DATA_KEY_ENV} is set but the cryptography package is not installed") from None
        try:
            self._fernet = Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise StoreError(
                f"{DATA_KEY_ENV} is not a Fernet key (32 url-safe base64 bytes; make one with "
                'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            ) from None

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str | None:
        """None when the token was made with another key (or altered)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            return None


def data_cipher_from_env(env: Mapping[str, str] | None = None) -> DataCipher | None:
    value = (os.environ if env is None else env).get(DATA_KEY_ENV, "").strip()
    return DataCipher(value) if value else None


class _FromEnv:
    """The default of AuditStore's keys: read them from the environment."""


FROM_ENV = _FromEnv()
