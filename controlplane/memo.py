"""Values a class builds the same way for every instance, built once per class."""


def per_class(obj, name: str, build):
    """``build()``'s value, computed once for ``type(obj)`` and kept on that class as
    ``name`` (a subclass builds and keeps its own: ``cls.__dict__``, not inheritance)."""
    cls = type(obj)
    value = cls.__dict__.get(name)
    if value is None:
        value = build()
        setattr(cls, name, value)
    return value
