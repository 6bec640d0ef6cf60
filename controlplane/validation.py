"""The input rules every path shares: date-times, integers and text.

One rule, used by the DRF serializers, the ingestion validators (exceptions, health runs
and heartbeats, KPI business events), the HTML forms and the filter parameters, so a value
refused on one path cannot come in through another (docs/security.md, "Bad input").

**Date-times (instants).** An instant must

- carry a UTC offset where it comes from a machine (API bodies): a naive ``2026-03-01T10:00``
  is refused, because the sender's zone is unknown. HTML forms are the exception: the
  browser's ``datetime-local`` has no offset, and the page says the site's time zone (UTC);
- have an offset within ±14:00 (the widest zone in use, Kiribati's UTC+14);
- lie between ``EARLIEST_INSTANT`` (2000-01-01T00:00Z) and one year from now
  (``FUTURE_LIMIT``). Nothing this project records happened earlier, and a value such as
  ``0001-01-01T00:00:00+14:00`` is year 0 in UTC: PostgreSQL stores it, but no Python
  datetime can hold it, so every page reading the row failed with a 500 until it was
  refused here. Fields may be stricter (an event may not be in the future at all).
  Calendar dates taken as parameters (KPI ranges, drill-down periods) use the same window
  (``date_problem``).

**Integers** are bounded to their column: ``INT_MAX`` for ``(Positive)IntegerField`` on
PostgreSQL, ``BIGINT_MAX`` for ids and ``BigIntegerField``, ``SMALLINT_MAX`` for
``SmallIntegerField``; a larger number is a 400, not a database error.

**Money** is posted in a currency in use today (ISO 4217, from the ``iso4217`` package's
table): ``GBP``, not ``XYZ``, nor codes without a minor unit such as ``XXX`` ("no
currency") or ``XAU`` (gold), which no invoice is in. An amount other than zero needs its
currency; an amount without one could never be converted for the KPIs (``currency_problem``).
FX rates are the exception: the ECB's history quotes retired currencies (CYP, SIT, ...), so
rate tables check only the three-letter form.

**Text** may not hold NUL (PostgreSQL text and jsonb refuse it) or a lone UTF-16
surrogate (``"\\ud800"`` in JSON: not a character, cannot be encoded as UTF-8, so
rendering, exporting or storing it fails).
"""

import datetime as dt
import json
import re

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from iso4217 import Currency
from rest_framework import serializers

EARLIEST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_LIMIT = dt.timedelta(days=366)
MAX_UTC_OFFSET = dt.timedelta(hours=14)

SMALLINT_MAX = 32_767
INT_MAX = 2_147_483_647
BIGINT_MAX = 9_223_372_036_854_775_807

INSTANT_FORMAT = "An ISO 8601 date-time with a UTC offset, e.g. 2026-03-01T09:30:00Z or 2026-03-01T10:30:00+01:00."
NAIVE_MESSAGE = "Give the UTC offset (e.g. Z or +01:00); a date-time without one is ambiguous."
OFFSET_MESSAGE = "The UTC offset must lie within -14:00..+14:00."


def latest_instant(now=None) -> dt.datetime:
    return (now or timezone.now()) + FUTURE_LIMIT


def window_message(now=None) -> str:
    return (f"Must lie between {EARLIEST_INSTANT:%Y-%m-%d} and one year from now "
            f"({latest_instant(now):%Y-%m-%d}).")


def instant_problem(value: dt.datetime, *, naive_ok: bool = False, now=None) -> str | None:
    """Why ``value`` is not an acceptable instant, or None. ``naive_ok`` for form input
    already interpreted in the site's time zone."""
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None:
        if not naive_ok:
            return NAIVE_MESSAGE
        value = value.replace(tzinfo=timezone.get_current_timezone())
        offset = value.utcoffset()
    if abs(offset) > MAX_UTC_OFFSET:
        return OFFSET_MESSAGE
    try:
        in_utc = value.astimezone(dt.UTC)
    except OverflowError:  # year 1 with a positive offset is year 0 in UTC
        return window_message(now)
    if not EARLIEST_INSTANT <= in_utc <= latest_instant(now):
        return window_message(now)
    return None


