from django.conf import settings
from django.db import models


class Identity(models.Model):
    """A person's account at the identity provider, linked to their login here. Users are
    found by the provider's stable subject (``sub``), never by e-mail, which a provider
    may let people change; the subject's issuer is the token endpoint it came from."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True, help_text="The provider's groups at the last sign-in.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject")]

    def __str__(self):
        return f"{self.user} at {self.issuer}"
