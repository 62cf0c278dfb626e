from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.accounts import api as accounts_api
from apps.accounts import views as accounts_views
from apps.adapters import api as adapters_api
from apps.core import views as core_views
from apps.generation import api as generation_api

api_v1 = [
    path("auth/tokens/", accounts_api.TokenListCreateApi.as_view(), name="api-token-list"),
    path("auth/tokens/<int:token_id>/revoke/", accounts_api.TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("jobs/", generation_api.JobListCreateApi.as_view(), name="api-job-list"),
    path("jobs/<int:job_id>/", generation_api.JobDetailApi.as_view(), name="api-job-detail"),
    path("jobs/<int:job_id>/cancel/", generation_api.JobCancelApi.as_view(), name="api-job-cancel"),
    path("adapters/", adapters_api.AdapterListUploadApi.as_view(), name="api-adapter-list"),
    path("adapters/active/", adapters_api.ActiveAdaptersApi.as_view(), name="api-adapter-active"),
    path("adapters/<int:adapter_id>/", adapters_api.AdapterDetailApi.as_view(), name="api-adapter-detail"),
    path("adapters/<int:adapter_id>/activate/", adapters_api.AdapterActivateApi.as_view(), name="api-adapter-activate"),
    path("adapters/<int:adapter_id>/rollback/", adapters_api.AdapterRollbackApi.as_view(), name="api-adapter-rollback"),
]

urlpatterns = [
    path("", accounts_views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", accounts_views.api_tokens, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", accounts_views.api_token_revoke_view, name="api-token-revoke-web"),
    path("audit/", accounts_views.audit_log_view, name="audit-log"),
    path("jobs/", include("apps.generation.urls")),
    path("adapters/", include("apps.adapters.urls")),
    path("finance/", include("apps.finance.urls")),
    path("medical/", include("apps.medical.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    path("api/v1/finance/", include("apps.finance.api_urls")),
    path("api/v1/medical/", include("apps.medical.api_urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]
