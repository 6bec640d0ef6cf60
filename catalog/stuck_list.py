"""The stuck list of a workflow as the page, its CSV export and the API all serve it: one
FilterSet (``StuckFilterSet``), one summary (count and money per currency, and the total
converted to the reporting currency as the KPIs convert it: never a raw sum across
currencies), one way of explaining the items shown."""

from controlplane.errors import ValidationFailed
from kpis.fx import money_by_scope, reporting_currency

from .filtersets import StuckFilterSet
from .stages import explain

ORDER = ("occurred_at", "pk")  # the longest waiting first


def bound_filterset(workflow, params, *, request=None) -> StuckFilterSet:
    """The validated FilterSet; a bad parameter is a 400 naming it, and nothing is listed."""
    filterset = StuckFilterSet(params, workflow=workflow, request=request)
    if not filterset.is_valid():
        errors = {name: [str(m) for m in messages] for name, messages in filterset.errors.items()}
        name, messages = next(iter(errors.items()))
        raise ValidationFailed(f"{name}: {messages[0]}", fields=errors)
    return filterset


def summary(qs) -> dict:
    """Count and money of ``qs``: per currency as posted, and the reporting-currency total
    with how many amounts had no rate (counted apart, never added as zero)."""
    scope = money_by_scope(qs.order_by(), path=None, amount="amount", currency="currency", on="occurred_at")[""]
    by_currency = [
        {"currency": code, "count": entry["count"], "amount": str(entry["amount"]),
         "unconverted_count": entry["unconverted_count"]}
        for code, entry in sorted(scope["by_currency"].items())
    ]
    return {"count": scope["count"], "by_currency": by_currency, "reporting_currency": reporting_currency(),
            "converted_total": str(scope["amount"]), "unconverted_count": scope["unconverted_count"]}


def stuck_page(workflow, params, *, user, paginate, request=None) -> dict:
    """``paginate(queryset)`` returns the page's rows (DRF's or Django's paginator)."""
    filterset = bound_filterset(workflow, params, request=request)
    qs = filterset.qs.order_by(*ORDER)
    stages_by_id = {s.pk: s for s in filterset.stages}
    items = explain(paginate(qs), stages_by_id, user=user, now=filterset.as_of)
    return {"items": items, "summary": summary(qs), "as_of": filterset.as_of, "filter": filterset}


CSV_HEADER = ["Business key", "Waiting since (UTC)", "After step", "Waiting for", "Due (UTC)", "Hours late",
              "Amount", "Currency", "Expected integration", "Reported by", "Reason", "Trace"]


def csv_rows(workflow, filterset, *, user, site=""):
    """Header, then every row of the filtered list, explained a page at a time."""
    yield CSV_HEADER
    qs = filterset.qs.order_by(*ORDER)
    stages_by_id = {s.pk: s for s in filterset.stages}
    start, size = 0, 500
    while True:
        chunk = list(qs[start:start + size])
        if not chunk:
            return
        for item in explain(chunk, stages_by_id, user=user, now=filterset.as_of):
            yield [item.correlation_key, item.occurred_at, item.get_type_display(), item.stage.name, item.due_at,
                   item.hours_late, item.amount, item.currency,
                   item.stage.integration.name if item.stage.integration else "",
                   item.integration.name if item.integration else "",
                   item.reason["text"] if item.reason else "", site + item.trace_url]
        start += size
