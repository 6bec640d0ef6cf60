"""Sign-in throttling: after ``LOGIN_FAILURE_LIMIT`` failed attempts for one username from
one client address, further attempts are refused for ``LOGIN_LOCKOUT_SECONDS``.

Counted per username *and* address so an attacker cannot lock a real user out from
elsewhere; a second, larger limit per address alone (``LOGIN_FAILURE_LIMIT_PER_ADDRESS``)
stops one address from trying a common password against many usernames. Both are kept
in the Django cache, which every web process shares (Redis when ``REDIS_URL`` is set, the
database otherwise; local memory only in tests). A successful sign-in clears the count.
Used by the site's login page and the admin's (see ``controlplane.urls`` and ``admin.py``).

The username is counted as authentication reads it: the login form NFKC-normalises it
(``ｆｉｎａｎｃｅ``, full-width, signs in as ``finance``), so the count is keyed by the
same normal form (case-folded as well), or a look-alike spelling would be a fresh
allowance of guesses against a locked account.
"""

import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver


def _address(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def normalised_username(username) -> str:
    """The username as ``AuthenticationForm`` hands it to ``authenticate()`` (stripped and
    NFKC-normalised by ``UsernameField``), case-folded."""
    model = get_user_model()
    field = UsernameField(max_length=model._meta.get_field(model.USERNAME_FIELD).max_length or 254)
    return field.to_python(username if isinstance(username, str) else "").casefold()


def _key(username, request) -> str:
    digest = hashlib.sha256(f"{normalised_username(username)}|{_address(request)}".encode()).hexdigest()
    return f"login-failures:{digest}"


def _address_key(request) -> str:
    return "login-failures-address:" + hashlib.sha256(_address(request).encode()).hexdigest()


def failures(username, request) -> int:
    return cache.get(_key(username, request), 0)


def is_locked(username, request) -> bool:
    return (failures(username, request) >= settings.LOGIN_FAILURE_LIMIT
            or cache.get(_address_key(request), 0) >= settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS)


def _increment(key):
    # add() then incr(): atomic on Redis, and the window starts at the first failure.
    if not cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)


@receiver(user_login_failed, dispatch_uid="controlplane.login_throttle.failed")
def _count_failure(sender, credentials, request=None, **kwargs):
    _increment(_key(credentials.get("username"), request))
    _increment(_address_key(request))


@receiver(user_logged_in, dispatch_uid="controlplane.login_throttle.succeeded")
def _reset(sender, request, user, **kwargs):
    if request is not None:
        cache.delete(_key(request.POST.get("username") or user.get_username(), request))


class _ThrottleMixin:
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
    }

    def clean(self):
        # Checked before authenticate(): a locked-out guess is not even tried.
        if is_locked(self.data.get("username"), self.request):
            raise forms.ValidationError(
                self.error_messages["locked"], code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            )
        return super().clean()

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        # Break-glass: with single sign-on on, a local password signs in only a superuser
        # unless SSO_LOCAL_LOGIN="all" (told after the password was right, like "inactive").
        if settings.OIDC_ENABLED and settings.SSO_LOCAL_LOGIN == "superusers" and not user.is_superuser:
            raise forms.ValidationError(
                f"This account signs in with {settings.OIDC_PROVIDER_NAME}.", code="use_sso")

    @property
    def locked_out(self) -> bool:
        return any(error.code == "locked" for error in self.errors.as_data().get("__all__", []))


class ThrottledAuthenticationForm(_ThrottleMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_ThrottleMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(auth_views.LoginView):
    """The site's login page; a locked-out attempt answers 429 with the form and its message."""

    authentication_form = ThrottledAuthenticationForm

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "sso_enabled": settings.OIDC_ENABLED,
                "sso_provider_name": settings.OIDC_PROVIDER_NAME}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_out:
            response.status_code = 429
            response["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
        return response
