"""Secret header values and webhook secrets: encrypted at rest with Fernet (key derived
from SECRET_KEY) as ``enc:<token>``, or referenced from the environment as ``env:NAME``.

Rotating SECRET_KEY: put the old key in SECRET_KEY_FALLBACKS (Django's own setting), so
stored secrets still decrypt, run ``manage.py rotate_secrets`` to re-encrypt them with the
new key, then drop the fallback."""

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

ENC = "enc:"
ENV = "env:"
MASK = "********"


def _key(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"health-secrets:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet() -> MultiFernet:
    # Encrypts with the current key; decrypts with it or any fallback key.
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_key(k) for k in keys])


def encrypt(value: str) -> str:
    if value.startswith((ENC, ENV)):
        return value
    return ENC + _fernet().encrypt(value.encode()).decode()


ENV_PREFIX = "PROBE_SECRET_"


def reveal(value: str) -> str:
    """The plain value to send. Unreadable secrets (SECRET_KEY rotated) become ""."""
    if value.startswith(ENC):
        try:
            return _fernet().decrypt(value[len(ENC):].encode()).decode()
        except InvalidToken:
            return ""
    if value.startswith(ENV):
        name = value[len(ENV):]
        # Only variables meant for probes: a probe must not be able to ship DATABASE_URL
        # or SECRET_KEY to a host of the architect's choosing.
        return os.environ.get(name, "") if name.startswith(ENV_PREFIX) else ""
    return value


def rotate(value: str) -> str | None:
    """``value`` re-encrypted with the current key, or None when it needs no change.
    Raises InvalidToken when no configured key can read it."""
    if not value.startswith(ENC):
        return None
    return ENC + _fernet().rotate(value[len(ENC):].encode()).decode()


def masked(value: str) -> str:
    if value.startswith(ENC):
        return MASK
    return value


def masked_headers(headers: dict) -> dict:
    return {name: masked(str(value)) for name, value in (headers or {}).items()}


def revealed_headers(headers: dict) -> dict:
    return {name: reveal(str(value)) for name, value in (headers or {}).items()}
