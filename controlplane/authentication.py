import base64
import binascii
import copy
import threading
import time

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ServiceToken

# Machine callers send the same token many times a second. Each web process keeps what a
# token lookup found (token, user, scope) for SERVICE_TOKEN_CACHE_MS (1 s): another
# process's revocation, scope change or deactivated user is honoured within that second;
# this process's own (controlplane.services) drops the entry at once via ``forget``.
_cache: dict[str, tuple[float, ServiceToken]] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 10_000


def forget(key_hash: str | None = None) -> None:
    """Drop one cached token (by its hash), or all of them."""
    with _cache_lock:
        if key_hash is None:
            _cache.clear()
        else:
            _cache.pop(key_hash, None)


def _lookup(key_hash: str) -> ServiceToken | None:
    ttl = getattr(settings, "SERVICE_TOKEN_CACHE_MS", 1000) / 1000
    now = time.monotonic()
    hit = _cache.get(key_hash)
    if hit is not None and now - hit[0] < ttl:
        # A copy per request: the scope (integration ids) is read afresh, so an
        # integration added to one of the token's systems is covered at once.
        token = copy.copy(hit[1])
        token.__dict__.pop("_integration_ids", None)
        return token
    token = ServiceToken.objects.select_related("user").filter(key_hash=key_hash).first()
    if token is not None and ttl > 0:
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[key_hash] = (now, token)
    return token


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` (or ``Token <token>``) for service accounts."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return self.authenticate_key(key)

    def authenticate_key(self, key):
        token = _lookup(ServiceToken.hash_key(key))
        if token is None or not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        # One write a minute at most, not one per request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return (token.user, token)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ServiceTokenBasicAuthentication(ServiceTokenAuthentication):
    """``Authorization: Basic base64(account:token)``: what Kafka clients send from
    ``basic.auth.user.info`` (the Schema Registry wire API). The user part must name the
    token's own service account, so a token cannot be passed off as another account's."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"basic":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Basic <credentials>'.")
        try:
            account, sep, key = base64.b64decode(header[1], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeError):
            raise exceptions.AuthenticationFailed("Invalid basic credentials.") from None
        if not sep or not key:
            raise exceptions.AuthenticationFailed("Basic credentials are 'service account:token'.")
        user, token = self.authenticate_key(key)
        if user.get_username() != account:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return (user, token)

    def authenticate_header(self, request):
        return 'Basic realm="schema-registry"'
