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
