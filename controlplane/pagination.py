from rest_framework.pagination import CursorPagination, PageNumberPagination


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
