"""The registry a trace is assembled from. A source is ``fn(key, user) -> [TraceItem]``
(see ``traces/types.py``) that applies the user's permissions and visibility itself; a
panel is ``(name, fn(key, user, items) -> context | None, template)`` rendered above the
timeline. This app registers its own sources in ``TracesConfig.ready``; other apps
(workflow stages, OTLP spans) register theirs in their own ``ready``."""

from __future__ import annotations

from .types import Panel, PanelFn, Probe, Source

_SOURCES: list[Source] = []
_PROBES: dict[Source, Probe] = {}
_PANELS: dict[str, Panel] = {}


def register_source(fn: Source, probe: Probe | None = None) -> Source:
    """Add ``fn`` to the sources of every trace (once; usable as a decorator). ``probe``
    (optional) is ``probe(key, user) -> QuerySet | None`` whose rows exist exactly when
    ``fn`` has items: the header search then asks all probes in one SQL statement instead
    of calling every source."""
    if fn not in _SOURCES:
        _SOURCES.append(fn)
    if probe is not None:
        _PROBES[fn] = probe
    return fn


def probe_of(fn: Source) -> Probe | None:
    return _PROBES.get(fn)


def register_panel(name: str, fn: PanelFn, template: str) -> None:
    """Show ``template`` rendered with ``fn(key, user, items)`` above the timeline. The same
    name again replaces the panel (a reloaded app does not show it twice)."""
    _PANELS[name] = Panel(name=name, fn=fn, template=template)


def sources() -> list[Source]:
    return list(_SOURCES)


def panels() -> list[Panel]:
    return list(_PANELS.values())
