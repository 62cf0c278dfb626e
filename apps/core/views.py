"""Pages and endpoints that belong to no one domain: the dashboard of each role, the health check."""
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from apps.core.dashboards import dashboard_context


@login_required
def dashboard(request):
    """The signed-in user's dashboard: one template per role (templates/core/dashboard_<role>.html)."""
    context = dashboard_context(user=request.user, request=request)
    return render(request, f"core/dashboard_{context['role']}.html", context)



def healthz(request):
    """Liveness + database reachability, for load balancers and compose health checks."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
