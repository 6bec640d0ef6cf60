"""Secret header values and webhook secrets: encrypted at rest with Fernet (key derived
from SECRET_KEY) as ``enc:<token>``, or referenced from the environment as ``env:NAME``."""

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

ENC = "enc:"
ENV = "env:"
MASK = "********"


def _fernet():
    digest = hashlib.sha256(b"health-secrets:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


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


def masked(value: str) -> str:
    if value.startswith(ENC):
        return MASK
    return value


def masked_headers(headers: dict) -> dict:
    return {name: masked(str(value)) for name, value in (headers or {}).items()}


def revealed_headers(headers: dict) -> dict:
    return {name: reveal(str(value)) for name, value in (headers or {}).items()}
