"""Architect pages that change health settings. Each form posts to one service function;
domain errors come back next to the fields."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, ListView

from catalog.models import Integration
from controlplane.errors import DomainError
from controlplane.views_mixins import RolePermissionMixin

from . import secrets, services
from .forms import ChannelForm, HealthConfigForm, MaintenanceWindowForm, ProbeForm
from .models import MaintenanceWindow, NotificationChannel, Probe


def _apply_errors(form, exc):
    if isinstance(exc, ValidationError):
        for field, errors in (exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}).items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return
    if exc.fields:
        for field, errors in exc.fields.items():
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(field if field in form.fields else None, str(error))
    else:
        form.add_error(None, exc.message)


class _ServiceFormView(RolePermissionMixin, FormView):
    template_name = "health/form.html"
    heading = ""

    def get_context_data(self, **kwargs):
        return super().get_context_data(heading=self.heading, **kwargs)

    def form_valid(self, form):
        try:
            target = self.save(form)
        except (DomainError, ValidationError) as exc:
            _apply_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Saved.")
        return redirect(target)


class ProbeCreateView(_ServiceFormView):
    permission_required = "health.add_probe"
    form_class = ProbeForm

    def prepare(self, request, *args, **kwargs):
        self.integration = get_object_or_404(Integration, slug=kwargs["slug"])
        self.heading = f"New probe for {self.integration.name}"

    def save(self, form):
        data, secret = form.service_kwargs()
        services.create_probe(integration=self.integration, actor=self.request.user, secret_headers=secret, **data)
        return reverse("health:integration", kwargs={"slug": self.integration.slug})


class ProbeEditView(_ServiceFormView):
    permission_required = "health.change_probe"
    form_class = ProbeForm

    def prepare(self, request, *args, **kwargs):
        self.probe = get_object_or_404(Probe.objects.select_related("integration"), pk=kwargs["pk"])
        self.heading = f"Edit probe {self.probe}"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Probe.objects.get(pk=self.probe.pk)
        kwargs["initial"] = {"headers": secrets.masked_headers(self.probe.headers)}
        return kwargs

    def save(self, form):
        data, secret = form.service_kwargs()
        services.update_probe(probe=self.probe, actor=self.request.user, secret_headers=secret, **data)
        return reverse("health:integration", kwargs={"slug": self.probe.integration.slug})


class ProbeDeleteView(RolePermissionMixin, View):
    permission_required = "health.delete_probe"

    def post(self, request, pk):
        probe = get_object_or_404(Probe.objects.select_related("integration"), pk=pk)
        services.delete_probe(probe=probe, actor=request.user)
        messages.success(request, f"Probe {probe.name} deleted.")
        return redirect("health:integration", slug=probe.integration.slug)


class HealthConfigEditView(_ServiceFormView):
    permission_required = "health.change_healthconfig"
    form_class = HealthConfigForm

    def prepare(self, request, *args, **kwargs):
        self.integration = get_object_or_404(Integration, slug=kwargs["slug"])
        self.heading = f"Health settings of {self.integration.name}"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = services.config_for(self.integration)
        return kwargs

    def save(self, form):
        changes = {f: form.cleaned_data[f] for f in form.changed_data}
        if changes:
            services.update_config(integration=self.integration, actor=self.request.user, **changes)
        return reverse("health:integration", kwargs={"slug": self.integration.slug})


class MaintenanceCreateView(_ServiceFormView):
    permission_required = "health.add_maintenancewindow"
    form_class = MaintenanceWindowForm
    heading = "New maintenance window"

    def get_initial(self):
        slug = self.request.GET.get("integration")
        integration = Integration.objects.filter(slug=slug).first() if slug else None
        return {"integration": integration}

    def save(self, form):
        window = services.save_maintenance_window(actor=self.request.user, **form.cleaned_data)
        if window.integration_id:
            return reverse("health:integration", kwargs={"slug": window.integration.slug})
        return reverse("health:home")


class MaintenanceDeleteView(RolePermissionMixin, View):
    permission_required = "health.delete_maintenancewindow"

    def post(self, request, pk):
        window = get_object_or_404(MaintenanceWindow, pk=pk)
        services.delete_maintenance_window(window=window, actor=request.user)
        messages.success(request, f"Maintenance window {window.name} deleted.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            target = "health:home"
        return redirect(target)


class ChannelListView(RolePermissionMixin, ListView):
    permission_required = "health.view_notificationchannel"
    template_name = "health/channels.html"
    paginate_by = 50

    def get_queryset(self):
        return NotificationChannel.objects.select_related("team").order_by("team__name", "name")

    def get_context_data(self, **kwargs):
        from .models import Notification

        context = super().get_context_data(**kwargs)
        context["recent"] = Notification.objects.select_related("channel", "channel__team")[:30]
        return context


class ChannelDetailView(RolePermissionMixin, ListView):
    """One channel and its delivery log: every notification with each attempt (when, the
    answer's status code, latency, error) and when the next retry is due."""

    permission_required = "health.view_notificationchannel"
    template_name = "health/channel.html"
    paginate_by = 25

    def get_queryset(self):
        from django.db.models import Prefetch

        from .models import DeliveryAttempt, Notification

        self.channel = get_object_or_404(NotificationChannel.objects.select_related("team"), pk=self.kwargs["pk"])
        return (Notification.objects.filter(channel=self.channel).order_by("-created_at", "-pk")
                .prefetch_related(Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("number"))))

    def get_context_data(self, **kwargs):
        return super().get_context_data(channel=self.channel, **kwargs)


class ChannelCreateView(_ServiceFormView):
    permission_required = "health.add_notificationchannel"
    form_class = ChannelForm
    heading = "New notification channel"

    def save(self, form):
        from . import webhooks

        data = dict(form.cleaned_data)
        generated = None
        if not data.get("secret"):
            data.pop("secret", None)
            if data.get("kind") == "webhook":  # every generic webhook is signed
                generated = data["secret"] = webhooks.new_secret()
        channel = services.save_channel(actor=self.request.user, **data)
        if generated:
            messages.success(self.request, f"Signing secret of {channel.name} (shown once; give it to the receiver, "
                                           f"which verifies with standardwebhooks): {generated}")
        return reverse("health:channel", kwargs={"pk": channel.pk})
