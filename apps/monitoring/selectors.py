"""Reads of monitoring (admins only: the views and API check the role's permissions)."""
from __future__ import annotations

from django.db.models import Avg, Count

from apps.monitoring.models import Alert, Observation, Snapshot


def snapshots_list(*, domain: str | None = None, statistic: str | None = None):
    qs = Snapshot.objects.select_related("adapter")
    if domain:
        qs = qs.filter(domain=domain)
    if statistic:
        qs = qs.filter(statistic=statistic)
    return qs.order_by("domain", "adapter_id", "window", "statistic", "feature", "id")


def alerts_list(*, open_only: bool = False):
    qs = Alert.objects.select_related("adapter", "acknowledged_by")
    return qs.filter(acknowledged_at__isnull=True) if open_only else qs


def _group_label(domain: str, adapter) -> str:
    return f"{domain} / {adapter.label if adapter is not None else 'base model'}"


def monitoring_charts() -> list[dict]:
    """One chart per (statistic, feature): a series of (window, value) per domain and adapter version, and the
    threshold line; for the page's script (json_script)."""
    charts: dict[tuple[str, str], dict] = {}
    for s in snapshots_list():
        chart = charts.setdefault((s.statistic, s.feature), {
            "id": f"{s.statistic}-{s.feature}", "statistic": s.statistic, "feature": s.feature, "threshold": None,
            "series": {},
        })
        if s.threshold is not None:
            chart["threshold"] = s.threshold
        series = chart["series"].setdefault(_group_label(s.domain, s.adapter), [])
        series.append({"x": s.window, "y": round(s.value, 6)})
    return [{**c, "series": [{"label": k, "points": v} for k, v in c["series"].items()]} for c in charts.values()]


def serving_numbers(*, last: int = 200) -> list[dict]:
    """Mean time to first token and tokens/s over each domain's last `last` observed requests."""
    out = []
    for domain in Observation.objects.order_by().values_list("domain", flat=True).distinct():
        ids = Observation.objects.filter(domain=domain).order_by("-id").values_list("id", flat=True)[:last]
        agg = Observation.objects.filter(id__in=list(ids)).aggregate(
            requests=Count("id"), ttft_s=Avg("ttft_s"), tokens_per_s=Avg("tokens_per_s"))
        out.append({"domain": domain, **agg})
    return sorted(out, key=lambda r: r["domain"])
