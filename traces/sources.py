"""The registry a trace is assembled from. A source is ``fn(key, user) -> [TraceItem]``
(see ``traces/types.py``) that applies the user's permissions and visibility itself; a
panel is ``(name, fn(key, user, items) -> context | None, template)`` rendered above the
timeline. This app registers its own sources in ``TracesConfig.ready``; other apps
(workflow stages, OTLP spans) register theirs in their own ``ready``."""

from __future__ import annotations

from .types import Panel, PanelFn, Source

_SOURCES: list[Source] = []
_PANELS: dict[str, Panel] = {}


def register_source(fn: Source) -> Source:
    """Add ``fn`` to the sources of every trace (once; usable as a decorator)."""
    if fn not in _SOURCES:
        _SOURCES.append(fn)
    return fn


def register_panel(name: str, fn: PanelFn, template: str) -> None:
    """Show ``template`` rendered with ``fn(key, user, items)`` above the timeline. The same
    name again replaces the panel (a reloaded app does not show it twice)."""
    _PANELS[name] = Panel(name=name, fn=fn, template=template)


def sources() -> list[Source]:
    return list(_SOURCES)


def panels() -> list[Panel]:
    return list(_PANELS.values())
