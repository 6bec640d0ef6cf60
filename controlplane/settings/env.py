"""Reading configuration from the environment, failing loudly on bad values.

Every setting the project reads from the environment goes through these helpers so a
typo such as ``DEBUG=ture`` stops start-up with a message naming the variable instead of
silently picking a default.
"""

import json
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below its minimum of {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}={value!r} has scheme {scheme!r}; expected one of: {', '.join(schemes)}."
        )
    return value


def env_json_mapping(name: str) -> dict[str, list[str]]:
    """A JSON object of name -> list of names (a single name is read as a list of one)."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return {}
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object of name -> list of names.")
    mapping = {}
    for key, item in data.items():
        items = [item] if isinstance(item, str) else item
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ImproperlyConfigured(f"{name}[{key!r}] must be a name or a list of names.")
        mapping[str(key)] = items
    return mapping
