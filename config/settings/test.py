"""`make test`: PostgreSQL and Redis over real connections."""
import os

import dj_database_url

from .base import *  # noqa: F401,F403
from .base import BASE_DIR, env_int

SECRET_KEY = "test-only-key-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
DATABASES = {
    "default": {
        **dj_database_url.parse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plumbline")),
        "TEST": {"NAME": os.environ.get("PLUMBLINE_TEST_DB_NAME", "test_plumbline")},
    }
}
# Redis database 15 is the test suite's own; the suite empties it at the start. Under pytest-xdist each process
# (gw0, gw1, ...) gets a database of its own (15, 14, ...), so its Celery worker never takes another's jobs; its
# test database gets pytest-django's _gwN suffix.
_XDIST = os.environ.get("PYTEST_XDIST_WORKER", "")
_REDIS_DB = 15 - int(_XDIST[2:]) if _XDIST.startswith("gw") else 15
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{_REDIS_DB}")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PLUMBLINE_DATA_DIR = BASE_DIR / "var" / "test-cache"
# WhiteNoise serves files found by the finders here; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Abuse limits: throttle counters in the real Redis (the broker's database, under a prefix of this run's own,
# so an earlier run's counters never count); rates high enough for the suite's many jobs. Tests of throttling
# lower a rate with the `settings` fixture (apps/core/throttling.py reads the rates per request).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL,
                 "KEY_PREFIX": f"test-throttle-{os.urandom(6).hex()}"},
}
PLUMBLINE_THROTTLE_RATES = {scope: "100000/minute" for scope in ("user", "anon", "jobs", "uploads", "tokens")}

# No random consistency samples in the suite (they would add jobs to other tests' workers); the monitoring tests
# sample explicitly (share=1).
# tests compare a window with the first one (one test sets several reference windows)
PLUMBLINE_MONITORING_REFERENCE_WINDOWS = env_int("PLUMBLINE_MONITORING_REFERENCE_WINDOWS", 1)
PLUMBLINE_MONITORING_CONSISTENCY_SHARE = float(os.environ.get("PLUMBLINE_MONITORING_CONSISTENCY_SHARE", "0"))
