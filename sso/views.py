"""The sign-in round trip (mozilla-django-oidc's views, open to signed-out visitors and
refused while single sign-on is off) and password reset for local accounts (Django's views
with the product's templates, throttled per client address)."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from mozilla_django_oidc import views as oidc_views

from controlplane.errors import DomainError

log = logging.getLogger(__name__)


class _WhenEnabled:
    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().dispatch(request, *args, **kwargs)


@method_decorator(login_not_required, name="dispatch")
class AuthenticateView(_WhenEnabled, oidc_views.OIDCAuthenticationRequestView):
    pass


@method_decorator(login_not_required, name="dispatch")
class CallbackView(_WhenEnabled, oidc_views.OIDCAuthenticationCallbackView):
    """A callback with an unknown state (tampered, replayed, or from another browser), a
    bad nonce, a code the provider will not exchange, or claims without a subject ends on the login page with a
    message, never signed in."""

    def get(self, request):
        try:
            return super().get(request)
        except (SuspiciousOperation, DomainError) as exc:
            log.warning("Single sign-on refused: %s", exc)
            return self.login_failure()

    def login_failure(self):
        messages.error(self.request, f"Signing in with {settings.OIDC_PROVIDER_NAME} did not succeed. Try again.")
        return HttpResponseRedirect(reverse_lazy("login"))


class LocalPasswordResetForm(PasswordResetForm):
    """Django's form (active accounts with a usable password) less the accounts that may
    not sign in locally while single sign-on is on (see SSO_LOCAL_LOGIN)."""

    def get_users(self, email):
        for user in super().get_users(email):
            if settings.OIDC_ENABLED and settings.SSO_LOCAL_LOGIN == "superusers" and not user.is_superuser:
                continue
            yield user


def _sso_context():
    return {"sso_enabled": settings.OIDC_ENABLED, "sso_provider_name": settings.OIDC_PROVIDER_NAME}


def _reset_key(request) -> str:
    return f"password-reset:{request.META.get('REMOTE_ADDR') or ''}"


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Always answers "if the address belongs to an account, a link is on its way" (no
    account enumeration). Django's form mails only active accounts with a usable password,
    so single-sign-on accounts get nothing. One address asks for at most
    PASSWORD_RESET_LIMIT_PER_ADDRESS mails per LOGIN_LOCKOUT_SECONDS."""

    template_name = "registration/password_reset_form.html"
    form_class = LocalPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **_sso_context()}

    def form_valid(self, form):
        key = _reset_key(self.request)
        if not cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
            try:
                count = cache.incr(key)
            except ValueError:
                count = 1
            if count > settings.PASSWORD_RESET_LIMIT_PER_ADDRESS:
                form.add_error(None, "Too many reset requests from this address. Try again later.")
                response = self.form_invalid(form)
                response.status_code = 429
                return response
        return super().form_valid(form)


@method_decorator(login_not_required, name="dispatch")
class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


@method_decorator(login_not_required, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


@method_decorator(login_not_required, name="dispatch")
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
