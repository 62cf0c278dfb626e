"""Production: every secret from the environment, no default; HTTPS only."""
import os
from pathlib import Path

from .base import *  # noqa: F401,F403
from .base import BASE_DIR


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} must be set in production")
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
# Prometheus scrapes /metrics over the private network (platform/prometheus.yml), where no proxy adds HTTPS; the
# bearer token still guards it. Scrape through the TLS proxy instead where the network is not private.
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Abuse limits: throttle counters in Redis, shared by every gunicorn worker (never per-process memory).
CACHES["throttle"] = {  # noqa: F405
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": os.environ.get("PLUMBLINE_CACHE_URL") or CELERY_BROKER_URL,  # noqa: F405
    "KEY_PREFIX": "plumbline",
}

# Where `collectstatic` writes (the image: /app/staticfiles) and WhiteNoise serves from; the manifest storage
# of base.py needs this tree's staticfiles.json, else every page is a 500 (and /healthz a 503).
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
