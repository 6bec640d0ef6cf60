"""``check()``: levels, directions, transitive walks and the time bound."""

from __future__ import annotations

import time

from . import avro_diff, jsonschema_diff, openapi_diff
from .types import FORMATS, LEVELS, POLICIES, Finding, Report

TIMED_OUT = "CHECK_TIMED_OUT"
TOO_DEEP = "CHECK_TOO_DEEP"
# Nested schemas are walked recursively, three frames per nesting level: with Python's default
# recursion limit that is a few hundred levels, far beyond real schemas. Deeper ones get a
# CHECK_TOO_DEEP finding. The limit is deliberately left alone: raising it process-wide would
# let C-level recursion elsewhere (json, jsonschema, ==) overflow the stack instead of raising.


class CheckTimedOut(Exception):
    """Raised inside a diff when the time budget is spent."""


class Deadline:
    """A cheap clock the diff walkers poll; raises :class:`CheckTimedOut` when spent.

    It counts the CPU time of the checking thread (``time.thread_time``), not wall-clock time:
    on a busy machine the check waits for a core without spending its budget, so load cannot
    turn a compatible change into a refusal. A check runs on one thread, start to end."""

    __slots__ = ("at", "_ticks")
    clock = staticmethod(time.thread_time)

    def __init__(self, budget: float):
        self.at = self.clock() + max(0.0, float(budget))
        self._ticks = 0

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks & 63 == 0 and self.clock() > self.at:
            raise CheckTimedOut

    def check_now(self) -> None:
        if self.clock() > self.at:
            raise CheckTimedOut


_DIFFERS = {"json-schema": jsonschema_diff.compare, "openapi": openapi_diff.compare, "avro": avro_diff.compare}


def _directions(level: str) -> tuple[str, ...]:
    if level.startswith("BACKWARD"):
        return ("BACKWARD",)
    if level.startswith("FORWARD"):
        return ("FORWARD",)
    if level.startswith("FULL"):
        return ("BACKWARD", "FORWARD")
    return ()


def _validate_args(level, policy, fmt, previous, previous_versions):
    if level not in LEVELS:
        raise ValueError(f"Unknown compatibility level {level!r}; expected one of {', '.join(LEVELS)}.")
    if policy not in POLICIES:
        raise ValueError(f"Unknown policy {policy!r}; expected one of {', '.join(POLICIES)}.")
    if fmt not in FORMATS:
        raise ValueError(f"Unknown schema format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    if previous is None:
        previous = []
    if not isinstance(previous, (list, tuple)):
        raise ValueError("`previous` must be a list of schemas, oldest first.")
    if previous_versions is None:
        previous_versions = list(range(1, len(previous) + 1))
    previous_versions = list(previous_versions)
    if len(previous_versions) != len(previous):
        raise ValueError(
            f"`previous_versions` has {len(previous_versions)} numbers for {len(previous)} schemas."
        )
    return list(previous), previous_versions


def check(
    *,
    new,
    previous: list,
    level: str = "BACKWARD",
    policy: str = "STRICT",
    fmt: str = "json-schema",
    previous_versions: list[int] | None = None,
    time_budget: float = 5.0,
) -> Report:
    """Check ``new`` against the approved ``previous`` versions (oldest first).

    Non-transitive levels compare with ``previous[-1]`` only; ``*_TRANSITIVE`` levels with every
    previous version, newest first, stopping at the first version that fails. ``NONE`` is always
    compatible with no findings. The whole check is bounded by ``time_budget`` seconds: when it
    is hit the report is incompatible, ``timed_out`` is true and a ``CHECK_TIMED_OUT`` finding
    says so.
    """
    previous, versions = _validate_args(level, policy, fmt, previous, previous_versions)
    directions = _directions(level)
    if not directions or not previous:
        return Report(compatible=True, findings=(), timed_out=False, checked_versions=())

    pairs = list(zip(versions, previous, strict=True))
    if level.endswith("_TRANSITIVE"):
        pairs.reverse()  # newest first
    else:
        pairs = pairs[-1:]

    differ = _DIFFERS[fmt]
    # JSON Schema comparisons of one check share the results of equal subschema pairs.
    extra = {"shared": jsonschema_diff.Shared()} if fmt == "json-schema" else {}
    deadline = Deadline(time_budget)
    findings: list[Finding] = []
    checked: list[int] = []
    compatible = True
    timed_out = False
    for version, old in pairs:
        version_ok = True
        for direction in directions:
            # BACKWARD: the new schema reads data written with the old one (writer=old).
            # FORWARD: the old schema reads data written with the new one (writer=new).
            writer, reader = (old, new) if direction == "BACKWARD" else (new, old)
            try:
                found = differ(writer, reader, policy=policy, deadline=deadline, **extra)
            except RecursionError:
                findings.append(
                    Finding(
                        type=TOO_DEEP,
                        path="#",
                        compatible=False,
                        against_version=version,
                        direction=direction,
                        message=(
                            f"The schemas nest too deeply to compare against version {version}; "
                            "they are treated as incompatible."
                        ),
                    )
                )
                version_ok = False
                break
            except CheckTimedOut:
                timed_out = True
                findings.append(
                    Finding(
                        type=TIMED_OUT,
                        path="#",
                        compatible=False,
                        against_version=version,
                        direction=direction,
                        message=(
                            f"The check against version {version} did not finish within "
                            f"{time_budget:g} s; the schemas are treated as incompatible."
                        ),
                    )
                )
                version_ok = False
                break
            for ftype, path, ok, message in found:
                findings.append(
                    Finding(
                        type=ftype,
                        path=path,
                        compatible=ok,
                        against_version=version,
                        direction=direction,
                        message=message,
                    )
                )
                if not ok:
                    version_ok = False
        checked.append(version)
        if not version_ok:
            compatible = False
            break
    return Report(
        compatible=compatible,
        findings=tuple(findings),
        timed_out=timed_out,
        checked_versions=tuple(checked),
    )
