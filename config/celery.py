"""The Celery application: every setting lives in Django settings under CELERY_."""
import os

from celery import Celery
from celery.signals import worker_ready

# Production unless told otherwise (`make run` and the tests set theirs): a worker or beat started without
# DJANGO_SETTINGS_MODULE must not run with DEBUG and a public secret key. config/__init__.py imports this
# module first, so this default is also the one wsgi.py and asgi.py get.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("plumbline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _serve_worker_metrics(**_) -> None:
    """A worker's metrics port (PLUMBLINE_METRICS_PORT; off by default), served by its main process."""
    from apps.monitoring.metrics import worker_metrics_serve

    worker_metrics_serve()
