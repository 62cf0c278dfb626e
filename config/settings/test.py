"""`make test`: PostgreSQL and Redis over real connections."""
import os

from .base import *  # noqa: F401,F403
from .base import BASE_DIR, DATABASES

SECRET_KEY = "test-only-key-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
DATABASES["default"] = {
    **DATABASES["default"],
    "TEST": {"NAME": os.environ.get("PLUMBLINE_TEST_DB_NAME", "test_plumbline")},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PLUMBLINE_DATA_DIR = BASE_DIR / "var" / "test-cache"
