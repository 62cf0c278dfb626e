"""API throttles: a rate per user, and per scope (jobs, uploads, tokens) for the endpoints that cost a worker, a disk
or a credential. A refused request is a 429 in the error shape with Retry-After, and writes nothing. The counters
live in Redis, so every web process counts the same requests.

The suite runs with high rates (config/settings/test.py); each test lowers one with the `settings` fixture, which
the throttles read per request."""
import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from apps.generation.models import GenerationJob

pytestmark = pytest.mark.django_db

JOB = {"prompt": "Say hello.", "domain": "general", "max_tokens": 4}


@pytest.fixture
def rates(settings):
    def lower(**scopes: str) -> None:
        settings.PLUMBLINE_THROTTLE_RATES = {**getattr(settings, "PLUMBLINE_THROTTLE_RATES", {}), **scopes}

    return lower


def assert_throttled(resp, scope: str, period_s: int) -> None:
    assert resp.status_code == 429, resp.content
    body = resp.json()
    assert set(body) == {"detail", "code", "errors"} and body["code"] == "throttled" and body["errors"] == {}
    assert f"'{scope}' limit" in body["detail"]
    assert 0 < int(resp["Retry-After"]) <= period_s


def test_the_jobs_scope_is_shared_by_the_job_endpoints_and_refuses_without_writing(api_client_for, rates):
    rates(jobs="2/hour")
    analyst = api_client_for("analyst")
    assert analyst.post("/api/v1/jobs/", JOB, format="json").status_code == 202
    assert analyst.post("/api/v1/jobs/", JOB, format="json").status_code == 202
    third = analyst.post("/api/v1/jobs/", JOB, format="json")
    assert_throttled(third, "jobs", 3600)
    assert GenerationJob.objects.filter(owner=analyst.user).count() == 2
    # Another job endpoint counts against the same scope; reading is not in it; another user has their own count.
    assert_throttled(analyst.post("/api/v1/finance/reports/", {"company": 1}, format="json"), "jobs", 3600)
    assert analyst.get("/api/v1/jobs/").status_code == 200
    assert api_client_for("analyst").post("/api/v1/jobs/", JOB, format="json").status_code == 202


def test_the_user_rate_covers_every_request(api_client_for, rates):
    rates(user="3/minute")
    client = api_client_for("clinician")
    assert [client.get("/api/v1/jobs/").status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(client.get("/api/v1/jobs/"), "user", 60)


# Each endpoint that queues work or takes an upload, the role allowed to call it, and its scope. The throttle runs
# before the view, so an unknown id (404) or an empty body (400) still counts; the second call must be refused.
SCOPED = [
    ("analyst", "/api/v1/jobs/", "jobs"),
    ("analyst", "/api/v1/finance/reports/", "jobs"),
    ("analyst", "/api/v1/finance/reports/999999/sections/valuation/regenerate/", "jobs"),
    ("clinician", "/api/v1/medical/encounters/999999/triage/", "jobs"),
    ("clinician", "/api/v1/medical/encounters/999999/drafts/", "jobs"),
    ("clinician", "/api/v1/medical/drafts/999999/versions/", "jobs"),
    ("admin", "/api/v1/adapters/", "uploads"),
    ("analyst", "/api/v1/finance/companies/999999/statements/", "uploads"),
]


@pytest.mark.parametrize(("role", "url", "scope"), SCOPED)
def test_each_costly_endpoint_is_in_its_scope(api_client_for, rates, role, url, scope):
    rates(**{scope: "1/minute"})
    client = api_client_for(role)
    first = client.post(url, {}, format="multipart" if scope == "uploads" else "json")
    assert first.status_code not in (403, 429), first.content
    assert_throttled(client.post(url, {}, format="multipart" if scope == "uploads" else "json"), scope, 60)


def test_token_creation_has_its_own_scope(make_user, rates):
    rates(tokens="2/hour")
    client = APIClient()
    client.force_login(make_user("reviewer"))
    assert [client.post("/api/v1/auth/tokens/", {"name": f"bot-{i}"}, format="json").status_code
            for i in range(2)] == [201, 201]
    assert_throttled(client.post("/api/v1/auth/tokens/", {"name": "bot-3"}, format="json"), "tokens", 3600)
    assert client.get("/api/v1/auth/tokens/").json()["count"] == 2


def test_the_counters_are_in_redis_where_every_web_process_reads_them(api_client_for, rates):
    from django.core.cache.backends.redis import RedisCache

    rates(jobs="5/hour")
    client = api_client_for("analyst")
    for _ in range(2):
        assert client.post("/api/v1/jobs/", JOB, format="json").status_code == 202
    conf = django_settings.CACHES[django_settings.PLUMBLINE_THROTTLE_CACHE]
    # A cache of its own, on a new connection: what another gunicorn worker would see.
    other_process = RedisCache(conf["LOCATION"], {"KEY_PREFIX": conf["KEY_PREFIX"]})
    history = other_process.get(f"throttle_jobs_{client.user.pk}")
    assert history is not None and len(history) == 2
