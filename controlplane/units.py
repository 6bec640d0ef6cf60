"""Quantities as a person reads them: durations in h / min / s, not raw seconds."""

ISO_WEEKDAYS = {1: "Monday", 2: "Tuesday", 3: "Wednesday", 4: "Thursday", 5: "Friday", 6: "Saturday", 7: "Sunday"}


def duration(seconds) -> str:
    """158520 -> '44.0 h', 7200 -> '2 h', 900 -> '15 min', 42 -> '42 s'; None -> ''."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds >= 3600:
        hours = seconds / 3600
        return f"{hours:.0f} h" if hours == int(hours) else f"{hours:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def weekdays(iso_days: str) -> str:
    """'6,7' -> 'Saturday and Sunday'; '1,2,3' -> 'Monday, Tuesday and Wednesday'."""
    names = [ISO_WEEKDAYS.get(int(d), d) for d in iso_days.replace(" ", "").split(",") if d.isdigit()]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
