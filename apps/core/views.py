"""Pages and endpoints that belong to no one domain: the dashboard of each role, the health check."""
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from apps.core.dashboards import dashboard_context


@login_required
def dashboard(request):
    """The signed-in user's dashboard: one template per role (templates/core/dashboard_<role>.html)."""
    context = dashboard_context(user=request.user, request=request)
    return render(request, f"core/dashboard_{context['role']}.html", context)


# A file every page links: with the manifest storage (production), a name the manifest lacks is a 500 on
# every page, so a process that cannot resolve it is not healthy.
HEALTH_STATIC_FILE = "css/plumbline.css"


def healthz(request):
    """Liveness + database reachability + static manifest, for load balancers and compose health checks."""
    if isinstance(staticfiles_storage, ManifestFilesMixin):
        try:
            staticfiles_storage.url(HEALTH_STATIC_FILE)
        except ValueError:
            return JsonResponse(
                {"status": "unavailable", "code": "static_manifest_missing",
                 "detail": f"the static files manifest has no entry for {HEALTH_STATIC_FILE}: run collectstatic "
                           "with these settings into STATIC_ROOT"},
                status=503,
            )
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