def date_problem(value: dt.date, *, now=None) -> str | None:
    """The same window for calendar dates (report ranges, drill-down periods)."""
    if not EARLIEST_INSTANT.date() <= value <= latest_instant(now).date():
        return window_message(now)
    return None


def parse_instant(raw, *, now=None) -> tuple[dt.datetime | None, str | None]:
    """-> (aware datetime, None) or (None, why not), for ingestion validators that collect
    errors per field instead of raising."""
    value = None
    if isinstance(raw, str) and len(raw) <= 64:
        try:
            value = parse_datetime(raw.strip())
        except ValueError:  # well-formed but impossible, e.g. month 13
            value = None
    if value is None:
        return None, INSTANT_FORMAT
    problem = instant_problem(value, now=now)
    return (None, problem) if problem else (value, None)


class InstantField(serializers.DateTimeField):
    """DRF's DateTimeField under the instant rule. Every ModelSerializer maps a model
    ``DateTimeField`` to this (``ControlplaneConfig.ready``), so a writable date-time in
    any serializer follows the rule without each one asking for it."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed, problem = parse_instant(value)
        elif isinstance(value, dt.datetime):
            parsed, problem = value, instant_problem(value)
        else:
            parsed, problem = None, INSTANT_FORMAT
        if problem:
            raise serializers.ValidationError(problem, code="invalid")
        return super().to_internal_value(parsed)


class InstantFormField(forms.DateTimeField):
    """A form's date-time under the instant rule; input without an offset is read in the
    site's time zone (what the page says next to the field)."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None:
            problem = instant_problem(result, naive_ok=True)
            if problem:
                raise forms.ValidationError(problem, code="invalid")
        return result


# --- money ------------------------------------------------------------------------------

CURRENCY_MESSAGE = "Use the ISO 4217 code of a currency in use, e.g. GBP, EUR or USD."
_CURRENCIES = frozenset(c.code for c in Currency if c.exponent is not None)


def currency_problem(currency: str, amount=None) -> str | None:
    """Why ``currency`` (upper-case, "" for none) cannot carry ``amount``, or None: an
    unknown code, or an amount other than zero without its currency."""
    if currency:
        return None if currency in _CURRENCIES else CURRENCY_MESSAGE
    if amount is not None and amount != 0:
        return "An amount needs its ISO 4217 currency."
    return None


# --- text -------------------------------------------------------------------------------

# Longest comment (exception comments, review and SoR decisions), in characters: a page
# of text. The model, the form, the API serializer and the service all hold it.
COMMENT_MAX_LENGTH = 10_000


def check_comment(text, *, field: str = "comment") -> None:
    """Raise ``ValidationFailed`` (400) for a comment over ``COMMENT_MAX_LENGTH``."""
    from .errors import ValidationFailed

    if text and len(text) > COMMENT_MAX_LENGTH:
        message = f"At most {COMMENT_MAX_LENGTH:,} characters (this one has {len(text):,})."
        raise ValidationFailed(f"The comment is too long: {message}", fields={field: [message]})


_BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why the string may not be accepted (NUL or a lone surrogate), or None."""
    match = _BAD_CHARACTERS.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "may not contain NUL (\\u0000) characters"
    return "may not contain lone UTF-16 surrogates (\\ud800-\\udfff)"


def json_problem(value, limit: int) -> str | None:
    """Why the decoded JSON ``value`` may not be accepted, or None: nesting deeper than
    ``limit`` levels, or a string or key with NUL or a lone surrogate. Iterative, so it
    cannot run out of stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"strings {problem}"
            continue
        if isinstance(item, dict):
            for key in item:
                problem = text_problem(key)
                if problem:
                    return f"keys {problem}"
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return f"the document nests deeper than {limit} levels"
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | str))
    return None


