"""DRF permissions by role."""
from rest_framework.permissions import BasePermission


def requires(*perms: str) -> type[BasePermission]:
    """A permission class that demands the given Django permissions (which come from the role)."""

    class _Requires(BasePermission):
        message = f"your role lacks the permission: {', '.join(perms)}"

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    _Requires.__name__ = f"Requires({', '.join(perms)})"
    return _Requires


class NotByApiToken(BasePermission):
    """Writes that an API token may not make: creating tokens. A token that could mint tokens would outlive its
    own revocation; new tokens come from a signed-in session (the web UI's Tokens page)."""

    message = ("an API token cannot create API tokens: sign in and create it on the Tokens page "
               "(or with a session), so that revoking a leaked token ends its access")
    code = "session_required"

    def has_permission(self, request, view) -> bool:
        from rest_framework.permissions import SAFE_METHODS

        from apps.accounts.models import ApiToken

        return request.method in SAFE_METHODS or not isinstance(request.auth, ApiToken)
