"""Data for the company/import tests: teams, analysts in teams, companies (no tests here)."""
from __future__ import annotations

import uuid
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def team(name: str | None = None):
    from apps.accounts.models import Team

    return Team.objects.create(name=name or f"team-{uuid.uuid4().hex[:6]}")


def analyst(make_user, team_obj=None, role: str = "analyst"):
    user = make_user(role)
    if team_obj is not None:
        user.team = team_obj
        user.save(update_fields=["team"])
    return user


def token_client(user):
    from rest_framework.test import APIClient

    from apps.accounts.services import api_token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='tests')}")
    client.user = user
    return client


def company(user, name: str | None = None, currency: str = "USD", **kw):
    from apps.finance.services import company_create

    return company_create(user=user, name=name or f"Fictional Co {uuid.uuid4().hex[:4]}", currency=currency,
                          fictional=True, **kw)


def statement_rows(company_obj) -> dict[int, dict]:
    from apps.finance.line_items import LINE_ITEM_KEYS
    from apps.finance.models import FinancialStatement

    return {s.fiscal_year: {k: getattr(s, k) for k in LINE_ITEM_KEYS} | {"period_end": s.period_end, "source": s.source}
            for s in FinancialStatement.objects.filter(company=company_obj)}
