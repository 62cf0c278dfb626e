"""Response headers that Django and django-csp do not set: Permissions-Policy (settings.PERMISSIONS_POLICY)."""
from django.conf import settings


class PermissionsPolicyMiddleware:
    """Sets Permissions-Policy on every response that has none: the browser features no page of ours uses."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.value = ", ".join(f"{feature}=({' '.join(allow)})"
                               for feature, allow in getattr(settings, "PERMISSIONS_POLICY", {}).items())

    def __call__(self, request):
        response = self.get_response(request)
        if self.value:
            response.headers.setdefault("Permissions-Policy", self.value)
        return response
