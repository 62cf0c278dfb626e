"""GET /metrics: the service metrics in Prometheus's text format, for a scraper holding the bearer token."""
from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.monitoring.metrics import metrics_registry


@require_GET
def metrics_view(request):
    """404 when no PLUMBLINE_METRICS_TOKEN is configured (the endpoint does not exist), 401 without a bearer
    token, 403 with a wrong one (compared in constant time)."""
    token = settings.PLUMBLINE_METRICS_TOKEN
    if not token:
        raise Http404("no metrics token is configured")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HttpResponse("wrong metrics token\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(metrics_registry(queues=True)), content_type=CONTENT_TYPE_LATEST)
