"""The Celery application: every setting lives in Django settings under CELERY_."""
import os

from celery import Celery

# Production unless told otherwise (`make run` and the tests set theirs): a worker or beat started without
# DJANGO_SETTINGS_MODULE must not run with DEBUG and a public secret key. config/__init__.py imports this
# module first, so this default is also the one wsgi.py and asgi.py get.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("plumbline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
