"""DRF serializers on the machine hot paths (sync runs, business events) without building
them again on every request.

A DRF serializer builds its fields when first used: deep copies of the declared fields
and, for a ModelSerializer, a field per model field from the model's options. For a
one-row post that was a third of the view's CPU (bench_hotpath, cProfile), spent
rebuilding the same fields. Here each thread keeps one instance per serializer class
and calls the same methods ``is_valid()`` and ``.data`` call (``run_validation``,
``to_representation``), so what is accepted, refused and answered is the serializer's,
unchanged; the OpenAPI schema still documents the serializer classes.

A refused input is validated again by a fresh serializer, whose ``errors`` are the
answer: error bodies are exactly what ``is_valid()`` gives, and the shared instance
never holds a request's state.
"""

import threading

from rest_framework.exceptions import ValidationError

_local = threading.local()


def _shared(serializer_class):
    cache = getattr(_local, "serializers", None)
    if cache is None:
        cache = _local.serializers = {}
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
    return serializer


def validate(serializer_class, data, *, context=None) -> tuple[dict | None, dict | None]:
    """-> (validated data, None) or (None, errors): what
    ``serializer_class(data=data, context=context)`` says after ``is_valid()``."""
    serializer = _shared(serializer_class)
    serializer._context = context or {}  # what ``serializer.context`` reads (DRF keeps it there)
    try:
        return serializer.run_validation(data), None
    except ValidationError:
        pass
    finally:
        serializer._context = {}
    fresh = serializer_class(data=data, context=context or {})
    if fresh.is_valid():
        return fresh.validated_data, None
    return None, fresh.errors


def validated(serializer_class, data, *, context=None) -> dict:
    """The validated data, or the 400 ``is_valid(raise_exception=True)`` raises."""
    result, errors = validate(serializer_class, data, context=context)
    if errors is not None:
        raise ValidationError(errors)
    return result


def represent(serializer_class, instance) -> dict:
    """``serializer_class(instance).data`` (context-free serializers only)."""
    return _shared(serializer_class).to_representation(instance)
