"""`make run`: the web server and two Celery workers together; Ctrl-C stops them all.

The gpu worker (queue `gpu`, threads) holds the model's Engine in a process of its own; checks, exports and the
periodic tasks (queue `default`, with beat embedded) run in a second process, so they never take the engine's
cores in the middle of a decode step.

The broker is Redis when one answers on localhost, else kombu's filesystem transport (no server needed).
"""
import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server on 127.0.0.1:8000, a gpu worker and a default-queue worker with beat."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr, **options):
        from django.conf import settings

        # Children inherit the broker chosen by the dev settings, so web and worker agree.
        env = {**os.environ, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
        broker = settings.CELERY_BROKER_URL
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu", "-n", "gpu@%h",
                 "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO"],
                env=env,
            ),
            subprocess.Popen(  # adapter evaluation: its own process, away from the gpu worker's Engine
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "eval", "-n", "eval@%h",
                 "--pool", "solo", "--loglevel", "INFO"],
                env=env,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default", "-n", "default@%h",
                 "--pool", "solo", "--loglevel", "INFO", "--beat",
                 "--schedule", str(settings.BASE_DIR / "var" / "celerybeat-schedule")],
                env=env,
            ),
            subprocess.Popen([sys.executable, "manage.py", "runserver", addr, "--noreload"], env=env),
        ]
        self.stdout.write(f"\nPlumbline is starting on http://{addr}/  (broker: {broker.split('://')[0]})")
        self.stdout.write("Press Ctrl-C to stop the web server and the worker.\n")

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.3)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        self.stdout.write("Stopped.")
