"""The probe condition language, parsed by hand (never ``eval``).

One condition per line, all must hold::

    [STATUS] == 200
    [RESPONSE_TIME] < 800
    [BODY].status == "UP"
    [BODY].items[0].state != DOWN
    any([STATUS] == 200, [STATUS] == 204)

Left side: ``[STATUS]``, ``[RESPONSE_TIME]`` (ms), ``[BODY]`` with an optional path of
``.key`` / ``[index]`` steps into the JSON body, or ``[CONNECTED]``. Operators: ``==``,
``!=``, ``<``, ``<=``, ``>``, ``>=``. Right side: a number, a quoted string, ``true``,
``false``, ``null`` or a bare word (a string). ``any(c1, c2, ...)`` holds when one does.
"""

import json
import re
from dataclasses import dataclass

OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
PLACEHOLDERS = ("STATUS", "RESPONSE_TIME", "BODY", "CONNECTED")
MAX_CONDITIONS = 20
MAX_LENGTH = 300

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<placeholder>\[[A-Z_]+\])
    | (?P<path>(?:\.[A-Za-z_][A-Za-z0-9_\-]*|\[\d+\])+)
    | (?P<op>==|!=|<=|>=|<|>)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<any>any\()
    | (?P<comma>,)
    | (?P<close>\))
    | (?P<word>[A-Za-z_][A-Za-z0-9_\-\.]*)
    )""",
    re.VERBOSE,
)


class ConditionError(ValueError):
    """A condition that does not parse; the message says where and why."""


@dataclass(frozen=True)
class Comparison:
    placeholder: str
    path: tuple
    op: str
    value: object
    text: str

    def evaluate(self, response) -> bool:
        left = response.get(self.placeholder, self.path)
        right = self.value
        if left is _MISSING:
            return False
        if self.op in ("==", "!="):
            equal = _loose_equal(left, right)
            return equal if self.op == "==" else not equal
        try:
            left_n, right_n = float(left), float(right)
        except (TypeError, ValueError):
            return False
        return {"<": left_n < right_n, "<=": left_n <= right_n, ">": left_n > right_n, ">=": left_n >= right_n}[self.op]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple
    text: str

    def evaluate(self, response) -> bool:
        return any(part.evaluate(response) for part in self.parts)


def _loose_equal(left, right):
    if isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        return left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return float(left) == float(right)
    if isinstance(right, int | float) and isinstance(left, str):
        try:
            return float(left) == float(right)
        except ValueError:
            return False
    return str(left) == str(right)


class _MissingType:
    def __repr__(self):
        return "<missing>"


_MISSING = _MissingType()


def _tokens(text):
    position = 0
    tokens = []
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ConditionError(f"Unexpected text at column {position + 1}: {text[position:position + 15]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), position + 1))
        position = match.end()
    return tokens


def _parse_value(kind, raw):
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "string":
        return json.loads(raw)
    if kind == "word":
        return {"true": True, "false": False, "null": None}.get(raw, raw)
    raise ConditionError(f"Expected a value, found {raw!r}")


def _parse_path(raw):
    steps = []
    for key, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]", raw):
        steps.append(int(index) if index else key)
    return tuple(steps)


def _parse_comparison(tokens, i, text):
    if i >= len(tokens) or tokens[i][0] != "placeholder":
        found = tokens[i][1] if i < len(tokens) else "the end"
        raise ConditionError(f"Expected a placeholder such as [STATUS], found {found!r}")
    name = tokens[i][1][1:-1]
    if name not in PLACEHOLDERS:
        raise ConditionError(f"Unknown placeholder [{name}]; use one of " + ", ".join(f"[{p}]" for p in PLACEHOLDERS))
    i += 1
    path = ()
    if i < len(tokens) and tokens[i][0] == "path":
        if name != "BODY":
            raise ConditionError(f"Only [BODY] takes a path, not [{name}]")
        path = _parse_path(tokens[i][1])
        i += 1
    if i >= len(tokens) or tokens[i][0] != "op":
        found = tokens[i][1] if i < len(tokens) else "the end"
        raise ConditionError(f"Expected an operator ({', '.join(OPERATORS)}) after [{name}], found {found!r}")
    op = tokens[i][1]
    i += 1
    if i >= len(tokens) or tokens[i][0] not in ("number", "string", "word"):
        found = tokens[i][1] if i < len(tokens) else "the end"
        raise ConditionError(f"Expected a value after {op}, found {found!r}")
    value = _parse_value(tokens[i][0], tokens[i][1])
    i += 1
    if name in ("STATUS", "RESPONSE_TIME") and not isinstance(value, int | float):
        raise ConditionError(f"[{name}] compares with a number, not {value!r}")
    if op not in ("==", "!=") and not isinstance(value, int | float):
        raise ConditionError(f"{op} needs a number on the right, not {value!r}")
    return Comparison(name, path, op, value, text), i


def parse_condition(text: str):
    text = text.strip()
    if not text:
        raise ConditionError("Empty condition")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"A condition may be at most {MAX_LENGTH} characters")
    tokens = _tokens(text)
    if tokens[0][0] == "any":
        parts, i = [], 1
        while True:
            part, i = _parse_comparison(tokens, i, text)
            parts.append(part)
            if i < len(tokens) and tokens[i][0] == "comma":
                i += 1
                continue
            if i < len(tokens) and tokens[i][0] == "close":
                i += 1
                break
            raise ConditionError("any(...) needs comparisons separated by commas and a closing )")
        node = AnyOf(tuple(parts), text)
    else:
        node, i = _parse_comparison(tokens, 0, text)
    if i != len(tokens):
        raise ConditionError(f"Unexpected {tokens[i][1]!r} at column {tokens[i][2]}")
    return node


def parse_conditions(source: str):
    """All conditions of a probe (one per line; blank lines and ``#`` comments skipped).
    Raises ConditionError naming the line."""
    nodes = []
    for number, line in enumerate((source or "").splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            nodes.append(parse_condition(line))
        except ConditionError as exc:
            raise ConditionError(f"Line {number}: {exc}") from None
    if not nodes:
        raise ConditionError("At least one condition is needed, e.g. [STATUS] == 200")
    if len(nodes) > MAX_CONDITIONS:
        raise ConditionError(f"At most {MAX_CONDITIONS} conditions")
    return nodes


class ProbeResponse:
    """What conditions look at: status, response time, connectivity and the body (parsed
    as JSON lazily, only when a condition reads it)."""

    def __init__(self, *, status=None, response_ms=None, body=b"", connected=True, truncated=False):
        self.status = status
        self.response_ms = response_ms
        self.body = body
        self.connected = connected
        self.truncated = truncated
        self._json = _MISSING
        self._json_loaded = False

    def _body_json(self):
        if not self._json_loaded:
            self._json_loaded = True
            if not self.truncated:
                try:
                    self._json = json.loads(self.body)
                except (ValueError, UnicodeDecodeError):
                    self._json = _MISSING
        return self._json

    def get(self, placeholder, path=()):
        if placeholder == "STATUS":
            return self.status if self.status is not None else _MISSING
        if placeholder == "RESPONSE_TIME":
            return self.response_ms if self.response_ms is not None else _MISSING
        if placeholder == "CONNECTED":
            return self.connected
        if not path:
            try:
                return self.body.decode("utf-8", "replace")
            except AttributeError:
                return self.body
        value = self._body_json()
        for step in path:
            if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
                value = value[step]
            elif isinstance(step, str) and isinstance(value, dict) and step in value:
                value = value[step]
            else:
                return _MISSING
        return value


def evaluate(nodes, response: ProbeResponse):
    """(True, "") when every condition holds, else (False, the first that failed)."""
    for node in nodes:
        if not node.evaluate(response):
            return False, node.text
    return True, ""
