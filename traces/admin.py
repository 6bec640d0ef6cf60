from django.contrib import admin

from controlplane.admin import ServiceErrorsAsMessages

from . import services
from .models import CloudEventMapping


@admin.register(CloudEventMapping)
class CloudEventMappingAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """The CloudEvents type mapping per source; saved and deleted through the service."""

    list_display = ("source", "ce_type", "event_type", "integration", "workflow", "updated_at")
    list_filter = ("event_type",)
    search_fields = ("source", "ce_type")
    autocomplete_fields = ()
    actions = None

    def save_model(self, request, obj, form, change):
        existing = CloudEventMapping.objects.get(pk=obj.pk) if change else None
        saved = services.set_mapping(actor=request.user, mapping=existing, source=obj.source, ce_type=obj.ce_type,
                                     event_type=obj.event_type, integration=obj.integration, workflow=obj.workflow)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.delete_mapping(actor=request.user, mapping=obj)
