"""The API's JSON parser: DRF's, hardened against hostile bodies.

DRF's parser turns malformed JSON into a 400 but lets two things through as 500s: a
document nested deeper than Python's recursion limit (``[[[[...`` 100k levels raises
RecursionError inside ``json.loads``) and a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(Django raises RequestDataTooBig, which DRF does not translate). It also accepts a
document nested a few hundred levels deep, which every later recursive walk (validation,
the compatibility engine, rendering) would then have to survive, and strings holding NUL
characters, which PostgreSQL refuses. This parser answers all of them with a 4xx in the
project's error shape.
"""

import codecs
import json

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.settings import api_settings
from rest_framework.utils import json as drf_json


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than the {limit:,} bytes this API accepts.")


def max_depth() -> int:
    return getattr(settings, "API_JSON_MAX_DEPTH", 100)


def json_problem(value, limit: int) -> str | None:
    """Why ``value`` may not be accepted, or None: nesting deeper than ``limit`` levels, or
    a NUL character in a string or key (PostgreSQL text and jsonb columns cannot hold one,
    so it would fail at the database as a 500). Iterative, so it cannot run out of stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "strings may not contain NUL (\\u0000) characters"
            continue
        if isinstance(item, dict):
            if any("\x00" in key for key in item):
                return "keys may not contain NUL (\\u0000) characters"
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return f"the document nests deeper than {limit} levels"
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | str))
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - the body is not valid {encoding}: {exc.reason}") from None
        try:
            parse_constant = drf_json.strict_constant if api_settings.STRICT_JSON else None
            data = json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the document nests too deeply.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        problem = json_problem(data, max_depth())
        if problem:
            raise exceptions.ParseError(f"JSON parse error - {problem}.")
        return data


