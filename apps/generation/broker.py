"""What the broker still holds for the job task: the job ids of run_job messages waiting in the gpu queue or
delivered and not yet acknowledged (a running or a lost worker's). The stale-job sweep requeues only jobs
whose message is in neither, so a job that is merely waiting behind a backlog gets no second message."""
from __future__ import annotations

import base64
import json
import logging

from django.conf import settings

log = logging.getLogger(__name__)

RUN_JOB = "apps.generation.tasks.run_job"


def job_ids_held(queue: str = "gpu") -> set[int] | None:
    """The job ids the broker holds a run_job message for; None when the broker cannot be read this way (not
    Redis, or unreachable): the sweep then goes by age alone."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return None
    from kombu.transport.redis import Channel

    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            raw = []
            for pri in Channel.priority_steps:  # kombu keeps one list per priority step: "gpu", "gpu\x06\x163", ...
                raw += client.lrange(f"{queue}{Channel.sep}{pri}" if pri else queue, 0, -1)
            raw += [json.loads(v)[0] for v in client.hvals(Channel.unacked_key)]  # [message, exchange, key]
    except Exception:  # the broker is down: nothing can be enqueued now anyway
        log.warning("could not read the broker's messages", exc_info=True)
        return None
    held = set()
    for message in raw:
        message = json.loads(message) if isinstance(message, (bytes, str)) else message
        if message.get("headers", {}).get("task") != RUN_JOB:
            continue
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _ = json.loads(body)
        held.add(int(args[0] if args else kwargs["job_id"]))
    return held


def queue_depths(queues: tuple[str, ...] = ("gpu", "default")) -> dict[str, int | None]:
    """Messages waiting in each queue (every priority step; not those delivered and unacknowledged), for the
    monitoring page; None for each when the broker cannot be read this way."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return dict.fromkeys(queues)
    from kombu.transport.redis import Channel

    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            return {queue: sum(client.llen(f"{queue}{Channel.sep}{pri}" if pri else queue)
                               for pri in Channel.priority_steps) for queue in queues}
    except Exception:
        log.warning("could not read the broker's queue lengths", exc_info=True)
        return dict.fromkeys(queues)
