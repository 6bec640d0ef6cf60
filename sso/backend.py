"""The OpenID Connect backend: mozilla-django-oidc does the protocol (state, nonce, PKCE,
ID-token signature); its three calls to the provider (token, keys, userinfo) go through the
project's one outbound HTTP stack instead of ``requests``, and the user it signs in is made
and kept up to date by ``sso.services``."""

import json
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from controlplane.outbound import request_sync

from . import services

log = logging.getLogger(__name__)
_MAX_BODY = 256 * 1024


class ProviderError(SuspiciousOperation):
    """The provider refused a call or answered something unusable; the sign-in fails."""


def _call(method, url, *, headers=None, data=None) -> dict:
    outcome = request_sync(method, url, headers={"Accept": "application/json", **(headers or {})}, data=data,
                           timeout_s=settings.OIDC_TIMEOUT, max_body=_MAX_BODY)
    if not outcome.succeeded:
        detail = outcome.body[:300].decode("utf-8", "replace") if outcome.status else ""
        raise ProviderError(f"{method} {url}: {outcome.failure()} {detail}".strip())
    try:
        return json.loads(outcome.body)
    except ValueError:
        raise ProviderError(f"{method} {url}: the answer is not JSON") from None


class OIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED:
            return None
        return super().authenticate(request, **kwargs)

    def get_token(self, payload):
        body = urlencode(payload).encode()
        return _call("POST", self.OIDC_OP_TOKEN_ENDPOINT, data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})

    def retrieve_matching_jwk(self, token):
        import jwt  # PyJWT, mozilla-django-oidc's own dependency

        jwks = _call("GET", self.OIDC_OP_JWKS_ENDPOINT)
        header = jwt.get_unverified_header(token)
        for key in jwks.get("keys", []):
            if key.get("kid") == header.get("kid") and key.get("alg", header.get("alg")) == header.get("alg"):
                return jwt.PyJWK(key)
        raise SuspiciousOperation("No key of the provider matches the token's signature.")

    def get_userinfo(self, access_token, id_token, payload):
        claims = _call("GET", self.OIDC_OP_USER_ENDPOINT, headers={"Authorization": f"Bearer {access_token}"})
        if claims.get("sub") != payload.get("sub"):
            # OIDC Core 5.3.2: userinfo of another subject than the ID token is not to be used.
            raise SuspiciousOperation("The userinfo answer is about another subject than the ID token.")
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        return services.sign_in_from_provider(issuer=str(payload.get("iss") or self.OIDC_OP_TOKEN_ENDPOINT),
                                              claims=claims)
