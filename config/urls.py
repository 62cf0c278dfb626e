from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts import views as accounts_views
from apps.core import views as core_views
from apps.monitoring.metrics_views import metrics_view

urlpatterns = [
    path("", core_views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", accounts_views.api_tokens, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", accounts_views.api_token_revoke_view, name="api-token-revoke-web"),
    path("audit/", accounts_views.audit_log_view, name="audit-log"),
    path("jobs/", include("apps.generation.urls")),
    path("adapters/", include("apps.adapters.urls")),
    path("finance/", include("apps.finance.urls")),
    path("medical/", include("apps.medical.urls")),
    path("monitoring/", include("apps.monitoring.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus, bearer PLUMBLINE_METRICS_TOKEN
    path("api/v1/finance/", include("apps.finance.api_urls")),
    path("api/v1/medical/", include("apps.medical.api_urls")),
    path("api/v1/auth/", include("apps.accounts.api_urls")),
    path("api/v1/jobs/", include("apps.generation.api_urls")),
    path("api/v1/adapters/", include("apps.adapters.api_urls")),
    path("api/v1/monitoring/", include("apps.monitoring.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]
