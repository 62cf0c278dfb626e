"""Schemathesis over the whole OpenAPI schema, as each role: no generated request may make a server error.

The real Django app is called through WSGI in this process, on the real PostgreSQL test database (the `world`
fixture's rows, inside the test's transaction). Bounded to stay under ~3 minutes on a 2-core machine: a few
derandomized examples per operation, in three passes (schema-valid data with generated ids, schema-valid data with
the ids of real objects, schema-violating data with real ids), no deadline, no shrinking."""
from __future__ import annotations

import time
from collections import Counter

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from apps.accounts.roles import ROLES
from tests.apps.core.openapi_check import openapi
from tests.apps.core.test_api_contract import world  # noqa: F401  (the fixture: one object of each kind)
from tests.apps.core.test_malformed_input import path_values

MAX_EXAMPLES = 4
PASSES = (("generated ids", GenerationMode.POSITIVE, False), ("real ids", GenerationMode.POSITIVE, True),
          ("schema-violating", GenerationMode.NEGATIVE, True))


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, keeping the test's connection (and so its transaction) across requests, as
    django.test.Client does: request_started/finished would otherwise close it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def run_operation(operation, *, app, headers: dict, path_parameters: dict | None, mode, statuses: list) -> str | None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case):
        statuses.append(case.call_and_validate(app=app, headers=headers, checks=[not_a_server_error]).status_code)

    try:
        check()
    except Unsatisfiable:  # nothing to break in schema-violating mode (an operation with only fixed ids)
        return None
    except Exception as exc:  # a check failure (or a transport error): report it with the operation
        return f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_no_generated_request_makes_a_server_error(world, role, wsgi_app):  # noqa: F811
    from apps.accounts.services import api_token_create

    caller = world["callers"][role]
    ids = {k: str(v) for k, v in path_values(world, caller.user).items()}
    headers = {"Authorization": f"Token {api_token_create(user=caller.user, name='schemathesis')}"}
    schema = schemathesis.openapi.from_dict(openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, len(operations)
    started, failures, statuses = time.monotonic(), [], []
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        for _, mode, real in PASSES:
            if mode == GenerationMode.NEGATIVE and not len(operation.body) and not len(operation.query):
                continue  # only its (fixed) ids to violate
            fixed = {n: ids[n] for n in names} if real and names else None
            if problem := run_operation(operation, app=wsgi_app, headers=headers, path_parameters=fixed, mode=mode,
                                         statuses=statuses):
                failures.append(problem)
    print(f"schemathesis as {role}: {len(operations)} operations, {len(statuses)} requests in "
          f"{time.monotonic() - started:.1f}s; statuses {dict(sorted(Counter(statuses).items()))}")
    assert not failures, "\n\n".join(failures)
    # the requests reached the views: some were answered, some refused (not all 401/403/404)
    assert any(200 <= s < 300 for s in statuses) and statuses.count(400) >= 10, Counter(statuses)
