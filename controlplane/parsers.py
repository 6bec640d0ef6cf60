"""The API's JSON parser: DRF's, hardened against hostile bodies.

DRF's parser turns malformed JSON into a 400 but lets two things through as 500s: a
document nested deeper than Python's recursion limit (``[[[[...`` 100k levels raises
RecursionError inside ``json.loads``) and a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(Django raises RequestDataTooBig, which DRF does not translate). It also accepts a
document nested a few hundred levels deep, which every later recursive walk (validation,
the compatibility engine, rendering) would then have to survive, strings holding NUL
characters, which PostgreSQL refuses, and lone surrogates (``"\\ud800"``), which cannot be
encoded as UTF-8 and fail wherever the value is stored, rendered or exported. This parser
answers all of them with a 4xx in the project's error shape (the text rule is
``controlplane.validation.json_problem``, shared with the forms).
"""

import codecs
import json

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.settings import api_settings
from rest_framework.utils import json as drf_json

from .validation import json_text_problem


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than the {limit:,} bytes this API accepts.")


def max_depth() -> int:
    return getattr(settings, "API_JSON_MAX_DEPTH", 100)


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
        problem = json_text_problem(text, data, max_depth())
        if problem:
            raise exceptions.ParseError(f"JSON parse error - {problem}.")
        return data


