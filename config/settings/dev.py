"""`make run`: SQLite, and Redis when one answers on localhost, else a broker that needs no server."""
import os

from .base import *  # noqa: F401,F403
from .base import BASE_DIR, CELERY_BROKER_TRANSPORT_OPTIONS

(BASE_DIR / "var").mkdir(exist_ok=True)  # SQLite database, broker folder, model cache

DEBUG = True
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

def _redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.3) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# Every dev process (seed, web, worker) makes the same choice: Redis when one answers, else a folder.
if "CELERY_BROKER_URL" not in os.environ:
    CELERY_BROKER_URL = "redis://127.0.0.1:6379/0" if _redis_answers() else "filesystem://"
else:
    CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]

if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: messages are files in one folder shared by web and worker.
    _broker_dir = BASE_DIR / "var" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
    }
# WhiteNoise serves files found by the finders here; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
