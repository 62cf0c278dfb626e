"""API rate limits (DRF throttles): a rate per user, and lower rates for the scopes that cost a worker, a disk or
a credential. A view names its costly methods' scope: `throttle_scopes = {"POST": "jobs"}`.

Rates come from settings.PLUMBLINE_THROTTLE_RATES when a request arrives (DRF's own classes read
THROTTLE_RATES once, at import, so a changed setting would never reach them). The counters live in the cache
settings.PLUMBLINE_THROTTLE_CACHE names: Redis in production, so every gunicorn worker counts the same requests.
A refused request answers 429 in the usual error shape, naming the scope and its rate, with `Retry-After`.
"""
from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.exceptions import Throttled

# The scopes and what they cover (README, "Security").
JOBS = "jobs"  # work queued on a worker: generation jobs, reports, section regeneration, triage, drafts, edits
UPLOADS = "uploads"  # files written to disk and checked: adapters (then evaluated), statement imports
TOKENS = "tokens"  # new API tokens


class _RatesFromSettings:
    scope: str

    @property
    def cache(self):
        return caches[settings.PLUMBLINE_THROTTLE_CACHE]

    def get_rate(self) -> str:
        try:
            return settings.PLUMBLINE_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"PLUMBLINE_THROTTLE_RATES has no rate for scope {self.scope!r}") from None

    def throttle_failure(self):
        raise Throttled(wait=self.wait(), detail=f"too many requests: the {self.scope!r} limit is {self.rate}.")


class UserThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Every API request of a signed-in user (token or session)."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None  # AnonThrottle's
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Requests without credentials that a view lets through (the schema), per client address."""

    scope = "anon"


class ScopedThrottle(_RatesFromSettings, throttling.SimpleRateThrottle):
    """The view's scope for this method, per user: `throttle_scopes = {"POST": JOBS}`."""

    def __init__(self):  # the scope, hence the rate, is known only once the view is
        pass

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, "throttle_scopes", {}).get(request.method, "")
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
