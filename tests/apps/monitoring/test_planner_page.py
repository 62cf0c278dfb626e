"""The capacity planner page (/monitoring/planner/): admins only, the design's matrix beside the predictions, one
plan from a GET form, and bad values answered 400 with the reason."""
from __future__ import annotations

import pytest
from django.test import Client

from modelcore import planner

URL = "/monitoring/planner/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_sees_the_matrix_and_the_hardware_table(make_user):
    client = _client(make_user("admin"))
    resp = client.get(URL)
    html = resp.content.decode()
    assert resp.status_code == 200
    assert html.count('data-testid="matrix-row"') == len(planner.source_matrix()) == 24
    assert "2 x A100 80GB NVLink, 350 tokens/s" in html and "not plausible" in html and "refused" in html
    assert 'data-testid="hardware-a100-40gb-pcie"' in html and 'data-testid="hardware-jetson-agx-orin-32gb"' in html
    assert 'data-testid="plan-result"' not in html  # nothing asked yet
    assert f'href="{URL}"' in client.get("/").content.decode()  # in the admin's navigation


@pytest.mark.django_db
def test_admin_plans_a_deployment(make_user):
    client = _client(make_user("admin"))
    resp = client.get(URL, {"model": "deepseek-llm-67b-base", "precision": "int4", "hardware": "a100-80gb-sxm",
                            "devices": "2", "scenario": "chat", "batch": "4"})
    assert resp.status_code == 200
    html = resp.content.decode()
    expected = planner.plan("deepseek-llm-67b-base", "int4", "a100-80gb-sxm", devices=2, scenario="chat", batch=4)
    assert 'data-testid="plan-result"' in html
    assert f"{expected.tokens_per_s_per_stream:.1f} tokens/s per stream" in html
    assert "<strong>fits</strong>" in html


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["analyst", "clinician", "reviewer"])
def test_others_are_forbidden(make_user, role):
    assert _client(make_user(role)).get(URL).status_code == 403
    assert Client().get(URL).status_code == 302  # anonymous: to the log-in page


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "reason"), [
    ({"hardware": "tpu-v5"}, "Select a valid choice. tpu-v5 is not one of the available choices."),
    ({"model": "../../etc/passwd"}, "Select a valid choice."),
    ({"devices": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"devices": "9" * 40}, "Ensure this value is less than or equal to 8."),
    ({"precision": "fp8", "hardware": "a100-40gb-pcie"}, "it has no FP8 tensor cores"),
    ({"batch": "8"}, "batch 8 is outside the chat scenario&#x27;s 1-4"),
    ({"hardware": "jetson-agx-orin-32gb", "devices": "2"}, "takes 1..1"),
])
def test_bad_values_answer_400_with_the_reason(make_user, params, reason):
    client = _client(make_user("admin"))
    query = {"model": "deepseek-llm-7b-base", "precision": "bf16", "hardware": "a100-80gb-sxm", "devices": "1",
             "scenario": "chat", **params}
    resp = client.get(URL, query)
    assert resp.status_code == 400
    html = resp.content.decode()
    assert reason in html and 'role="alert"' in html
    assert 'data-testid="plan-result"' not in html
