"""Domain errors raised by service functions.

Views translate them: the API into the project's error shape with the status below, the
HTML pages into a message next to the form.
"""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_failed"


class InvalidTransition(DomainError):
    """The object is not in a state that allows this move."""

    status_code = 409
    code = "invalid_transition"


class Conflict(DomainError):
    """Somebody else changed the object first; reload and try again."""

    status_code = 409
    code = "conflict"


class NotAllowed(DomainError):
    status_code = 403
    code = "permission_denied"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class OutOfScope(NotAllowed):
    """A service token wrote for an integration it does not speak for."""

    code = "out_of_scope"


class IdempotencyConflict(Conflict):
    """The same idempotency key (or run / event id) came back with a different body."""

    code = "idempotency_conflict"