# Where a JSON text can hold a NUL or a surrogate: raw (json.loads refuses raw control
# characters in strings, a UTF-8 decoder refuses encoded surrogates, but other decoders
# may not) or as a \u escape (``\\u0000`` after an escaped backslash matches too, which
# only costs the full walk).
_SUSPECT_TEXT = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89abcdefABCDEF])")
_SUSPECT_CHAR = re.compile(r"[\x00\ud800-\udfff]")


def _suspect_text(text: str) -> bool:
    """``_SUSPECT_TEXT.search(text)``, faster for the common body: an ASCII text can hold
    no surrogate, ``in`` finds a NUL or a ``\\u`` at C speed, and the regular expression
    runs only when a ``\\u`` escape is there (one scan of a 1,000-item batch was 6.5 ms)."""
    if text.isascii():
        if "\x00" in text:
            return True
    elif _SUSPECT_CHAR.search(text) is not None:
        return True
    return "\\u" in text and _SUSPECT_TEXT.search(text) is not None


def json_text_problem(text: str, value, limit: int) -> str | None:
    """``json_problem`` for ``value`` decoded from ``text``, cheaper for the common body:
    when the text holds no NUL or surrogate in any form (one regular-expression scan),
    only the nesting is walked, container by container, not every string and key."""
    if _suspect_text(text):
        return json_problem(value, limit)
    containers = (dict, list)  # a tuple: isinstance with ``dict | list`` is slower
    stack = [(value, 1)] if isinstance(value, containers) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return f"the document nests deeper than {limit} levels"
        depth += 1
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, containers):
                stack.append((child, depth))
    return None


def parse_json_text(text: str, *, limit: int = 100):
    """JSON typed into a form (payload editor, schema editor, probe headers) under the same
    rule as an API body; raises ``forms.ValidationError``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise forms.ValidationError("The JSON nests too deeply.", code="invalid") from None
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.", code="invalid"
        ) from None
    problem = json_problem(value, limit)
    if problem:
        raise forms.ValidationError(f"Not accepted: {problem}.", code="invalid")
    return value


class SafeJSONFormField(forms.JSONField):
    """``forms.JSONField`` whose decoded value follows the JSON body rule."""

    def to_python(self, value):
        result = super().to_python(value)
        problem = json_problem(result, 100)
        if problem:
            raise forms.ValidationError(f"Not accepted: {problem}.", code="invalid")
        return result


# --- rows stored before the rule ----------------------------------------------------------


def tolerate_out_of_range_timestamps(sender, connection, **kwargs):
    """``connection_created`` receiver: on PostgreSQL, read a timestamptz that no Python
    datetime can hold (year 0 or BC, after 9999, ``±infinity``) as ``datetime.min`` /
    ``datetime.max`` instead of failing.

    Such a value can only be a row stored before the instant rule (or written by hand), but
    one was enough to make every page listing it answer 500 for everyone and the row could
    not even be loaded to dismiss it. Read this way, the list, detail, export, admin and KPI
    drill-downs render it (as 0001-01-01) and it can be worked and dismissed like any other.
    """
    if connection.vendor != "postgresql":
        return
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return
    import psycopg
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    class TolerantTzLoader(BaseTzLoader):
        # Django re-registers its own loader on each cursor unless this matches.
        timezone = connection.timezone

        def load(self, data):
            try:
                return super().load(data)
            except psycopg.DataError:
                text = bytes(data)
                edge = dt.datetime.min if text.startswith(b"-") or text.endswith(b"BC") else dt.datetime.max
                return edge.replace(tzinfo=self.timezone)

    from psycopg.types.datetime import DateLoader

    class TolerantDateLoader(DateLoader):
        # The same rows seen through a date (``first_seen::date``, a day bucket of a KPI).
        def load(self, data):
            try:
                return super().load(data)
            except psycopg.DataError:
                text = bytes(data)
                return dt.date.min if text.startswith(b"-") or text.endswith(b"BC") else dt.date.max

    connection.connection.adapters.register_loader("timestamptz", TolerantTzLoader)
    connection.connection.adapters.register_loader("date", TolerantDateLoader)
