"""Pages and endpoints that belong to no one domain: the dashboard of each role, the health check."""
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from apps.generation.selectors import job_counts_for, jobs_visible_to


@login_required
def dashboard(request):
    """The signed-in user's dashboard: one template per role (templates/core/dashboard_<role>.html)."""
    role = request.user.role or "none"
    context = {
        "role": role,
        "recent_jobs": jobs_visible_to(user=request.user)[:10],
        "job_counts": job_counts_for(user=request.user),
    }
    return render(request, f"core/dashboard_{role}.html", context)



def healthz(request):
    """Liveness + database reachability, for load balancers and compose health checks."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
