"""Login lockout: django-axes refuses a username+address that failed too often, before any password is checked."""
from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, first in AUTHENTICATION_BACKENDS.

    Every login over HTTP (the login page, the admin) passes the request, and is checked. Only code that calls
    `authenticate()` without one (the test client's `login()`, a shell) has no address to check; axes would raise
    for it, so it is let through to the next backend, which checks the password as before.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
