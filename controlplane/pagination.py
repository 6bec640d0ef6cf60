from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, PageNumberPagination


class InvalidCursor(exceptions.APIException):
    """A cursor that was not made by this server (edited, truncated, or holding a value the
    ordering column cannot take): bad input, so a 400 on the API and on the HTML lists."""

    status_code = 400
    default_code = "invalid_cursor"
    default_detail = "The page cursor is malformed or was changed; start again from the first page."


class StandardPagination(PageNumberPagination):
    """Page numbers for the catalog's modest tables; ``page_size`` up to 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class LargeCursorPagination(CursorPagination):
    """Cursor pagination for tables that grow without bound (exceptions, events, runs):
    constant cost whatever the depth."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:  # DRF's answer to a cursor it cannot read
            raise InvalidCursor() from None
        if cursor is not None and cursor.position is not None and "\x00" in cursor.position:
            raise InvalidCursor()
        return cursor

    def paginate_queryset(self, queryset, request, view=None):
        # The position inside a well-formed cursor is still the caller's text: one the
        # ordering column cannot hold (not a date, a year-0 instant) fails when the page
        # query is built or run.
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, OverflowError, ValueError, TypeError):
            if not request.query_params.get(self.cursor_query_param):
                raise
            raise InvalidCursor() from None
