from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    verbose_name = "Exception queues"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .models import DefaultQueue, Queue, RoutingRule
        from .services.routing import forget_routing

        # Not business logic: every writer of routing configuration (services, admin,
        # fixtures, cascades) must drop the per-process routing cache.
        for model in (Queue, RoutingRule, DefaultQueue):
            for signal in (post_save, post_delete):
                signal.connect(forget_routing, sender=model, dispatch_uid=f"exceptions.forget_routing.{model.__name__}.{signal}")
