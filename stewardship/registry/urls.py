"""Routes of the Confluent Schema Registry API under ``/registry/confluent/`` (no trailing
slashes, as the clients build them)."""

from django.urls import path

from . import views as v
from .views import READ, REGISTER, STEWARD, endpoint

app_name = "registry"

urlpatterns = [
    path("", endpoint(GET=(READ, v.root)), name="root"),
    path("subjects", endpoint(GET=(READ, v.subject_list)), name="subjects"),
    path("subjects/<str:subject>", endpoint(POST=(READ, v.lookup), DELETE=(STEWARD, v.delete_subject)),
         name="subject"),
    path("subjects/<str:subject>/versions", endpoint(GET=(READ, v.version_list), POST=(REGISTER, v.register)),
         name="versions"),
    path("subjects/<str:subject>/versions/<str:version>",
         endpoint(GET=(READ, v.version_detail), DELETE=(STEWARD, v.delete_version)), name="version"),
    path("subjects/<str:subject>/versions/<str:version>/schema", endpoint(GET=(READ, v.version_schema)),
         name="version-schema"),
    path("subjects/<str:subject>/versions/<str:version>/referencedby", endpoint(GET=(READ, v.referenced_by)),
         name="referenced-by"),
    path("associations/resources/<str:namespace>/<str:name>", endpoint(GET=(READ, v.associations)),
         name="associations"),
    path("schemas/types", endpoint(GET=(READ, v.schema_types)), name="schema-types"),
    path("schemas/ids/<str:schema_id>", endpoint(GET=(READ, v.schema_by_id)), name="schema"),
    path("schemas/ids/<str:schema_id>/schema", endpoint(GET=(READ, v.schema_text_by_id)), name="schema-text"),
    path("schemas/ids/<str:schema_id>/subjects", endpoint(GET=(READ, v.schema_subjects)), name="schema-subjects"),
    path("schemas/ids/<str:schema_id>/versions", endpoint(GET=(READ, v.schema_versions)), name="schema-versions"),
    path("compatibility/subjects/<str:subject>/versions", endpoint(POST=(READ, v.compatibility)),
         name="compatibility-all"),
    path("compatibility/subjects/<str:subject>/versions/<str:version>", endpoint(POST=(READ, v.compatibility)),
         name="compatibility"),
    path("config", endpoint(GET=(READ, v.CONFIG.get_global), PUT=(STEWARD, v.CONFIG.put_global)), name="config"),
    path("config/<str:subject>", endpoint(GET=(READ, v.CONFIG.get_subject), PUT=(STEWARD, v.CONFIG.put_subject),
                                          DELETE=(STEWARD, v.CONFIG.delete_subject)), name="subject-config"),
    path("mode", endpoint(GET=(READ, v.MODE.get_global), PUT=(STEWARD, v.MODE.put_global)), name="mode"),
    path("mode/<str:subject>", endpoint(GET=(READ, v.MODE.get_subject), PUT=(STEWARD, v.MODE.put_subject),
                                        DELETE=(STEWARD, v.MODE.delete_subject)), name="subject-mode"),
]
