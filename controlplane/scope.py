"""Which integrations a caller may write for: the scope of its service token.

People signed in with a session are not scoped here (their role and the object rules
decide); a service token speaks only for the integrations in its scope
(``ServiceToken.integration_ids``). Services take the scope as ``scope=`` and call
``require`` before they write, so the API, commands and tests share the one check.
"""

from .errors import OutOfScope
from .models import ServiceToken


def of_request(request) -> ServiceToken | None:
    """The request's service token, or None for a session (or anonymous) caller."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ServiceToken) else None


def allows(scope: ServiceToken | None, integration_id) -> bool:
    if scope is None:
        return True
    if integration_id is None:  # a write naming no integration: only a token for all of them
        return scope.all_integrations
    return scope.speaks_for(integration_id)


def require(scope: ServiceToken | None, integrations, *, what: str = "write") -> None:
    """Raise OutOfScope (403) unless ``scope`` speaks for every one of ``integrations``
    (objects with ``pk``/``slug``, or None for "no integration named")."""
    if scope is None:
        return
    outside = [i for i in integrations if not allows(scope, getattr(i, "pk", i))]
    if outside:
        names = sorted({getattr(i, "slug", None) or "(no integration)" for i in outside})
        raise OutOfScope(
            f"This token may not {what} for {', '.join(names[:10])}: it speaks for {scope.scope_label()}.",
            fields={"integration": names[:50]},
        )
