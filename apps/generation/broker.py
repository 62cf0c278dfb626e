"""What the broker still holds for the job task: the job ids of run_job messages waiting in the gpu queue or
delivered and not yet acknowledged (a running or a lost worker's). The stale-job sweep requeues only jobs
whose message is in neither, so a job that is merely waiting behind a backlog gets no second message. And how
many messages wait in each queue (the service metrics' queue depth)."""
from __future__ import annotations

import base64
import json
import logging

from django.conf import settings

log = logging.getLogger(__name__)

RUN_JOB = "apps.generation.tasks.run_job"


def _is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def _queue_keys(queue: str) -> list[str]:
    from kombu.transport.redis import Channel

    # kombu keeps one list per priority step: "gpu", "gpu\x06\x163", ...
    return [f"{queue}{Channel.sep}{pri}" if pri else queue for pri in Channel.priority_steps]


def queue_depths(queues: list[str]) -> tuple[dict[str, int], int] | None:
    """({queue: messages waiting}, messages delivered and not yet acknowledged, all queues): one LLEN per
    priority list and one HLEN, in one round trip. None when the broker cannot be read this way."""
    if not _is_redis():
        return None
    from kombu.transport.redis import Channel

    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            pipe = conn.default_channel.client.pipeline(transaction=False)
            for queue in queues:
                for key in _queue_keys(queue):
                    pipe.llen(key)
            pipe.hlen(Channel.unacked_key)
            counts = pipe.execute()
    except Exception:
        log.warning("could not read the broker's queue lengths", exc_info=True)
        return None
    per_queue, i = {}, 0
    for queue in queues:
        n = len(_queue_keys(queue))
        per_queue[queue] = sum(counts[i:i + n])
        i += n
    return per_queue, counts[-1]


def job_ids_held(queue: str = "gpu") -> set[int] | None:
    """The job ids the broker holds a run_job message for; None when the broker cannot be read this way (not
    Redis, or unreachable): the sweep then goes by age alone."""
    if not _is_redis():
        return None
    from kombu.transport.redis import Channel

    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            raw = []
            for key in _queue_keys(queue):
                raw += client.lrange(key, 0, -1)
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

